"""The runner's fail-closed checks of an engine's result (``runner.build_decision``): one
test per check, each on real policies edited to return exactly that fault.

Every case runs ``mlgate check --input`` on a copy of the bundled policies with one edit
to the decision (``main.rego``) or to one gate's result (``filing.rego``), evaluated by
the embedded engine: the command must refuse to decide (exit 2, one line naming what is
wrong, no report on stdout), never allow and never report a decision it could not check.
The unedited copy decides normally, so each edit alone is what the check catches.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, POLICIES, Run, mlgate, one_error_line

MAIN = Path("main/main.rego")
FILING = Path("gates/filing/filing.rego")
ALLOWED = EXAMPLES / "gate_input_allowed.json"
BLOCKED = EXAMPLES / "gate_input_blocked.json"


def edited_policies(tmp_path: Path, path: Path, old: str, new: str, append: str = "") -> Path:
    """A copy of the bundled policies with ``old`` (there exactly once) in ``path``
    replaced by ``new`` and ``append`` added at the end of that file."""
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    file = root / path
    text = file.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{path}: expected {old!r} exactly once"
    file.write_text(text.replace(old, new) + append, encoding="utf-8")
    return root


def check(policies: Path, example: Path) -> Run:
    return mlgate("check", "--input", str(example), "--policies", str(policies), "-f", "json")


def refused(run: Run, *fragments: str) -> None:
    """Exit 2 with one error line that names every fragment, and no decision reported."""
    line = one_error_line(run)
    for fragment in fragments:
        assert fragment in line, line
    assert run.stdout == ""


def test_the_unedited_copy_decides(tmp_path: Path) -> None:
    # Each case below edits this copy; unedited, both examples are decided.
    policies = edited_policies(tmp_path, MAIN, "decision := {", "decision := {")
    assert check(policies, ALLOWED).exit_code == 0
    assert check(policies, BLOCKED).exit_code == 1


# --------------------------------------------------------------------------- the decision

# (old text in main.rego's decision object, its replacement, the example, what the line
# must name). Each is one branch of build_decision.
DECISION_FAULTS = {
    "undefined": ("\ndecision := {", "\ndecision_disabled := {", ALLOWED,
                  ["data.mlgate.main.decision is undefined"]),
    "not an object": ("\ndecision := {", "\ndecision := \"allowed\"\n_unused := {", ALLOWED,
                      ["malformed decision: not an object"]),
    "gates not an object": ('"gates": gates,', '"gates": [],', ALLOWED,
                            ["malformed decision: gates is not an object"]),
    "enforcement unknown": ('"enforcement": enforcement,', '"enforcement": "block",', ALLOWED,
                            ["malformed decision: enforcement is 'block'"]),
    "enforcement contradicts the data": (
        '"enforcement": enforcement,', '"enforcement": "warn",', BLOCKED,
        ["enforcement=warn", "policy data makes it deny", "stale or foreign policies"]),
    "in_scope not a boolean": ('"in_scope": lib.in_scope_value,', '"in_scope": "yes",',
                               ALLOWED, ["in_scope is not true, false or null"]),
    "allowed not a boolean": ('"allowed": allowed,', '"allowed": "true",', ALLOWED,
                              ["malformed decision: allowed is not a boolean"]),
    "allowed contradicts the gates": ('"allowed": allowed,', '"allowed": true,', BLOCKED,
                                      ["engine said allowed=True",
                                       "the gate statuses say False",
                                       "refusing an inconsistent decision"]),
}


@pytest.mark.parametrize("fault", sorted(DECISION_FAULTS))
def test_a_malformed_decision_is_refused(fault: str, tmp_path: Path) -> None:
    old, new, example, fragments = DECISION_FAULTS[fault]
    refused(check(edited_policies(tmp_path, MAIN, old, new), example), *fragments)


# --------------------------------------------------------------------------- one gate

# The filing gate's result replaced by a forged one (its own rule renamed out of the way),
# on the allowed example: nothing else is wrong with the decision.
GATE_FAULTS = {
    "missing": (None, ["gate 'filing' undefined", "refusing to decide"]),
    "not an object": ('"pass"', ["malformed decision: gate filing is not an object"]),
    "unknown status": ('{"status": "maybe", "violations": []}',
                       ["malformed decision: gate filing has status 'maybe'"]),
    "error status": ('{"status": "error", "violations": []}',
                     ["malformed decision: gate filing has status 'error'"]),
    "violations not a list": ('{"status": "pass", "violations": {}}',
                              ["malformed decision: gate filing violations is not a list"]),
    "fails without a violation": ('{"status": "fail", "violations": []}',
                                  ["malformed decision: gate filing fails with no violation"]),
    "violation not an object": ('{"status": "fail", "violations": ["filing.x"]}',
                                ["malformed decision: a violation of gate filing is not an "
                                 "object"]),
    "code of another gate": (
        '{"status": "fail", "violations": [{"code": "labeling.x", "params": {}}]}',
        ["malformed decision: bad code 'labeling.x'"]),
    "code not a string": ('{"status": "fail", "violations": [{"code": 7, "params": {}}]}',
                          ["malformed decision: bad code 7"]),
    "params not an object": (
        '{"status": "fail", "violations": [{"code": "filing.x", "params": [1]}]}',
        ["malformed decision: params of filing.x is not an object"]),
}


@pytest.mark.parametrize("fault", sorted(GATE_FAULTS))
def test_a_malformed_gate_result_is_refused(fault: str, tmp_path: Path) -> None:
    forged, fragments = GATE_FAULTS[fault]
    append = "" if forged is None else f"\nresult := {forged}\n"
    policies = edited_policies(
        tmp_path, FILING, "result := lib.gate_result(", "result_disabled := lib.gate_result(",
        append,
    )
    refused(check(policies, ALLOWED), *fragments)


def test_a_well_formed_forged_gate_result_is_decided(tmp_path: Path) -> None:
    # The same edit with a result the checks accept: decided, and blocked by it.
    forged = '{"status": "fail", "violations": [{"code": "filing.x", "params": {}}]}'
    policies = edited_policies(
        tmp_path, FILING, "result := lib.gate_result(", "result_disabled := lib.gate_result(",
        f"\nresult := {forged}\n",
    )
    run = check(policies, ALLOWED)
    assert run.exit_code == 1, run.stderr
    [filing] = [g for g in run.json()["gates"] if g["id"] == "filing"]
    assert (filing["status"], [v["code"] for v in filing["violations"]]) == ("fail", ["filing.x"])
