"""The current state view of the decision log (``mlgate log --current``) on a local log."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers import decide, mlgate
from mlgate.decisionlog import DecisionLog, current_state


def append(log: DecisionLog, example: str, version: str, target: str = "production") -> None:
    decision, gate_input = decide(example, model="chat", version=version, target=target)
    log.append(decision, gate_input, actor="alice", source="cli")


def test_current_state_groups_retries_and_marks_superseded_blocks(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    with DecisionLog(url) as log:
        for _ in range(3):
            append(log, "blocked", "1")
        append(log, "allowed", "2")
        append(log, "blocked", "3")  # a later version blocked: blocked now again
        append(log, "blocked", "3", target="staging")  # warn target: allowed
        entries = log.entries(limit=100, newest_first=True)

    production, staging = (s for s in current_state(entries))
    assert (production.target, production.blocked_now, production.attempts) == (
        "production", True, 5
    )
    assert [(g.latest.version, len(g.entries)) for g in production.groups] == [
        ("3", 1), ("2", 1), ("1", 3)
    ]
    newest, allowed, retries = production.groups
    assert newest.superseded_by is None  # nothing allowed after it
    assert retries.superseded_by is not None and retries.superseded_by.version == "2"
    assert production.last_allowed is not None and production.last_allowed.version == "2"
    assert (staging.target, staging.blocked_now) == ("staging", False)

    run = mlgate("log", "--current", "--decision-log", url, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert [(d["target"], d["state"], d["attempts"]) for d in run.json()] == [
        ("production", "blocked", 5), ("staging", "allowed", 1)
    ]
    text = mlgate("log", "--current", "--decision-log", url).stdout
    assert "BLOCKED NOW  chat -> production  (5 attempts; latest v3" in text
    assert "last allowed v2" in text
    assert "3 x blocked v1 [filing.not_completed, labeling.implicit_disabled]" in text
    assert "superseded by allowed v2" in text


def test_log_reads_no_missing_local_file_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run = mlgate("log", "--blocked")
    assert run.exit_code == 0
    assert run.stdout.startswith("No decision log at sqlite:///mlgate-decisions.db")
    assert list(tmp_path.iterdir()) == []
