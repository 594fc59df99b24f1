"""The corpus format (merge patches, time tokens, per-case policy data) and the commands
around it: ``mlgate policy scenario new | regen`` and ``mlgate policy verify``."""

from __future__ import annotations

import json
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import POLICIES, edit_config, mlgate, one_error_line
from mlgate.gate_input import now_rfc3339
from mlgate.policy import load_policy_dir
from mlgate.timetokens import diff_patch, evaluation_time, merge_patch, resolve_times

NS = 1_000_000_000


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def read(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- merge patch

# RFC 7396, Appendix A: target, patch, result.
RFC7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC7396_EXAMPLES)
def test_merge_patch_is_rfc7396(target: Any, patch: Any, result: Any) -> None:
    before = json.dumps(target)
    assert merge_patch(target, patch) == result
    assert json.dumps(target) == before  # the target is not modified


json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=3), json_values, max_size=4)


def no_tokens(value: Any) -> bool:
    if isinstance(value, str):
        return not value.startswith("@")
    if isinstance(value, dict):
        return all(no_tokens(k) and no_tokens(v) for k, v in value.items())
    if isinstance(value, list):
        return all(no_tokens(v) for v in value)
    return True


@settings(max_examples=300, deadline=None)
@given(json_objects, json_objects)
def test_diff_patch_turns_one_document_into_the_other(source: Any, target: Any) -> None:
    """What `scenario new --patch` and the conversion rely on: base + diff = the case."""
    if not (no_tokens(source) and no_tokens(target)):
        return
    patch = diff_patch(source, target)
    assert resolve_times(merge_patch(source, patch), 0) == target


# --------------------------------------------------------------------------- time tokens

moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(min_value=-800, max_value=800))
def test_date_tokens_count_calendar_days_from_the_evaluation_day(
    moment: datetime, days: int
) -> None:
    now_ns = evaluation_time(moment)
    day = moment.date() + timedelta(days=days)
    got = resolve_times(
        {"d": f"@date{days:+d}d", "n": f"@date_ns{days:+d}d", "now": "@now", "ns": "@now_ns"},
        now_ns,
    )
    assert got["d"] == day.isoformat()
    assert got["n"] == (day - date(1970, 1, 1)).days * 86400 * NS
    # `now`/`now_ns` are what mlgate writes for this moment, to the second
    assert (got["now"], got["ns"]) == now_rfc3339(moment.replace(microsecond=0))


def test_time_of_day_offsets_and_zones() -> None:
    now_ns = evaluation_time(datetime(2026, 11, 29, 12, 0, tzinfo=UTC), "23:59:59.999999999")
    assert now_ns == 1795996799999999999
    doc = {
        "a": "@now_ns-1ns",
        "b": "@now",
        "c": "@midnight-365d+23h30m@+08:00",
        "d": "@midnight",
        "e": "@null",
        "f": "@later",  # not a token: kept
        "g": ["@date+1d"],
    }
    assert resolve_times(doc, now_ns) == {
        "a": 1795996799999999998,
        "b": "2026-11-29T23:59:59Z",
        "c": "2025-11-30T07:30:00+08:00",
        "d": "2026-11-29T00:00:00Z",
        "e": None,
        "f": "@later",
        "g": ["2026-11-30"],
    }


# --------------------------------------------------------------------------- the loader


def test_the_policy_loader_ignores_the_corpus(policies: Path) -> None:
    (policies / "scenarios" / "not_policy.rego").write_text("package broken\n\nthis is not rego\n")
    (policies / "scenarios" / "data.json").write_text("{not json")
    policy_set = load_policy_dir(policies)
    assert not any(p.startswith("scenarios/") for p in [*policy_set.modules, *policy_set.tests])
    assert policy_set.fingerprint() == load_policy_dir(POLICIES).fingerprint()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"description": "x", "patch": [1]}, "field patch: expected an object"),
        ({"description": "x", "pach": {}}, "unknown key 'pach'"),
        ({"description": "x", "now": "noon"}, "field now: expected a time of day"),
        ({"description": "x", "forged": "yes"}, "field forged: expected true or false"),
        ({"description": "x", "policy_data": {"assessment": {"max_age_days": "x"}}},
         "policy_data: "),
        ({"description": "x", "patch": {"facts": {"audience": 7}}}, "field facts.audience"),
    ],
)  # fmt: skip
def test_a_bad_scenario_is_one_line_exit_2(
    policies: Path, content: dict[str, Any], message: str
) -> None:
    case = policies / "scenarios" / "bad_case"
    case.mkdir()
    (case / "scenario.json").write_text(json.dumps(content))
    line = one_error_line(mlgate("policy", "verify", "--policies", str(policies)))
    assert message in line and "bad_case" in line


# --------------------------------------------------------------------------- verify


def test_verify_passes_on_the_bundled_policies() -> None:
    run = mlgate("policy", "verify")
    assert run.exit_code == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == ["lint", "tests", "corpus", "verify"]
    assert lines[-1] == "verify: ok"
    assert " 0 failed" in lines[1] and " 0 failed" in lines[2]


def test_verify_names_a_case_that_decides_otherwise(policies: Path) -> None:
    path = policies / "scenarios" / "all_pass" / "expected.json"
    want = read(path)
    want["gates"]["filing"] = {"status": "fail", "codes": ["filing.not_completed"]}
    path.write_text(json.dumps(want))
    run = mlgate("policy", "verify", "--policies", str(policies))
    assert run.exit_code == 1, run.stdout + run.stderr
    assert (
        "FAIL all_pass: expected -> decided: gates.filing: fail [filing.not_completed] -> pass"
        in (run.stdout)
    )
    assert run.stdout.strip().endswith("verify: FAILED: corpus")


def test_verify_fails_on_a_failing_rego_test_and_on_lint(policies: Path) -> None:
    (policies / "lib" / "extra_test.rego").write_text(
        "package extra_test\n\ntest_fails if 1 == 2\n"
    )
    gate = policies / "gates" / "filing" / "filing.rego"
    # A violation's METADATA without its failure_msg (a package's needs none).
    text = gate.read_text()
    broken = text.replace("#   failure_msg: The tag compliance.filing.status is missing",
                          "#   failure_mesg: The tag compliance.filing.status is missing", 1)
    assert broken != text
    gate.write_text(broken)
    run = mlgate("policy", "verify", "--policies", str(policies))
    assert run.exit_code == 1, run.stdout + run.stderr
    assert "FAIL lib/extra_test.rego: data.extra_test.test_fails" in run.stdout
    assert run.stdout.strip().endswith("verify: FAILED: lint, tests")


def test_verify_lists_codes_no_scenario_expects(policies: Path) -> None:
    shutil.rmtree(policies / "scenarios" / "filing_pending")
    run = mlgate("policy", "verify", "--policies", str(policies))
    uncovered = [ln for ln in run.stdout.splitlines() if "codes no scenario expects" in ln]
    if run.exit_code == 0:  # another case covers filing.not_completed too
        assert not uncovered
    else:
        assert uncovered and "filing." in uncovered[0]


def test_verify_without_a_corpus_runs_the_other_parts(policies: Path) -> None:
    shutil.rmtree(policies / "scenarios")
    run = mlgate("policy", "verify", "--policies", str(policies))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "corpus: no scenarios in" in run.stdout


# --------------------------------------------------------------------------- new, regen


def test_scenario_new_writes_the_case_and_its_current_decision(
    policies: Path, tmp_path: Path
) -> None:
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps({"tags": {"compliance.filing.status": "pending"},
                                 "facts": {"filing": {"status": "pending"}}}))  # fmt: skip
    run = mlgate(
        "policy", "scenario", "new", "filing_pending_again", "--from", "all_pass",
        "--patch", str(patch), "-d", "Filing pending.", "--policies", str(policies),
    )  # fmt: skip
    assert run.exit_code == 0, run.stdout + run.stderr
    folder = policies / "scenarios" / "filing_pending_again"
    scenario = read(folder / "scenario.json")
    assert scenario["description"] == "Filing pending."
    assert scenario["patch"]["facts"]["filing"]["status"] == "pending"
    assert "forged" not in scenario
    expected = read(folder / "expected.json")
    assert expected["allowed"] is False
    assert expected["gates"]["filing"]["status"] == "fail"
    assert "filing: fail" in run.stdout
    again = mlgate(
        "policy", "scenario", "new", "filing_pending_again", "--policies", str(policies)
    )
    assert "exists" in one_error_line(again)
    assert mlgate("policy", "verify", "--policies", str(policies)).exit_code == 0


def test_scenario_new_marks_a_forged_case_and_refuses_bad_names(
    policies: Path, tmp_path: Path
) -> None:
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps({"facts": {"audience": "internal"}}))
    run = mlgate(
        "policy", "scenario", "new", "audience_lie", "--patch", str(patch),
        "--policies", str(policies),
    )  # fmt: skip
    assert run.exit_code == 0, run.stdout + run.stderr
    assert read(policies / "scenarios" / "audience_lie" / "scenario.json")["forged"] is True
    bad = mlgate("policy", "scenario", "new", "Bad-Name", "--policies", str(policies))
    assert "expected lower-case letters" in one_error_line(bad)
    missing = mlgate(
        "policy", "scenario", "new", "x", "--from", "nope", "--policies", str(policies)
    )
    assert "no scenario 'nope'" in one_error_line(missing)
    assert not (policies / "scenarios" / "x").exists()


def test_regen_after_a_tighter_max_age_rewrites_only_what_changed(policies: Path) -> None:
    edit_config(policies, assessment={"max_age_days": 30})  # the base's assessment is 60 days old
    before = mlgate("policy", "verify", "--policies", str(policies))
    assert before.exit_code == 1
    run = mlgate("policy", "scenario", "regen", "--policies", str(policies))
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "all_pass:\n  allowed: true -> false\n" in run.stdout
    assert "  gates.assessment: pass -> fail [assessment.expired]\n" in run.stdout
    # Cases pinning their own max_age_days do not move.
    assert "assessment_366_days:" not in run.stdout
    assert read(policies / "scenarios" / "all_pass" / "expected.json")["allowed"] is False
    after = mlgate("policy", "verify", "--policies", str(policies))
    # The corpus holds again; the one Rego test pinning the shipped 365 on purpose fails.
    assert re.search(r"^corpus: \d+ passed, 0 failed", after.stdout, re.MULTILINE)
    failing = [ln for ln in after.stdout.splitlines() if ln.startswith("  FAIL")]
    assert len(failing) == 1 and "shipped_data_test" in failing[0] and "365" in failing[0]
    again = mlgate("policy", "scenario", "regen", "all_pass", "--policies", str(policies))
    assert again.stdout.strip().endswith("0 expectation(s) changed, 1 unchanged")


def test_regen_refuses_when_the_engines_disagree(
    policies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two real engines, one of them fed other policy data: they decide differently."""
    from dataclasses import replace

    from mlgate import scenarios
    from mlgate.engine.embedded import EmbeddedEngine

    def other(policy_set: Any) -> Any:
        config = json.loads(json.dumps(policy_set.data))
        config["mlgate"]["config"]["assessment"]["max_age_days"] = 1
        return EmbeddedEngine(replace(policy_set, data=config))

    monkeypatch.setattr(scenarios, "local_engines", lambda: {"embedded": EmbeddedEngine,
                                                             "opa": other})  # fmt: skip
    before = (policies / "scenarios" / "all_pass" / "expected.json").read_text()
    run = mlgate("policy", "scenario", "regen", "--policies", str(policies))
    assert run.exit_code == 1
    assert (
        "REFUSED all_pass: engines disagree (embedded -> opa: allowed: true -> false" in run.stdout
    )
    assert "nothing written" in run.stdout
    assert (policies / "scenarios" / "all_pass" / "expected.json").read_text() == before
