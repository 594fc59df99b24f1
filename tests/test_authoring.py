"""Compliance authors policy in ``policies/`` alone (issue 17's "done when").

The trial of the issue, as a test: a copy of the shipped policy directory gains an Art. 15
complaints gate as compliance would add it (the shipped ``service`` gate, built the same
way, covers Art. 15 too; the example keeps its own tag, ``compliance.complaints.channel``,
so that it declares one) (a directory under ``gates/`` with its Rego,
Rego tests, policy-data schema and tag declaration; its id in ``required_gates``; its
section in ``data.json``; two corpus cases), and ``mlgate policy check``, ``policy
scenario regen`` and ``policy verify`` take it with no Python change. The gate's files
are in ``tests/authoring/``, next to this test, so the docs can point at a working example.
Tightening a number (``max_age_days`` 365 -> 180) breaks only the Rego test that pins
the shipped value, and says which value. ``policy impact`` across the same gate addition
is tested in tests/test_impact.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import POLICIES, mlgate

AUTHORING = Path(__file__).resolve().parent / "authoring"
GATE_FILES = ("complaints.rego", "complaints_test.rego", "data.schema.json", "tags.json")


def _write_json(path: Path, document: object) -> None:
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def add_complaints_gate(root: Path) -> None:
    """The complaints gate added to the policy directory ``root``: policies/ only."""
    gate = root / "gates" / "complaints"
    gate.mkdir()
    for name in GATE_FILES:
        shutil.copy(AUTHORING / name, gate / name)
    main = root / "main" / "main.rego"
    text = main.read_text(encoding="utf-8")
    wired = text.replace('"attestation"]', '"attestation", "complaints"]')
    assert wired != text, "required_gates not found in main.rego"
    main.write_text(wired, encoding="utf-8")
    data = json.loads((root / "data.json").read_text(encoding="utf-8"))
    data["mlgate"]["config"]["complaints"] = {"required": False}
    _write_json(root / "data.json", data)
    on = {"complaints": {"required": True}}
    channel = "https://example.cn/complaints"
    for name, description, patch in [
        ("complaints_channel_missing", "Complaints channel required and missing.", {}),
        (
            "complaints_channel_on_record",
            "Complaints channel required and on record.",
            {
                "tags": {"compliance.complaints.channel": channel},
                "facts": {"complaints": {"channel": channel}},
            },
        ),
    ]:
        case = root / "scenarios" / name
        case.mkdir()
        _write_json(case / "scenario.json",
                    {"description": description, "policy_data": on, "patch": patch})


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def test_a_new_gate_is_a_change_to_policies_alone(policies: Path) -> None:
    add_complaints_gate(policies)

    check = mlgate("policy", "check", "--policies", str(policies))
    assert check.exit_code == 0, check.stdout + check.stderr

    # The new cases have no expectation yet, and the others do not list the new gate:
    # regen writes them (compliance reviews the diff it prints).
    regen = mlgate("policy", "scenario", "regen", "--policies", str(policies))
    assert regen.exit_code == 0, regen.stdout + regen.stderr
    missing = json.loads(
        (policies / "scenarios" / "complaints_channel_missing" / "expected.json").read_text()
    )
    assert missing["allowed"] is False
    assert missing["gates"]["complaints"] == {
        "status": "fail", "codes": ["complaints.channel_missing"]
    }
    on_record = json.loads(
        (policies / "scenarios" / "complaints_channel_on_record" / "expected.json").read_text()
    )
    assert on_record["allowed"] is True
    assert on_record["gates"]["complaints"] == {"status": "pass", "codes": []}
    all_pass = json.loads((policies / "scenarios" / "all_pass" / "expected.json").read_text())
    assert list(all_pass["gates"])[-1] == "complaints"
    assert all_pass["gates"]["complaints"]["status"] == "not_applicable"
    assert all_pass["allowed"] is True  # switched off by default: no decision changes

    verify = mlgate("policy", "verify", "--policies", str(policies))
    assert verify.exit_code == 0, verify.stdout + verify.stderr


def test_the_new_gate_decides_on_both_engines(policies: Path, tmp_path: Path) -> None:
    add_complaints_gate(policies)
    from fixtures_opa import require_opa_golib

    document = json.loads((POLICIES.parent / "examples" / "gate_input_allowed.json").read_text())
    path = tmp_path / "input.json"
    _write_json(path, document)
    data = json.loads((policies / "data.json").read_text())
    data["mlgate"]["config"]["complaints"]["required"] = True
    _write_json(policies / "data.json", data)
    run = mlgate("check", "--input", str(path), "--policies", str(policies), "--format", "json")
    assert run.exit_code == 1, run.stdout + run.stderr
    gates = {g["id"]: g for g in run.json()["gates"]}
    assert [v["code"] for v in gates["complaints"]["violations"]] == ["complaints.channel_missing"]
    assert gates["complaints"]["title"] == "Complaints channel on record"

    require_opa_golib()
    from mlgate.policy import load_policy_dir
    from mlgate.runner import evaluate, load_gate_input
    from mlgate.scenarios import in_process_opa

    policy_set = load_policy_dir(policies)
    gate_input = load_gate_input(path, policy_set.tag_declarations)
    decision = evaluate(gate_input, in_process_opa(policy_set), policy_set)
    assert [g.id for g in decision.gates][-1] == "complaints"
    assert not decision.allowed


def test_a_tighter_number_breaks_only_the_pin_of_the_shipped_value(policies: Path) -> None:
    data = json.loads((policies / "data.json").read_text())
    data["mlgate"]["config"]["assessment"]["max_age_days"] = 180
    _write_json(policies / "data.json", data)

    check = mlgate("policy", "check", "--policies", str(policies))
    assert check.exit_code == 0, check.stdout + check.stderr
    verify = mlgate("policy", "verify", "--policies", str(policies))
    assert verify.exit_code == 1
    lines = verify.stdout.splitlines()
    # The one failure is the Rego test pinning the shipped value, and its name says 365;
    # nothing else fails: not another Rego test, not a corpus case, not the lint.
    [failed] = [line.strip() for line in lines if line.strip().startswith("FAIL ")]
    assert "test_shipped_assessment_max_age_365_days" in failed, verify.stdout
    assert [line for line in lines if line.startswith("tests: ")][0].endswith(" 1 failed")
    assert " 0 failed" in [line for line in lines if line.startswith("corpus: ")][0]
    assert lines[-1] == "verify: FAILED: tests", verify.stdout
