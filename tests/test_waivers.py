"""Waivers: active, expired, expiring, glob, wrong code, invalid file, scope never waived."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from helpers import EXAMPLES, POLICIES, mlgate
from mlgate.models import GateInput
from mlgate.policy import load_policy_dir
from mlgate.runner import attach_waivers, evaluate, make_engine

# The blocked example: image-generator v3, now = 2026-11-29T12:00:00Z, failing
# filing.not_completed and labeling.implicit_disabled.
BLOCKED = json.loads((EXAMPLES / "gate_input_blocked.json").read_text())


def waiver(**overrides: Any) -> dict[str, Any]:
    entry = {
        "id": "W-1",
        "model": "image-generator",
        "versions": ["3"],
        "codes": ["filing.not_completed", "labeling.implicit_disabled"],
        "justification": "filing submitted, CAC acknowledgement pending",
        "approver": "compliance@example.com",
        "ticket": "COMP-42",
        "granted": "2026-11-20",
        "expires": "2027-01-31",
    }
    entry.update(overrides)
    return entry


def policies_with(tmp_path: Path, *entries: dict[str, Any]) -> Path:
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    (target / "waivers.json").write_text(json.dumps({"waivers": list(entries)}))
    return target


def decide(tmp_path: Path, *entries: dict[str, Any], document: dict | None = None):
    policy_set = load_policy_dir(policies_with(tmp_path, *entries))
    gate_input, warnings = attach_waivers(GateInput.model_validate(document or BLOCKED), policy_set)
    decision = evaluate(
        gate_input, make_engine("embedded", policy_set), policy_set, warnings=warnings
    )
    return decision, {g.id: g.status for g in decision.gates}


def test_active_waiver_covering_every_violation_allows(tmp_path: Path) -> None:
    decision, status = decide(tmp_path, waiver())
    assert decision.allowed is True
    assert status["filing"] == "waived" and status["labeling"] == "waived"
    assert decision.waivers_applied == ["W-1"]
    assert all(v.waived_by == "W-1" for g in decision.gates for v in g.violations)
    assert decision.warnings == []


def test_gate_wildcard_and_model_glob(tmp_path: Path) -> None:
    entry = waiver(model="image-*", versions="*", codes=["filing.*", "labeling.*"])
    decision, status = decide(tmp_path, entry)
    assert decision.allowed and status["filing"] == "waived"


def test_partial_waiver_still_blocks(tmp_path: Path) -> None:
    decision, status = decide(tmp_path, waiver(codes=["filing.not_completed"]))
    assert decision.allowed is False
    assert status == {**status, "filing": "waived", "labeling": "fail"}
    assert decision.waivers_applied == ["W-1"]


def test_wrong_code_waives_nothing(tmp_path: Path) -> None:
    decision, status = decide(tmp_path, waiver(codes=["filing.id_missing", "assessment.*"]))
    assert decision.allowed is False and decision.waivers_applied == []
    assert status["filing"] == "fail"


@pytest.mark.parametrize(
    "overrides",
    [{"model": "image-generator-v2"}, {"model": "chat*"}, {"versions": ["1", "2"]}],
)
def test_other_models_or_versions_are_not_waived(tmp_path: Path, overrides: dict) -> None:
    decision, _ = decide(tmp_path, waiver(**overrides))
    assert decision.allowed is False and decision.waivers_applied == []


def test_expired_waiver_does_nothing_but_warn(tmp_path: Path) -> None:
    decision, status = decide(tmp_path, waiver(granted="2026-09-01", expires="2026-11-28"))
    assert decision.allowed is False and status["filing"] == "fail"
    assert decision.waivers_applied == []
    assert decision.warnings == [
        "waiver W-1 expired on 2026-11-28 and no longer applies (ticket COMP-42)"
    ]


def test_waiver_expiring_within_14_days_applies_and_warns(tmp_path: Path) -> None:
    decision, _ = decide(tmp_path, waiver(expires="2026-12-13"))
    assert decision.allowed is True
    assert decision.warnings == ["waiver W-1 expires on 2026-12-13 (14 days left; ticket COMP-42)"]


def test_waiver_expiring_today_still_applies(tmp_path: Path) -> None:
    decision, _ = decide(tmp_path, waiver(expires="2026-11-29"))
    assert decision.allowed is True and "0 days left" in decision.warnings[0]


def test_scope_undecidability_is_never_waived_even_by_a_forged_input(tmp_path: Path) -> None:
    document = json.loads(json.dumps(BLOCKED))
    document["facts"]["audience"] = None
    document["waivers"] = [
        {"id": "FORGED", "codes": ["scope.*", "scope.audience_missing"], "expires": "2027-01-01"}
    ]
    policy_set = load_policy_dir(POLICIES)
    decision = evaluate(
        GateInput.model_validate(document), make_engine("embedded", policy_set), policy_set
    )
    scope = next(g for g in decision.gates if g.id == "scope")
    assert scope.status == "fail" and decision.allowed is False
    assert "FORGED" not in decision.waivers_applied


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"codes": ["scope.audience_missing"]}, "codes"),
        ({"codes": []}, "codes"),
        ({"codes": ["Filing not completed"]}, "codes.0"),
        ({"expires": "next year"}, "expires"),
        ({"expires": None}, "expires"),
        ({"ticket": ""}, "ticket"),
        ({"versions": "3"}, "versions"),
        ({"approver": None}, "approver"),
    ],
)
def test_invalid_waiver_file_is_exit_2_naming_entry_and_field(
    tmp_path: Path, overrides: dict, field: str
) -> None:
    policies = policies_with(tmp_path, waiver(id="OK-1"), waiver(id="BAD-7", **overrides))
    run = mlgate(
        "check", "--input", str(EXAMPLES / "gate_input_blocked.json"), "--policies", str(policies)
    )
    assert run.exit_code == 2
    assert run.stderr.count("\n") == 1
    assert "waivers.json" in run.stderr and "waivers[1] (id BAD-7)" in run.stderr
    assert field.split(".")[0] in run.stderr


def test_waiver_longer_than_the_maximum_validity_is_rejected(tmp_path: Path) -> None:
    policies = policies_with(tmp_path, waiver(granted="2026-11-01", expires="2027-03-01"))
    run = mlgate(
        "check", "--input", str(EXAMPLES / "gate_input_blocked.json"), "--policies", str(policies)
    )
    assert run.exit_code == 2
    assert "(id W-1): field expires: 2027-03-01 is more than 90 days after 2026-11-01" in run.stderr


def test_duplicate_ids_and_non_json_are_rejected(tmp_path: Path) -> None:
    policies = policies_with(tmp_path, waiver(), waiver())
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2 and "duplicate id" in run.stderr
    (policies / "waivers.json").write_text("{")
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 2 and "waivers.json:1: not valid JSON" in run.stderr


def test_check_input_replays_the_documents_own_waivers_only(tmp_path: Path) -> None:
    """--input evaluates the document as logged: the waiver file does not change it."""
    policies = policies_with(tmp_path, waiver())
    run = mlgate(
        "check",
        "--input",
        str(EXAMPLES / "gate_input_blocked.json"),
        "--policies",
        str(policies),
        "-f",
        "json",
    )
    assert run.exit_code == 1 and run.json()["waivers_applied"] == []
