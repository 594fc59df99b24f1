"""``mlgate policy test`` says why a test fails (the failing expression, its file:line
and the values it saw), gates on a coverage threshold and lists the violation codes no
test produces (issue 17 items 5 and 6), on both engines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fixtures_opa import require_opa_golib
from helpers import POLICIES, mlgate

EXTRA = "gates/filing/explain_test.rego"
TESTS = """package mlgate.gates.filing_explain_test

import data.mlgate.gates.filing
import data.mlgate.testdata

test_passes if true

test_wrong_code if {
	doc := testdata.with_facts({"filing": {"status": "pending"}})
	codes := {v.code | some v in filing.violations} with input as doc
	count(codes) == 1
	codes == {"filing.status_missing"}
}

test_under_with if {
	not filing.violations with input as testdata.valid_input
}
"""
UNTESTED = """
# METADATA
# title: Never tested
# description: A violation no test produces.
# custom:
#   short_name: never_tested
#   failure_msg: Never
#   solution: Nothing.
#   severity: low
violations contains {"code": "filing.never_tested", "params": {}} if {
	input.facts.filing.id == "no test sends this"
}
"""


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_a_failing_test_shows_its_failing_expression_and_values(
    policies: Path, engine: str
) -> None:
    if engine == "opa":
        require_opa_golib()
    (policies / EXTRA).write_text(TESTS)
    run = mlgate(
        "policy", "test", "--policies", str(policies), "--run", "filing_explain_test",
        "--engine", engine,
    )  # fmt: skip
    assert run.exit_code == 1
    line = line_of(policies / EXTRA, '\tcodes == {"filing.status_missing"}')
    out = run.stdout.splitlines()
    at = out.index(
        "FAIL gates/filing/explain_test.rego: "
        "data.mlgate.gates.filing_explain_test.test_wrong_code: undefined"
    )
    assert out[at + 1] == f'    {EXTRA}:{line}: codes == {{"filing.status_missing"}}'
    assert out[at + 2] == '      codes = ["filing.not_completed"]'  # the set it saw
    assert out[at + 3].startswith('      doc = {"aliases": []')
    # The with modifiers of the failing expression apply to its operands too.
    with_line = line_of(
        policies / EXTRA, "\tnot filing.violations with input as testdata.valid_input"
    )
    assert (
        f"    {EXTRA}:{with_line}: not filing.violations with input as testdata.valid_input" in out
    )
    assert "      filing.violations = []" in out
    assert out[-1] == "1 passed, 2 failed"


def test_the_explanation_is_in_the_json_report(policies: Path) -> None:
    (policies / EXTRA).write_text(TESTS)
    run = mlgate(
        "policy", "test", "--policies", str(policies), "--run", "filing_explain_test",
        "--format", "json",
    )  # fmt: skip
    assert run.exit_code == 1
    doc = json.loads(run.stdout)
    assert (doc["passed"], doc["failed"]) == (1, 2)
    failing = {t["test"].rsplit(".", 1)[1]: t for t in doc["tests"] if not t["passed"]}
    explanation = failing["test_wrong_code"]["explanation"]
    assert explanation["file"] == EXTRA
    assert explanation["expression"] == 'codes == {"filing.status_missing"}'
    assert explanation["values"]["codes"] == '["filing.not_completed"]'
    passing = [t for t in doc["tests"] if t["passed"]]
    assert passing and passing[0]["explanation"] is None


def test_a_passing_set_has_no_explanation_and_every_code_tested() -> None:
    run = mlgate("policy", "test", "--coverage")
    assert run.exit_code == 0, run.stdout
    assert "every violation code is produced by a test" in run.stdout
    assert "    " not in run.stdout.split("coverage:")[0]  # no explanation lines


@pytest.mark.parametrize("engine", ["embedded", "opa"])
def test_codes_no_test_produces_are_listed(policies: Path, engine: str) -> None:
    if engine == "opa":
        require_opa_golib()
    path = policies / "gates" / "filing" / "filing.rego"
    path.write_text(path.read_text() + UNTESTED)
    line = line_of(path, 'violations contains {"code": "filing.never_tested", "params": {}} if {')
    run = mlgate("policy", "test", "--policies", str(policies), "--coverage", "--engine", engine)
    assert run.exit_code == 0, run.stdout  # no threshold: listed, not failing
    assert "violation codes no test produces (1):" in run.stdout
    assert f"  filing.never_tested  (gates/filing/filing.rego:{line})" in run.stdout


def test_coverage_below_the_threshold_exits_1(policies: Path) -> None:
    path = policies / "gates" / "filing" / "filing.rego"
    path.write_text(path.read_text() + UNTESTED)
    run = mlgate("policy", "test", "--policies", str(policies), "--coverage-threshold", "100")
    assert run.exit_code == 1
    assert "total" in run.stdout and "is below the threshold 100%" in run.stdout
    lenient = mlgate("policy", "test", "--policies", str(policies), "--coverage-threshold", "50")
    assert lenient.exit_code == 0, lenient.stdout
    assert "below the threshold" not in lenient.stdout


def test_the_shipped_tests_meet_a_full_threshold() -> None:
    run = mlgate("policy", "test", "--coverage-threshold", "100", "--format", "json")
    assert run.exit_code == 0, run.stdout
    coverage = json.loads(run.stdout)["coverage"]
    assert coverage["percent"] == 100.0 and coverage["untested_codes"] == []


def test_a_threshold_outside_0_to_100_is_refused() -> None:
    run = mlgate("policy", "test", "--coverage-threshold", "101")
    assert run.exit_code == 2 and "Traceback" not in run.stderr
