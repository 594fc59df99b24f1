"""``mlgate policy check`` on policies that compile but decide wrongly (issue 17 item 6),
and Rego read from regorus's AST (issue 11): each finding triggered by a small module
and cleared by its corrected twin, on the real policy set with real regorus (and OPA's Go
library where it can confirm what the lint claims)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, create_model

from fixtures_opa import require_opa_golib
from helpers import POLICIES, mlgate
from mlgate.engine.regoast import Finding
from mlgate.errors import PolicyError
from mlgate.metadata import parse_annotations
from mlgate.models import GateInput
from mlgate.policy import load_policy_dir
from mlgate.policylint import check_policy_set
from mlgate.regolint import _schema_problem, gate_input_schema
from mlgate.regosource import parse_module
from mlgate.tags import facts_model

CASE = "gates/filing/lint_case.rego"
HEADER = "package mlgate.gates.filing\n\nimport data.mlgate.lib\n\n"


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def findings(policies: Path, body: str, path: str = CASE) -> list[Finding]:
    """The findings of the set with ``body`` added (after HEADER) as module ``path`` (a
    second module of the filing gate: its package METADATA is filing.rego's)."""
    (policies / path).write_text(HEADER + body)
    found = check_policy_set(load_policy_dir(policies))
    return [f for f in found if f.file == path]


def messages(policies: Path, body: str) -> list[str]:
    return [str(f) for f in findings(policies, body)]


def line_of(policies: Path, text: str, path: str = CASE) -> int:
    return (policies / path).read_text().splitlines().index(text) + 1


def test_shipped_policies_have_no_finding_not_even_a_warning() -> None:
    assert check_policy_set(load_policy_dir(POLICIES)) == []


# --------------------------------------------------------------------------- AST reading


def test_code_literal_and_params_are_read_wherever_the_head_writes_them() -> None:
    module = parse_module(
        "m.rego",
        'package p\n\nviolations contains {\n\t"params": {"a": 1, "b": x},\n'
        '\t"code": "p.split_head",\n} if {\n\tx := 1\n}\n\n'
        'violations contains lib.violation("p.by_call", {"c": 2}) if true\n',
    )
    assert module is not None
    rules = {r.code: r for r in module.violations}
    assert rules["p.split_head"].params == ("a", "b")
    assert rules["p.split_head"].code_line == 5 and rules["p.split_head"].line == 3
    assert rules["p.by_call"].params == ("c",)


def test_violation_codes_of_the_shipped_set_come_with_their_place() -> None:
    codes = load_policy_dir(POLICIES).violation_codes()
    file, line = codes["filing.status_missing"]
    source = (POLICIES / file).read_text().splitlines()
    assert '"filing.status_missing"' in source[line - 1]
    assert len(codes) == len(load_policy_dir(POLICIES).violation_meta)


def test_annotations_attach_to_the_rule_right_below_across_a_multi_line_head() -> None:
    source = (
        "# METADATA\n# title: p\n# description: d\npackage p\n\n"
        "# METADATA\n# title: t\n# custom:\n#   failure_msg: m {a}\n"
        'violations contains {\n\t"code": "p.x",\n\t"params": {"a": 1},\n} if true\n'
    )
    anns = parse_annotations("m.rego", source)
    assert [(a.scope, a.line, a.code) for a in anns] == [("package", 1, None), ("rule", 6, "p.x")]


# --------------------------------------------------------------------------- unbound keys

UNBOUND = 'flagged if {\n\tlib.config.scope.public_audiences[complaints_tagg] == "public"\n}\n'
BOUND = (
    "flagged if {\n\tsome complaints_tag\n"
    '\tlib.config.scope.public_audiences[complaints_tag] == "public"\n}\n\n'
    'also if {\n\tlib.config.scope.public_audiences[_] == "public"\n}\n\n'
    "f(i) := lib.config.scope.public_audiences[i]\n\n"
    'g if {\n\tk := 0\n\tlib.config.scope.public_audiences[k] == "public"\n}\n\n'
    'h if {\n\tsome [a, _] in [[0, 1]]\n\tlib.config.scope.public_audiences[a] == "public"\n}\n'
)


def test_an_unbound_key_name_is_an_error(policies: Path) -> None:
    found = messages(policies, UNBOUND)
    line = line_of(policies, '\tlib.config.scope.public_audiences[complaints_tagg] == "public"')
    assert found == [
        f"{CASE}:{line}: complaints_tagg is used as a key but bound nowhere: Rego iterates "
        "over every key instead (bind it, or declare `some complaints_tagg` if a loop is "
        "meant)"
    ]


def test_bound_keys_some_wildcards_arguments_and_patterns_are_clean(policies: Path) -> None:
    assert messages(policies, BOUND) == []


def test_opa_confirms_an_unbound_key_iterates() -> None:
    """What the lint claims: the misspelt name matches any key, so the rule holds for a
    document with no key of that name at all."""
    require_opa_golib()
    from mlgate.engine import golib

    engine = golib.compile_modules(
        {"p.rego": 'package p\n\nhit if input.tags[complaints_tagg] == "x"\n'}
    )
    try:
        rows = engine.eval_query('x = data.p.hit with input as {"tags": {"other": "x"}}')
    finally:
        engine.close()
    assert rows == [{"x": True}]


# --------------------------------------------------------------------------- references


def test_a_misspelt_input_field_is_an_error_with_a_suggestion(policies: Path) -> None:
    found = messages(policies, 'late if {\n\tinput.facts.filing.staus == "pending"\n}\n')
    assert len(found) == 1
    assert found[0].endswith(
        "input.facts.filing.staus: the gate input has no field staus; "
        "did you mean input.facts.filing.status?"
    )


def test_input_fields_through_aliases_are_checked(policies: Path) -> None:
    body = (
        "a if lib.facts.labeling.explicitt == true\n\nb if {\n\tf := input.facts\n"
        '\tf.assesment.status == "passed"\n}\n'
    )
    found = messages(policies, body)
    assert any("input.facts.labeling.explicitt" in m and "explicit?" in m for m in found)
    assert any("input.facts.assesment" in m and "input.facts.assessment?" in m for m in found)


def test_existing_input_fields_are_clean(policies: Path) -> None:
    body = (
        'a if input.facts.filing.status == "pending"\n\nb if lib.facts.labeling.explicit\n\n'
        'c if input.facts.errors[0].tag == "x"\n\nd if input.manifest.content.datasets\n'
    )
    assert messages(policies, body) == []


def test_a_policy_data_key_the_data_lacks_is_an_error(policies: Path) -> None:
    found = messages(policies, "x if lib.config.filing.only_public_opinon\n")
    assert found and found[0].endswith(
        "data.mlgate.config.filing.only_public_opinon: the policy data has no key "
        "only_public_opinon; did you mean data.mlgate.config.filing.only_public_opinion?"
    )
    assert messages(policies, "x if data.mlgate.config.filing.only_public_opinion\n") == []


# --------------------------------------------------------------------------- builtins


@pytest.mark.parametrize(
    "call",
    [
        'http.send({"method": "GET", "url": "http://x"})',
        "time.now_ns()",
        'rand.intn("k", 10)',
        'uuid.rfc4122("k")',
        "opa.runtime()",
        'net.lookup_ip_addr("example.com")',
    ],
)
def test_impure_builtins_are_errors(policies: Path, call: str) -> None:
    found = messages(policies, f"x if {{\n\tfalse\n\ty := {call}\n\ty\n}}\n")
    name = call.split("(")[0]
    assert any(f"{name} is impure or non-deterministic" in m for m in found), found


def test_pure_time_builtins_are_clean(policies: Path) -> None:
    body = 'x if time.parse_rfc3339_ns("2026-01-01T00:00:00Z") < input.now_ns\n'
    assert messages(policies, body) == []


def test_unknown_functions_get_a_did_you_mean(policies: Path) -> None:
    found = messages(policies, 'x if trim_spaces(" a ") == "a"\n\ny := lib.gate_reslt(true, [])\n')
    assert any("function trim_spaces" in m and "did you mean trim_space?" in m for m in found)
    assert any(
        "undefined function lib.gate_reslt; did you mean lib.gate_result?" in m for m in found
    )


# --------------------------------------------------------------------------- METADATA

RULE_META = (
    "# METADATA\n# title: T\n# description: D\n# custom:\n#   short_name: lint_case\n"
    "#   failure_msg: {msg}\n#   solution: S\n#   severity: high\n"
)


def violation(msg: str, params: str) -> str:
    return RULE_META.format(msg=msg) + (
        f'violations contains {{"code": "filing.lint_case", "params": {params}}} if false\n'
    )


def test_a_placeholder_the_params_lack_is_an_error(policies: Path) -> None:
    found = messages(policies, violation('"{status} and {id}"', '{"status": 1}'))
    assert len(found) == 1
    assert "failure_msg of filing.lint_case uses {id} but its params have no id" in found[0]


def test_placeholders_all_in_the_params_are_clean(policies: Path) -> None:
    assert messages(policies, violation('"{status} and {id}"', '{"status": 1, "id": 2}')) == []


def test_params_no_text_uses_are_a_warning_that_does_not_fail_the_check(
    policies: Path,
) -> None:
    found = findings(policies, violation('"no placeholder"', '{"spare": 1}'))
    assert [(f.severity, f.message) for f in found] == [
        ("warning", "params spare of filing.lint_case is used by no failure_msg or solution")
    ]
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 0, run.stdout
    assert ": warning: params spare" in run.stdout


def test_an_orphaned_metadata_block_is_an_error(policies: Path) -> None:
    body = RULE_META.format(msg="M") + "\nx := 1\n"
    found = messages(policies, body)
    line = line_of(policies, "# METADATA")
    assert f"{CASE}:{line}: METADATA block annotates nothing" in found[0]
    assert messages(policies, RULE_META.format(msg="M") + "x := 1\n") == []


def test_metadata_yaml_errors_name_the_file_line(policies: Path) -> None:
    body = "# METADATA\n# title: T\n# description: [unclosed\nx := 1\n"
    found = messages(policies, body)
    line = line_of(policies, "# description: [unclosed")
    assert len(found) == 1 and found[0].startswith(f"{CASE}:{line + 1}: METADATA is not valid")
    with pytest.raises(PolicyError, match=rf"^{CASE}:{line + 1}: METADATA is not valid YAML"):
        load_policy_dir(policies).annotations  # noqa: B018


def test_package_metadata_needs_only_title_and_description(policies: Path) -> None:
    path = policies / "lib" / "extra.rego"
    path.write_text("# METADATA\n# title: Extra\n# description: D\npackage mlgate.extra\n")
    assert [f for f in check_policy_set(load_policy_dir(policies)) if "extra" in f.file] == []
    path.write_text("# METADATA\n# title: Extra\npackage mlgate.extra\n")
    found = [str(f) for f in check_policy_set(load_policy_dir(policies)) if "extra" in f.file]
    assert found == ["lib/extra.rego:1: METADATA is missing description"]


# --------------------------------------------------------------------------- property


def _fields(model: Any) -> dict[str, Any] | None:
    """The contract's fields at a level: a pydantic model's fields (Optional unwrapped),
    None when the level is free-form (a dict), a list or not an object."""
    if get_origin(model) in (list, dict):
        return None
    for arg in (model, *get_args(model)):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return {name: info.annotation for name, info in arg.model_fields.items()}
    return None


def _real_paths(model: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    fields = _fields(model)
    if fields is None:
        return [prefix] if prefix else []
    paths = [prefix] if prefix else []
    for name, annotation in fields.items():
        if get_origin(annotation) in (list, dict):
            paths.append((*prefix, name))
        else:
            paths += _real_paths(annotation, (*prefix, name))
    return paths


# The contract's gate input with the facts the bundled policies declare (mlgate.tags).
BUNDLED = load_policy_dir(POLICIES)
CONTRACT = create_model(
    "GateInput", __base__=GateInput, facts=(facts_model(BUNDLED.tag_declarations), ...)
)
REAL = _real_paths(CONTRACT)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(REAL),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12),
)
def test_an_input_path_is_refused_exactly_when_the_contract_lacks_it(
    real: tuple[str, ...], extra: str
) -> None:
    """Oracle: the pydantic models of the gate input (the contract), walked here without
    the JSON schema; a path one segment past a real one exists iff that level is a model
    with such a field, or free-form."""
    schema = gate_input_schema(BUNDLED)
    assert _schema_problem(["input", *real], schema) is None
    parent: Any = CONTRACT
    for name in real:
        fields = _fields(parent)
        parent = fields[name] if fields else None
    fields = _fields(parent)
    if fields is None:
        return  # a free-form or scalar level: nothing to check there
    problem = _schema_problem(["input", *real, extra], schema)
    assert (problem is None) == (extra in fields), (real, extra, problem)


# --------------------------------------------------------------------------- codes


def test_a_violation_without_a_code_literal_is_an_error(policies: Path) -> None:
    body = 'violations contains v if {\n\tv := {"code": "filing.x", "params": {}}\n\tfalse\n}\n'
    found = messages(policies, body)
    line = line_of(policies, "violations contains v if {")
    assert found == [f'{CASE}:{line}: violation without a literal "code"']


def test_a_code_of_another_gate_is_an_error_at_its_literals_line(policies: Path) -> None:
    body = violation('"m"', "{}").replace('"code": "filing.lint_case"', '"code": "scope.lint_case"')
    found = messages(policies, body)
    assert any("code scope.lint_case is not prefixed by gate filing" in m for m in found)
    assert messages(policies, violation('"m"', "{}")) == []
