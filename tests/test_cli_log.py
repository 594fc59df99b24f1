"""``mlgate log``: the release managers' view of the decision log (sqlite)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers import decide, mlgate
from mlgate.decisionlog import DecisionLog, LogEntry
from mlgate.models import Decision, GateResult


@dataclass
class Logged:
    url: str
    blocked: LogEntry  # image-generator v3 -> production, alice via server
    warned: LogEntry  # image-generator v3 -> staging (warn: allowed), carol via cli
    allowed: LogEntry  # public-chatbot v3 -> production, bob via cli


@pytest.fixture
def logged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Logged:
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with DecisionLog(url) as log:
        for (decision, gate_input), actor, source in (
            (decide("blocked"), "alice", "server"),
            (decide("allowed"), "bob", "cli"),
            (decide("blocked", target="staging"), "carol", "cli"),
        ):
            log.append(decision, gate_input, actor=actor, source=source)
        by_who = {e.actor: e for e in log.entries()}
    return Logged(url, blocked=by_who["alice"], warned=by_who["carol"], allowed=by_who["bob"])


def _gate(decision: Decision, gate_id: str) -> GateResult:
    return next(g for g in decision.gates if g.id == gate_id)


def _when(entry: LogEntry) -> str:
    return entry.created_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _failing_lines(entry: LogEntry, label: str) -> list[str]:
    filing = _gate(entry.decision, "filing")
    labeling = _gate(entry.decision, "labeling")
    # The wording is policy METADATA; the test pins where it goes, not what it says.
    assert filing.remediation and labeling.remediation
    return [
        f"  {label} filing ({filing.title}): filing.not_completed",
        f"    - {filing.violations[0].message}",
        f"    remediation: {filing.remediation}",
        f"  {label} labeling ({labeling.title}): labeling.implicit_disabled",
        f"    - {labeling.violations[0].message}",
        f"    remediation: {labeling.remediation}",
    ]


def _head_lines(entry: LogEntry, verdict: str) -> list[str]:
    return [
        f"{verdict}  {entry.model} v{entry.version} -> {entry.target}  "
        f"(enforcement {entry.enforcement})",
        f"  when {_when(entry)}  who {entry.actor}  source {entry.source}",
        f"  decision {entry.decision_id}  engine embedded  policy {entry.policy_revision}",
    ]


def test_table_shows_blocked_first_with_codes_messages_and_remediation(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url)
    assert run.exit_code == 0, run.stderr
    expected = [
        f"Decision log {logged.url}: 3 entries, 1 blocked",
        "",
        *_head_lines(logged.blocked, "BLOCKED"),
        *_failing_lines(logged.blocked, "FAIL"),
        "",
        *_head_lines(logged.warned, "ALLOWED"),
        *_failing_lines(logged.warned, "WARN"),
        "",
        *_head_lines(logged.allowed, "ALLOWED"),
        "",
    ]
    assert run.stdout == "\n".join(expected)
    assert run.stderr == ""


def test_json_is_a_list_of_entries_with_their_decision(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--format", "json")
    assert run.exit_code == 0, run.stderr
    documents = run.json()
    assert [d["decision_id"] for d in documents] == [
        logged.blocked.decision_id,
        logged.warned.decision_id,
        logged.allowed.decision_id,
    ]
    first = documents[0]
    assert {k: first[k] for k in ("model", "version", "target", "allowed", "enforcement",
                                  "in_scope", "actor", "source", "engine")} == {
        "model": "image-generator",
        "version": "3",
        "target": "production",
        "allowed": False,
        "enforcement": "deny",
        "in_scope": True,
        "actor": "alice",
        "source": "server",
        "engine": "embedded",
    }
    assert first["failing_codes"] == ["filing.not_completed", "labeling.implicit_disabled"]
    assert first["input_sha256"] == logged.blocked.input_sha256
    assert datetime.fromisoformat(first["created_at"]) == logged.blocked.created_at
    assert first["created_at"].endswith("Z")
    assert Decision.model_validate(first["decision"]) == logged.blocked.decision
    assert "gate_input" not in first


def test_blocked_only(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--blocked", "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert [d["decision_id"] for d in run.json()] == [logged.blocked.decision_id]


def test_table_blocked_only(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--blocked")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.startswith(f"Decision log {logged.url}: 1 entry, 1 blocked\n\nBLOCKED  ")
    assert "ALLOWED" not in run.stdout


def test_model_filter(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--model", "public-chatbot", "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert [d["decision_id"] for d in run.json()] == [logged.allowed.decision_id]


@pytest.mark.parametrize("style", ["utc", "offset", "naive"])
def test_since_a_datetime_is_inclusive(logged: Logged, style: str) -> None:
    # The allowed entry was logged second: it and the later warned one are shown.
    moment = logged.allowed.created_at
    if style == "utc":
        since = moment.isoformat().replace("+00:00", "Z")
    elif style == "offset":
        since = moment.astimezone(timezone(timedelta(hours=8))).isoformat()
    else:
        since = moment.replace(tzinfo=None).isoformat()
    run = mlgate("log", "--decision-log", logged.url, "--since", since, "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert [d["decision_id"] for d in run.json()] == [
        logged.warned.decision_id,
        logged.allowed.decision_id,
    ]


def test_since_a_date(logged: Logged) -> None:
    today = logged.blocked.created_at.date()
    run = mlgate("log", "--decision-log", logged.url, "--since", today.isoformat(), "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert len(run.json()) == 3

    tomorrow = (today + timedelta(days=1)).isoformat()
    run = mlgate("log", "--decision-log", logged.url, "--since", tomorrow, "--blocked")
    assert run.exit_code == 0, run.stderr
    assert run.stdout == (
        f"No logged decisions match (blocked, since {tomorrow}T00:00:00Z) in {logged.url}.\n"
    )


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "01/05/2026", ""])
def test_a_bad_since_is_exit_2_with_one_line(logged: Logged, bad: str) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--since", bad)
    assert run.exit_code == 2
    assert run.stdout == ""
    assert run.stderr == (
        f"mlgate: error: --since {bad!r}: expected YYYY-MM-DD or an ISO 8601 datetime "
        "such as 2026-05-01T09:30:00Z\n"
    )


def test_limit(logged: Logged) -> None:
    run = mlgate("log", "--decision-log", logged.url, "--limit", "2", "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert [d["decision_id"] for d in run.json()] == [
        logged.blocked.decision_id,
        logged.warned.decision_id,
    ]


def test_an_empty_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    run = mlgate("log", "--decision-log", url)
    assert (run.exit_code, run.stdout, run.stderr) == (0, f"No logged decisions in {url}.\n", "")
    run = mlgate("log", "--decision-log", url, "--model", "x", "--format", "json")
    assert (run.exit_code, run.stdout) == (0, "[]\n")


def test_output_file(logged: Logged, tmp_path: Path) -> None:
    out = tmp_path / "log.json"
    run = mlgate("log", "--decision-log", logged.url, "-f", "json", "--output", str(out))
    assert (run.exit_code, run.stdout) == (0, "")
    shown = mlgate("log", "--decision-log", logged.url, "-f", "json")
    assert out.read_text(encoding="utf-8") == shown.stdout


def test_the_log_is_found_beside_a_sqlite_tracking_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    decision, gate_input = decide("blocked")
    with DecisionLog(f"sqlite:///{tmp_path / 'mlgate-decisions.db'}") as log:
        log.append(decision, gate_input, actor="alice", source="cli")
    run = mlgate("log", "--tracking-uri", f"sqlite:///{tmp_path / 'mlruns.db'}", "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert [d["decision_id"] for d in run.json()] == [decision.decision_id]

    # MLGATE_DECISION_LOG wins over the tracking URI.
    monkeypatch.setenv("MLGATE_DECISION_LOG", f"sqlite:///{tmp_path / 'other.db'}")
    run = mlgate("log", "--tracking-uri", f"sqlite:///{tmp_path / 'mlruns.db'}", "-f", "json")
    assert (run.exit_code, run.json()) == (0, [])


def test_an_unreachable_log_is_exit_2_with_the_password_masked() -> None:
    run = mlgate("log", "--decision-log", "postgresql://gate:s3cret@127.0.0.1:1/log")
    assert run.exit_code == 2
    assert run.stderr.startswith(
        "mlgate: error: decision log postgresql://gate:***@127.0.0.1:1/log: cannot connect: "
    )
    assert run.stderr.count("\n") == 1
    assert "s3cret" not in run.stderr
