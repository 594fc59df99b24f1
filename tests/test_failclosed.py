"""Fail-open holes on the policy and input side (issue 9, A.2, A.5, A.7): each test here
failed on the code before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, POLICIES, mlgate, one_error_line
from mlgate.errors import EngineError
from mlgate.policy import load_policy_dir
from mlgate.policydata import fill_defaults
from mlgate.runner import enforcement_for, evaluate, load_gate_input, make_engine

BLOCKED = EXAMPLES / "gate_input_blocked.json"


def policy_copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


# --------------------------------------------------------------------------- A.7


@pytest.mark.parametrize(
    "alias", ["production", "PRODUCTION", "prodúction", "PRODUCTİON", "publıc", "chámpion",
              "ｐｒｏｄｕｃｔｉｏｎ", "prod\u200buction"]
)
def test_an_alias_that_folds_to_a_protected_one_is_enforced(alias: str) -> None:
    assert enforcement_for(alias, "alias", load_policy_dir(POLICIES).config) == "deny"


@pytest.mark.parametrize("alias", ["staging", "candidate", "productions"])
def test_other_aliases_warn(alias: str) -> None:
    assert enforcement_for(alias, "alias", load_policy_dir(POLICIES).config) == "warn"


def test_an_engine_answering_warn_for_a_protected_target_is_an_engine_error(
    tmp_path: Path,
) -> None:
    # A stale or foreign policy set that says warn for everything: a real embedded
    # engine evaluating the bundled policies with the enforcement rule replaced.
    root = policy_copy(tmp_path)
    main = root / "main" / "main.rego"
    source = main.read_text()
    source = source.replace('default enforcement := "deny"', 'default enforcement := "warn"')
    source = source.replace('\tinput.request.enforcement == "warn"\n\tnot protected_target\n',
                            "\ttrue\n")
    main.write_text(source)
    policy_set = load_policy_dir(root)
    gate_input = load_gate_input(BLOCKED)
    with pytest.raises(EngineError, match="enforcement=warn.*makes it deny"):
        evaluate(gate_input, make_engine("embedded", policy_set), policy_set)


def test_the_bundled_policies_agree_with_python_on_enforcement() -> None:
    policy_set = load_policy_dir(POLICIES)
    engine = make_engine("embedded", policy_set)
    decision = evaluate(load_gate_input(BLOCKED), engine, policy_set)
    assert decision.enforcement == "deny" and not decision.allowed
    document = json.loads(BLOCKED.read_text())
    assert document["request"]["target"] == "production"


# --------------------------------------------------------------------------- A.2


def without_section(root: Path, section: str) -> None:
    path = root / "data.json"
    data = json.loads(path.read_text())
    del data["mlgate"]["config"][section]
    path.write_text(json.dumps(data, indent=2))


def test_a_policy_directory_without_data_json_is_refused(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    (root / "data.json").unlink()
    for args in (["policy", "check"], ["check", "--input", str(BLOCKED)]):
        line = one_error_line(mlgate(*args, "--policies", str(root)))
        assert f"{root}/data.json: not found" in line


@pytest.mark.parametrize("text", ["{}", '{"mlgate": {}}', '{"mlgate": {"config": []}}'])
def test_policy_data_without_a_config_object_is_refused(tmp_path: Path, text: str) -> None:
    root = policy_copy(tmp_path)
    (root / "data.json").write_text(text)
    for args in (["policy", "check"], ["check", "--input", str(BLOCKED)]):
        line = one_error_line(mlgate(*args, "--policies", str(root)))
        assert "data.json: mlgate.config must be an object" in line


@pytest.mark.parametrize(
    "section", ["scope", "filing", "assessment", "labeling", "data_manifest", "protected_aliases"]
)
def test_a_missing_section_takes_its_default_in_the_engine_too(
    tmp_path: Path, section: str
) -> None:
    # Before: Rego read data.mlgate.config as written, so without `scope` every version
    # was out of scope, and without a gate's section that gate passed.
    root = policy_copy(tmp_path)
    without_section(root, section)
    policy_set = load_policy_dir(root)
    defaults, _ = fill_defaults({}, policy_set.data_schema, "mlgate.config")
    assert policy_set.data["mlgate"]["config"][section] == defaults[section]
    assert policy_set.defaults_used == [f"mlgate.config.{section}"]
    run = mlgate("check", "--input", str(BLOCKED), "--policies", str(root), "-f", "json")
    assert run.exit_code == 1, run.stdout + run.stderr
    assert run.json()["in_scope"] is True and run.json()["enforcement"] == "deny"


def test_policy_check_names_every_key_left_to_its_default(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    without_section(root, "scope")
    path = root / "data.json"
    data = json.loads(path.read_text())
    del data["mlgate"]["config"]["assessment"]["max_age_days"]
    path.write_text(json.dumps(data))
    run = mlgate("policy", "check", "--policies", str(root))
    assert run.exit_code == 2
    assert (
        'data.json:1: mlgate.config.scope is missing; the engines use the default '
        '{"public_audiences": ["public"], "regions": ["CN"]}: write it out in data.json'
    ) in run.stdout
    assert "mlgate.config.assessment.max_age_days is missing; the engines use the default 365" in (
        run.stdout
    )


def test_the_bundled_policy_data_spells_out_every_key() -> None:
    from mlgate.policy import missing_config_keys

    assert missing_config_keys(load_policy_dir(POLICIES)) == []


def test_policy_push_uploads_the_complete_validated_config(tmp_path: Path) -> None:
    import requests

    from mlgate.engine.opa import push_policies
    from opa_testserver import OpaTestServer

    root = policy_copy(tmp_path)
    without_section(root, "scope")
    policy_set = load_policy_dir(root)
    with OpaTestServer() as double:
        push_policies(double.url, policy_set)
        pushed = requests.get(f"{double.url}/v1/data/mlgate/config", timeout=5).json()
    assert pushed["result"] == policy_set.data["mlgate"]["config"]
    assert pushed["result"]["scope"] == {"public_audiences": ["public"], "regions": ["CN"]}


def test_a_policy_set_changed_while_being_read_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A simulated concurrent writer (a deploy rewriting the directory): right after the
    # loader has read every file, data.json changes. The set returned must be the new
    # one, whole, not the old modules with a stale revision or a mix.
    import mlgate.policy as policy_module

    root = policy_copy(tmp_path)
    real_read = policy_module._read_files
    calls: list[int] = []

    def read_then_change(where: Path) -> dict[str, str]:
        files = real_read(where)
        if not calls:
            data = json.loads((root / "data.json").read_text())
            data["mlgate"]["config"]["assessment"]["max_age_days"] = 10
            (root / "data.json").write_text(json.dumps(data, indent=2) + "\n\n")
        calls.append(1)
        return files

    monkeypatch.setattr(policy_module, "_read_files", read_then_change)
    policy_set = load_policy_dir(root)
    assert len(calls) == 2
    assert policy_set.config.gate_setting("assessment", "max_age_days") == 10
    assert policy_set.data["mlgate"]["config"]["assessment"]["max_age_days"] == 10


def test_a_loaded_policy_set_does_not_change_when_data_json_is_deleted(tmp_path: Path) -> None:
    import threading

    root = policy_copy(tmp_path)
    policy_set = load_policy_dir(root)
    gate_input = load_gate_input(BLOCKED)
    before = evaluate(gate_input, make_engine("embedded", policy_set), policy_set)
    (root / "data.json").unlink()
    results = []
    # A new thread compiles its own engine (regorus engines stay on their thread): from
    # the set in memory, not from the directory.
    worker = threading.Thread(
        target=lambda: results.append(
            evaluate(gate_input, make_engine("embedded", policy_set), policy_set)
        )
    )
    worker.start()
    worker.join()
    assert results and results[0].allowed is False and before.allowed is False
    assert [g.status for g in results[0].gates] == [g.status for g in before.gates]


# --------------------------------------------------------------------------- A.5 (Python)

ALLOWED = EXAMPLES / "gate_input_allowed.json"


def _set(document: dict, path: str, value: object) -> None:
    node = document
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1]] = value


FORGERIES = [
    # (what is changed, value, the field the refusal must name)
    ("facts.regions", [], "field facts.regions"),
    ("facts.regions", ["cn"], "field facts.regions"),
    ("facts.regions", ["CN,SG"], "field facts.regions"),
    ("facts.audience", "research", "field facts.audience"),
    ("facts.modalities", [], "field facts.modalities"),
    ("facts.labeling.explicit", "on", "field facts.labeling.explicit"),
    ("facts.labeling.implicit", 1, "field facts.labeling.implicit"),
    ("facts.public_opinion", "yes", "field facts.public_opinion"),
    ("facts.labeling.explicit", 1.0, "field facts.labeling.explicit"),
    ("facts.assessment.date", "2026-06-02", "field facts.assessment.date"),
    ("facts.assessment.date_ns", 1780272000000000001, "field facts.assessment.date_ns"),
    ("now", "garbage", "field now"),
    ("now_ns", 1, "field now"),
    ("now_ns", 10**19, "field now_ns"),
    ("now", "2026-11-29T12:00:00+00:00", "field now"),
    ("waivers", [{"id": "W", "codes": ["filing.x"], "expires": "20991231"}], "field waivers.0"),
    ("manifest.content", None, "field manifest.content"),
    ("manifest.digest_computed", "x", "field manifest.digest_computed"),
    ("manifest.digest_computed", None, "field manifest.digest_computed"),
    ("manifest.digest_tagged", "0" * 64, "field manifest.digest_tagged"),
    ("manifest.schema_errors", ["datasets: too short"], "field manifest.schema_errors"),
    ("manifest.content.labeling.used", "true", "field manifest.schema_errors"),
    ("manifest.attached", False, "field manifest.attached"),
    ("request.enforcement", "warn", "field request.enforcement"),
]


@pytest.mark.parametrize(("path", "value", "field"), FORGERIES, ids=lambda x: str(x)[:30])
def test_check_input_refuses_a_document_contradicting_its_raw_material(
    tmp_path: Path, path: str, value: object, field: str
) -> None:
    document = json.loads(ALLOWED.read_text())
    _set(document, path, value)
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    line = one_error_line(mlgate("check", "--input", str(forged)))
    assert str(forged) in line or field == "field request.enforcement"
    assert field in line


def test_digests_equal_but_not_hex_are_refused(tmp_path: Path) -> None:
    document = json.loads(ALLOWED.read_text())
    document["tags"]["compliance.data_manifest.sha256"] = "x"
    from mlgate.facts import parse_facts
    from mlgate.policy import bundled_declarations

    facts, _ = parse_facts(document["tags"], bundled_declarations())
    document["facts"] = facts
    document["manifest"]["digest_tagged"] = document["manifest"]["digest_computed"] = "x"
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    line = one_error_line(mlgate("check", "--input", str(forged)))
    assert "field manifest.digest_tagged" in line


def test_an_expired_waiver_in_the_document_is_refused(tmp_path: Path) -> None:
    document = json.loads(ALLOWED.read_text())
    document["waivers"] = [
        {"id": "W-1", "codes": ["filing.not_completed"], "expires": "2020-01-31"}
    ]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    line = one_error_line(mlgate("check", "--input", str(forged)))
    assert "field waivers.0.expires: waiver W-1 expired on 2020-01-31" in line


def test_a_consistent_document_with_an_active_waiver_is_evaluated(tmp_path: Path) -> None:
    document = json.loads(BLOCKED.read_text())
    document["waivers"] = [
        {"id": "W-1", "codes": ["filing.not_completed", "labeling.implicit_disabled"],
         "expires": "2099-01-31"}
    ]
    path = tmp_path / "waived.json"
    path.write_text(json.dumps(document))
    run = mlgate("check", "--input", str(path), "-f", "json")
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.json()["waivers_applied"] == ["W-1"]


def test_the_examples_are_consistent() -> None:
    from mlgate.runner import derived_contradictions

    for path in (ALLOWED, BLOCKED):
        assert derived_contradictions(load_gate_input(path)) == []


def test_a_waiver_for_ill_formed_input_is_refused(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    (root / "waivers.json").write_text(json.dumps({"waivers": [{
        "id": "W-1", "model": "*", "versions": "*", "codes": ["filing.input_invalid"],
        "justification": "x", "approver": "y", "ticket": "z", "expires": "2099-01-01",
    }]}))
    line = one_error_line(mlgate("policy", "check", "--policies", str(root)))
    assert "filing.input_invalid: ill-formed input cannot be waived" in line


@pytest.mark.parametrize("section", ["scope", "filing", "assessment", "labeling", "data_manifest"])
def test_an_opa_server_holding_partial_policy_data_blocks(section: str) -> None:
    # Data put on the server by hand (not `mlgate policy push`, which completes it): the
    # policies themselves must fail the gate whose settings are missing. Before, a
    # missing `scope` put every version out of scope and a missing gate section passed.
    import dataclasses

    from mlgate.engine.opa import OpaEngine
    from opa_testserver import OpaTestServer

    policy_set = load_policy_dir(POLICIES)
    data = json.loads(json.dumps(policy_set.data))
    del data["mlgate"]["config"][section]
    partial = dataclasses.replace(policy_set, data=data)
    with OpaTestServer(partial) as double:
        engine = OpaEngine(double.url)
        decision = evaluate(load_gate_input(ALLOWED), engine, policy_set)
    gate = next(g for g in decision.gates if g.id == section)
    assert decision.allowed is False
    assert gate.status == "fail"
    assert [v.code for v in gate.violations] == [f"{section}.input_invalid"]
    assert f"data.mlgate.config.{section}" in gate.violations[0].message
