"""The policy set declares its gates (issue 17, item 1): main.rego's ``required_gates``
array is the gate list, its order the decision's; Python reads it from the policies,
and a miswired set is refused by ``policy check`` and before any decision (exit 2)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures_opa import require_opa_golib
from helpers import EXAMPLES, POLICIES, git, mlgate, one_error_line, policy_repo
from mlgate.engine.base import Engine
from mlgate.errors import EngineError, PolicyError
from mlgate.policy import PolicySet, load_policy_dir
from mlgate.policygates import declared_gates, wiring_errors
from mlgate.runner import build_decision, evaluate, load_gate_input, make_engine
from opa_testserver import OpaTestServer

SHIPPED = (
    "scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", "service",
    "attestation",
)
MAIN = "main/main.rego"
WIRED = (
    '["scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", "service", '
    '"attestation"]'
)

COMPLAINTS = """# METADATA
# title: Complaints channel (Art. 15)
# description: The service has a channel for complaints and reports.
# related_resources:
#   - ref: https://www.cac.gov.cn/2023-07/13/c_1690898327029107.htm
#     description: Interim Measures for Generative AI Services, Art. 15
# custom:
#   short_name: complaints
#   failure_msg: No complaints channel is declared
#   solution: Set compliance.complaints_channel on the model version.
#   severity: medium
package mlgate.gates.complaints

import data.mlgate.lib

# METADATA
# title: Complaints channel missing
# description: The compliance.complaints_channel tag is absent.
# custom:
#   short_name: channel_missing
#   failure_msg: The tag compliance.complaints_channel is missing
#   solution: Set compliance.complaints_channel on the model version.
#   severity: medium
violations contains {"code": "complaints.channel_missing", "params": {}} if {
	not input.tags["compliance.complaints_channel"]
}

result := lib.gate_result(lib.gates_apply, violations)
"""


def copy_policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def rewire(root: Path, gates: str) -> None:
    main = root / MAIN
    text = main.read_text(encoding="utf-8")
    assert text.count(f"required_gates := {WIRED}") == 1
    main.write_text(text.replace(f"required_gates := {WIRED}", f"required_gates := {gates}"))


def line_of(root: Path, path: str, needle: str) -> int:
    lines = (root / path).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if needle in line)


def add_complaints(root: Path, *, wired: bool = True) -> None:
    (root / "gates" / "complaints").mkdir()
    (root / "gates" / "complaints" / "complaints.rego").write_text(COMPLAINTS)
    if wired:
        rewire(root, WIRED.replace('"filing", ', '"filing", "complaints", ', 1))


def decide_on(engine_name: str, policy_set: PolicySet, example: str = "allowed") -> list[str]:
    gate_input = load_gate_input(EXAMPLES / f"gate_input_{example}.json")
    with engine_for(engine_name, policy_set) as engine:
        decision = evaluate(gate_input, engine, policy_set)
    return [f"{g.id}:{g.status}" for g in decision.gates]


@contextmanager
def engine_for(name: str, policy_set: PolicySet) -> Iterator[Engine]:
    """The named engine over ``policy_set``: embedded (regorus), or opa over HTTP to the
    OPA test server holding the set (OPA's own Go library compiling and deciding)."""
    if name == "embedded":
        yield make_engine("embedded", policy_set)
        return
    require_opa_golib()
    with OpaTestServer(policy_set) as server:
        yield make_engine("opa", policy_set, opa_url=server.url)


ENGINES = ["embedded", "opa"]


# --------------------------------------------------------------------------- the list


def test_the_shipped_gate_list_is_read_from_main_rego() -> None:
    policy_set = load_policy_dir(POLICIES)
    assert policy_set.gate_ids == SHIPPED
    assert policy_set.wiring_errors == ()
    assert set(policy_set.gate_meta) == set(SHIPPED)


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_new_gate_decides_in_its_wired_place(tmp_path: Path, engine_name: str) -> None:
    root = copy_policies(tmp_path)
    add_complaints(root)
    policy_set = load_policy_dir(root)
    order = ("scope", "filing", "complaints", "assessment", "labeling", "data_manifest",
             "evaluation", "service", "attestation")
    assert policy_set.gate_ids == order
    assert policy_set.gate_meta["complaints"].title == "Complaints channel (Art. 15)"
    statuses = decide_on(engine_name, policy_set)
    assert [s.split(":")[0] for s in statuses] == list(order)
    assert "complaints:fail" in statuses  # the example carries no complaints channel
    # evaluation, service and attestation ship switched off: not_applicable; the others pass.
    off = ("evaluation", "service", "attestation")
    assert [s for s in statuses if s != "complaints:fail"] == [
        f"{g}:pass" if g not in off else f"{g}:not_applicable" for g in SHIPPED
    ]


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_gate_removed_with_its_package_decides_without_it(
    tmp_path: Path, engine_name: str
) -> None:
    root = copy_policies(tmp_path)
    rewire(root, '["scope", "filing", "assessment", "data_manifest", "evaluation", "service", '
                 '"attestation"]')
    shutil.rmtree(root / "gates" / "labeling")
    # The gate goes with its policy data: a section no gate declares is refused.
    data = json.loads((root / "data.json").read_text())
    del data["mlgate"]["config"]["labeling"]
    (root / "data.json").write_text(json.dumps(data))
    policy_set = load_policy_dir(root)
    statuses = decide_on(engine_name, policy_set)
    assert statuses == [
        "scope:pass", "filing:pass", "assessment:pass", "data_manifest:pass",
        "evaluation:not_applicable", "service:not_applicable", "attestation:not_applicable",
    ]
    blocked = decide_on(engine_name, policy_set, "blocked")
    assert [s.split(":")[0] for s in blocked] == [
        "scope", "filing", "assessment", "data_manifest", "evaluation", "service", "attestation"
    ]


def test_each_policy_set_decides_with_its_own_list(tmp_path: Path) -> None:
    shipped = load_policy_dir(POLICIES)
    more_root = copy_policies(tmp_path)
    add_complaints(more_root)
    more = load_policy_dir(more_root)
    assert len(decide_on("embedded", shipped)) == len(SHIPPED)
    assert len(decide_on("embedded", more)) == len(SHIPPED) + 1
    assert len(decide_on("embedded", shipped)) == len(SHIPPED)


def test_two_git_revisions_each_decide_with_their_own_list(tmp_path: Path) -> None:
    # policy impact's two sides: the old revision must not be judged by the new list.
    from mlgate.gitpolicy import load_policy_at

    repo = policy_repo(tmp_path)
    add_complaints(repo / "policies")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "complaints gate")
    base = load_policy_at("HEAD~1", repo / "policies")
    head = load_policy_at("HEAD", repo / "policies")
    assert base.gate_ids == SHIPPED
    assert head.gate_ids == ("scope", "filing", "complaints", *SHIPPED[2:])
    assert [s.split(":")[0] for s in decide_on("embedded", base)] == list(SHIPPED)
    assert [s.split(":")[0] for s in decide_on("embedded", head)] == list(head.gate_ids)


# --------------------------------------------------------------------------- fail closed


@pytest.mark.parametrize("engine_name", ENGINES)
def test_a_wired_gate_whose_result_is_undefined_blocks(tmp_path: Path, engine_name: str) -> None:
    root = copy_policies(tmp_path)
    add_complaints(root)
    path = root / "gates" / "complaints" / "complaints.rego"
    text = path.read_text()
    path.write_text(
        text.replace(
            "result := lib.gate_result(lib.gates_apply, violations)",
            "result := lib.gate_result(lib.gates_apply, violations) if false",
        )
    )
    policy_set = load_policy_dir(root)
    gate_input = load_gate_input(EXAMPLES / "gate_input_allowed.json")
    undefined = f"{root}.*leaves gate 'complaints' undefined"
    with engine_for(engine_name, policy_set) as engine, pytest.raises(EngineError, match=undefined):
        evaluate(gate_input, engine, policy_set)


def test_build_decision_refuses_a_raw_decision_without_a_wired_gate() -> None:
    policy_set = load_policy_dir(POLICIES)
    gate_input = load_gate_input(EXAMPLES / "gate_input_allowed.json")
    engine = make_engine("embedded", policy_set)
    from mlgate.runner import serialise

    document, text, _ = serialise(gate_input)
    raw = engine.evaluate(document, text)
    build_decision(gate_input, raw, policy_set, engine_name="embedded", revision="r")
    for gate_id in SHIPPED:
        partial = {**raw, "gates": {k: v for k, v in raw["gates"].items() if k != gate_id}}
        with pytest.raises(EngineError, match=f"leaves gate '{gate_id}' undefined"):
            build_decision(gate_input, partial, policy_set, engine_name="embedded", revision="r")


def test_no_engine_is_made_on_a_miswired_set(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    add_complaints(root, wired=False)
    policy_set = load_policy_dir(root)
    with pytest.raises(PolicyError, match=f"^{root}: the gates are miswired: .*'complaints'"):
        make_engine("embedded", policy_set)
    run = mlgate(
        "check", "--input", str(EXAMPLES / "gate_input_allowed.json"), "--policies", str(root)
    )
    assert "gate 'complaints' is not wired" in one_error_line(run)


# --------------------------------------------------------------------------- policy check


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield copy_policies(tmp_path)


def check_error(root: Path) -> str:
    return one_error_line(mlgate("policy", "check", "--policies", str(root)))


def test_policy_check_passes_a_clean_set(root: Path) -> None:
    run = mlgate("policy", "check", "--policies", str(root))
    assert run.exit_code == 0, run.stdout + run.stderr


def test_policy_check_passes_a_wired_new_gate(root: Path) -> None:
    add_complaints(root)
    run = mlgate("policy", "check", "--policies", str(root))
    assert run.exit_code == 0, run.stdout + run.stderr


def test_policy_check_refuses_an_unwired_gate(root: Path) -> None:
    add_complaints(root, wired=False)
    main_line = line_of(root, MAIN, "required_gates :=")
    pkg_line = line_of(root, "gates/complaints/complaints.rego", "package ")
    assert check_error(root) == (
        f"mlgate: error: {root}: the gates are miswired: gates/complaints/complaints.rego:"
        f"{pkg_line}: gate 'complaints' is not wired: add it to required_gates in "
        f"{MAIN}:{main_line}"
    )


def test_policy_check_refuses_a_wired_gate_without_package(root: Path) -> None:
    rewire(root, WIRED.replace('"labeling"', '"labeling", "complaints"'))
    line = line_of(root, MAIN, "required_gates :=")
    assert (
        f"{MAIN}:{line}: gate 'complaints' is wired in required_gates but no module "
        "declares package mlgate.gates.complaints"
    ) in check_error(root)


def test_policy_check_refuses_a_duplicate_id(root: Path) -> None:
    rewire(root, WIRED.replace('"filing"', '"filing",\n\t"filing"'))
    line = line_of(root, MAIN, '\t"filing", "assessment"')
    assert f"{MAIN}:{line}: required_gates lists gate 'filing' twice" in check_error(root)


@pytest.mark.parametrize("bad", ["Filing", "9lives", "data-manifest", "", "a.b"])
def test_policy_check_refuses_a_malformed_id(root: Path, bad: str) -> None:
    rewire(root, WIRED.replace('"labeling"', f'"labeling", "{bad}"'))
    line = line_of(root, MAIN, "required_gates :=")
    assert f"{MAIN}:{line}: required_gates lists {bad!r}, which is not a gate id" in check_error(
        root
    )


@pytest.mark.parametrize(
    "value",
    [
        '{"scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", "service"}',
        '["scope", "filing", "assessment", "labeling", "data_manifest", concat("", ["s", "e"])]',
        '["scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", '
        '"service"] if true',
    ],
)
def test_required_gates_must_be_an_array_literal_of_strings(root: Path, value: str) -> None:
    rewire(root, value)
    line = line_of(root, MAIN, "required_gates :=")
    assert f"{MAIN}:{line}: required_gates must be an array literal" in check_error(root)
    run = mlgate(
        "check", "--input", str(EXAMPLES / "gate_input_allowed.json"), "--policies", str(root)
    )
    assert f"{MAIN}:{line}: required_gates must be an array literal" in one_error_line(run)


def test_required_gates_defined_twice_is_refused(root: Path) -> None:
    main = root / MAIN
    main.write_text(main.read_text() + '\nrequired_gates := ["scope"]\n')
    assert "required_gates is defined more than once" in check_error(root)


# --------------------------------------------------------------------------- property


GATE_NAMES = st.sampled_from(["scope", "filing", "complaints", "a_1", "Bad", "x-y", "9z", ""])


def _module(gate_id: str) -> str:
    return f"package mlgate.gates.{gate_id}\n\nresult := {{}}\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    wired=st.lists(GATE_NAMES, max_size=6),
    packages=st.sets(st.sampled_from(["scope", "filing", "complaints", "a_1"]), max_size=4),
)
def test_wiring_errors_match_the_contract(wired: list[str], packages: set[str]) -> None:
    """Oracle from the contract: an error per malformed id, per repeat of an id, per
    well-formed wired id without its package, and per package not wired; none else."""
    literal = "[" + ", ".join(f'"{g}"' for g in wired) + "]"
    modules = {MAIN: f"package mlgate.main\n\nrequired_gates := {literal}\n"}
    modules.update({f"gates/{p}/{p}.rego": _module(p) for p in packages})
    assert declared_gates(modules, "r").ids == tuple(wired)
    errors = wiring_errors(modules, "r")
    expected: list[str] = []
    seen: set[str] = set()
    for gate_id in wired:
        if not gate_id or not gate_id[0].isalpha() or not gate_id.islower() or "-" in gate_id:
            expected.append(f"lists {gate_id!r}, which is not a gate id")
        elif gate_id in seen:
            expected.append(f"lists gate '{gate_id}' twice")
        elif gate_id not in packages:
            expected.append(f"gate '{gate_id}' is wired in required_gates but no module")
        seen.add(gate_id)
    for p in sorted(packages - set(wired)):
        expected.append(f"gate '{p}' is not wired")
    assert len(errors) == len(expected), errors
    for error, want in zip(errors, expected, strict=True):
        assert want in error
        assert error.startswith(("main/main.rego:3: ", "gates/"))
