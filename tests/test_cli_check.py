"""``mlgate check --input``: exit codes, retargeting, and every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, POLICIES, mlgate, one_error_line

BLOCKED = str(EXAMPLES / "gate_input_blocked.json")
ALLOWED = str(EXAMPLES / "gate_input_allowed.json")


def test_allowed_exits_0() -> None:
    run = mlgate("check", "--input", ALLOWED, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["allowed"] is True


def test_blocked_exits_1_with_codes() -> None:
    run = mlgate("check", "--input", BLOCKED, "--format", "json")
    assert run.exit_code == 1
    decision = run.json()
    codes = {v["code"] for g in decision["gates"] for v in g["violations"]}
    assert codes == {"filing.not_completed", "labeling.implicit_disabled"}
    assert decision["engine"] == "embedded" and decision["enforcement"] == "deny"


def test_unprotected_target_warns_and_allows() -> None:
    run = mlgate("check", "--input", BLOCKED, "--target", "staging", "--format", "json")
    assert run.exit_code == 0
    decision = run.json()
    assert decision["enforcement"] == "warn" and decision["allowed"] is True
    assert decision["target"] == "staging"
    assert any(g["status"] == "fail" for g in decision["gates"])


@pytest.mark.parametrize("target", ["Production", "CHAMPION", "public"])
def test_protected_aliases_are_case_insensitive(target: str) -> None:
    run = mlgate("check", "--input", ALLOWED, "--target", target, "--format", "json")
    assert run.json()["enforcement"] == "deny"


def test_stage_production_is_enforced_in_any_case() -> None:
    run = mlgate("check", "--input", BLOCKED, "--target", "pRoDuCtIoN", "--stage", "-f", "json")
    assert run.exit_code == 1 and run.json()["enforcement"] == "deny"


def test_input_claiming_warn_for_a_protected_alias_is_refused(tmp_path: Path) -> None:
    # enforcement is derived from the target and the policy data: a claim that
    # contradicts it is a forged or stale document (the Rego denies it anyway).
    document = json.loads(Path(BLOCKED).read_text())
    document["request"] = {"target": "production", "kind": "alias", "enforcement": "warn"}
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    run = mlgate("check", "--input", str(forged), "-f", "json")
    assert "field request.enforcement" in one_error_line(run)


def test_invalid_tag_value_is_a_gate_failure_not_an_error(tmp_path: Path) -> None:
    from mlgate.facts import parse_facts

    document = json.loads(Path(ALLOWED).read_text())
    document["tags"]["compliance.labeling.explicit"] = "yes"
    from mlgate.policy import bundled_declarations

    facts, _ = parse_facts(document["tags"], bundled_declarations())
    document["facts"] = facts
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(document))
    run = mlgate("check", "--input", str(path), "-f", "json")
    assert run.exit_code == 1
    codes = {v["code"] for g in run.json()["gates"] for v in g["violations"]}
    assert codes == {"labeling.explicit_invalid"}


def test_output_file_is_written_and_stdout_empty(tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    run = mlgate("check", "--input", BLOCKED, "-f", "json", "--output", str(out))
    assert run.exit_code == 1 and run.stdout == ""
    assert json.loads(out.read_text())["allowed"] is False
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # no temp file left


def test_missing_file(tmp_path: Path) -> None:
    line = one_error_line(mlgate("check", "--input", str(tmp_path / "nope.json")))
    assert "nope.json" in line and "cannot read" in line


def test_malformed_json(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {"name": "m",}')
    line = one_error_line(mlgate("check", "--input", str(bad)))
    assert "bad.json:1:" in line and "not valid JSON" in line


def test_nan_is_not_json(tmp_path: Path) -> None:
    # Python's json module reads NaN; RFC 8259 does not, and neither do the engines.
    document = json.loads(Path(ALLOWED).read_text())
    document["manifest"]["content"]["datasets"][0]["records"] = float("nan")
    bad = tmp_path / "nan.json"
    bad.write_text(json.dumps(document, indent=1))
    line = one_error_line(mlgate("check", "--input", str(bad)))
    assert "nan.json:" in line and "NaN is not a JSON value" in line


def test_document_failing_the_schema_names_the_field(tmp_path: Path) -> None:
    document = json.loads(Path(ALLOWED).read_text())
    document["facts"]["audience"] = "everyone"
    bad = tmp_path / "schema.json"
    bad.write_text(json.dumps(document))
    line = one_error_line(mlgate("check", "--input", str(bad)))
    assert "schema.json" in line and "facts.audience" in line


def test_policy_directory_with_a_syntax_error(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    gate = policies / "gates" / "filing" / "filing.rego"
    gate.write_text(gate.read_text() + "\nbroken if {\n")
    line = one_error_line(mlgate("check", "--input", ALLOWED, "--policies", str(policies)))
    assert "filing.rego:" in line


def test_policy_set_leaving_a_gate_undefined_blocks_with_exit_2(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    gate = policies / "gates" / "labeling" / "labeling.rego"
    gate.write_text(
        gate.read_text().replace("result := lib.gate_result", "unused := lib.gate_result")
    )
    line = one_error_line(mlgate("check", "--input", ALLOWED, "--policies", str(policies)))
    assert "labeling" in line and "undefined" in line


def test_bad_policy_data_names_the_field(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    data = json.loads((policies / "data.json").read_text())
    data["mlgate"]["config"]["assessment"]["max_age_days"] = "a year"
    (policies / "data.json").write_text(json.dumps(data))
    line = one_error_line(mlgate("check", "--input", ALLOWED, "--policies", str(policies)))
    assert "data.json" in line and "assessment.max_age_days" in line


def test_missing_policy_directory(tmp_path: Path) -> None:
    line = one_error_line(mlgate("check", "--input", ALLOWED, "--policies", str(tmp_path / "x")))
    assert "policy directory not found" in line


def test_opa_engine_without_url() -> None:
    line = one_error_line(mlgate("check", "--input", ALLOWED, "--engine", "opa"))
    assert "--opa-url" in line


def test_unknown_format_is_a_usage_error() -> None:
    run = mlgate("check", "--input", ALLOWED, "--format", "yaml")
    assert run.exit_code == 2


def test_output_to_a_missing_directory(tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir.json"
    line = one_error_line(mlgate("check", "--input", BLOCKED, "--output", str(out)))
    assert "dir.json" in line and not out.exists()


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[")
    run = mlgate("--debug", "check", "--input", str(bad))
    assert run.exit_code == 2 and "Traceback" in run.stderr
