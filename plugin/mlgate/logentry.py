"""A logged decision as Python sees it, whichever record it came from.

:class:`LogEntry` (one row of the decision log, or one entry of a server's record), the
current state of each model and target built from entries, and :class:`DecisionRecord`:
what :class:`mlgate.decisionlog.DecisionLog` (a database) and
:class:`mlgate.serverrecord.ServerRecord` (a tracking server's record over HTTP) both are,
so callers take either. No SQLAlchemy here: reading a server's record does not load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, runtime_checkable

from .errors import MlgateError, one_line
from .models import Decision

SOURCES: tuple[str, ...] = ("cli", "server", "audit")
# Entries read to build the current state (newest first). Attempt counts cover this window.
CURRENT_WINDOW = 5000


class DecisionLogError(MlgateError):
    """The decision log cannot be opened, read or appended to (exit 2, one line)."""


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@dataclass(frozen=True)
class LogEntry:
    """One logged decision: the row's columns, with the two JSON documents parsed."""

    id: int
    decision_id: str
    model: str
    version: str
    target: str
    allowed: bool
    enforcement: str
    in_scope: bool | None
    failing_codes: list[str]
    decision: Decision
    gate_input: dict[str, Any]
    input_sha256: str
    policy_revision: str
    engine: str
    actor: str
    source: str
    created_at: datetime

    def as_document(self, *, with_input: bool = False) -> dict[str, Any]:
        """Entry metadata plus the decision document (JSON-ready); the gate input only
        when asked (``mlgate audit`` replays it; it carries the whole manifest)."""
        document = {
            "id": self.id,
            "decision_id": self.decision_id,
            "model": self.model,
            "version": self.version,
            "target": self.target,
            "allowed": self.allowed,
            "enforcement": self.enforcement,
            "in_scope": self.in_scope,
            "failing_codes": list(self.failing_codes),
            "input_sha256": self.input_sha256,
            "policy_revision": self.policy_revision,
            "engine": self.engine,
            "actor": self.actor,
            "source": self.source,
            "created_at": rfc3339(self.created_at),
            "decision": self.decision.model_dump(mode="json"),
        }
        if with_input:
            document["gate_input"] = self.gate_input
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LogEntry:
        """The entry :meth:`as_document` (with the input) describes: a server's record."""
        try:
            return cls(
                id=int(document["id"]),
                decision_id=str(document["decision_id"]),
                model=str(document["model"]),
                version=str(document["version"]),
                target=str(document["target"]),
                allowed=bool(document["allowed"]),
                enforcement=str(document["enforcement"]),
                in_scope=document.get("in_scope"),
                failing_codes=[str(c) for c in document.get("failing_codes") or []],
                decision=Decision.model_validate(document["decision"]),
                gate_input=dict(document.get("gate_input") or {}),
                input_sha256=str(document["input_sha256"]),
                policy_revision=str(document.get("policy_revision") or ""),
                engine=str(document["engine"]),
                actor=str(document["actor"]),
                source=str(document["source"]),
                created_at=as_utc(datetime.fromisoformat(document["created_at"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionLogError(
                f"decision record: an entry is malformed: {one_line(str(exc))[:200]}"
            ) from exc


def rfc3339(moment: datetime, *, timespec: str = "microseconds") -> str:
    return as_utc(moment).isoformat(timespec=timespec).replace("+00:00", "Z")



@runtime_checkable
class DecisionRecord(Protocol):
    """Where decisions are read: the local decision log or a tracking server's record."""

    masked_url: str

    def entries(
        self,
        *,
        blocked_only: bool = False,
        allowed_only: bool = False,
        model: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
        version: str | None = None,
        target: str | None = None,
        decision_id: str | None = None,
    ) -> list[LogEntry]:
        """Logged decisions, filtered; ``limit`` at most."""
        ...

    def last_allowed(self, model: str, version: str, target: str) -> LogEntry | None:
        """The most recent allowed decision for promoting ``model`` ``version`` to ``target``."""
        ...

    def close(self) -> None:
        """Release what the record holds."""
        ...

    def __enter__(self) -> Self:
        ...

    def __exit__(self, *exc_info: object) -> None:
        ...


# --------------------------------------------------------------------------- current state



@dataclass(frozen=True)
class AttemptGroup:
    """Consecutive decisions on one model and target with the same version, outcome and
    failing codes (20 identical retries are one group); ``entries`` newest first."""

    entries: tuple[LogEntry, ...]
    superseded_by: LogEntry | None  # a later allowed decision on the same model and target

    @property
    def latest(self) -> LogEntry:
        return self.entries[0]

    @property
    def first(self) -> LogEntry:
        return self.entries[-1]

    def as_document(self) -> dict[str, Any]:
        later = self.superseded_by
        return {
            "version": self.latest.version,
            "outcome": "allowed" if self.latest.allowed else "blocked",
            "failing_codes": list(self.latest.failing_codes),
            "count": len(self.entries),
            "first_at": rfc3339(self.first.created_at),
            "last_at": rfc3339(self.latest.created_at),
            "latest_decision_id": self.latest.decision_id,
            "superseded_by": None if later is None else {
                "decision_id": later.decision_id,
                "version": later.version,
                "at": rfc3339(later.created_at),
            },
        }


@dataclass(frozen=True)
class TargetState:
    """Where one model stands for one target now: its latest decision and its history."""

    model: str
    target: str
    groups: tuple[AttemptGroup, ...]  # newest first

    @property
    def latest(self) -> LogEntry:
        return self.groups[0].latest

    @property
    def blocked_now(self) -> bool:
        return not self.latest.allowed

    @property
    def attempts(self) -> int:
        return sum(len(g.entries) for g in self.groups)

    @property
    def last_allowed(self) -> LogEntry | None:
        return next((g.latest for g in self.groups if g.latest.allowed), None)

    def as_document(self) -> dict[str, Any]:
        allowed = self.last_allowed
        return {
            "model": self.model,
            "target": self.target,
            "state": "blocked" if self.blocked_now else "allowed",
            "attempts": self.attempts,
            "latest": self.latest.as_document(),
            "last_allowed_version": None if allowed is None else allowed.version,
            "groups": [g.as_document() for g in self.groups],
        }


def _group_key(entry: LogEntry) -> tuple[str, bool, tuple[str, ...]]:
    return (entry.version, entry.allowed, tuple(entry.failing_codes))


def current_state(entries: list[LogEntry]) -> list[TargetState]:
    """Per model and target: blocked or allowed now (the latest decision), attempts,
    repeated attempts grouped, and blocks marked superseded by a later allowed decision.

    Blocked-now targets first, then by latest decision, newest first.
    """
    by_target: dict[tuple[str, str], list[LogEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True):
        by_target.setdefault((entry.model, entry.target), []).append(entry)
    states = [
        TargetState(model, target, _groups(history))
        for (model, target), history in by_target.items()
    ]
    states.sort(key=lambda s: (s.latest.created_at, s.latest.id), reverse=True)
    states.sort(key=lambda s: not s.blocked_now)  # stable: blocked first
    return states


def _groups(history: list[LogEntry]) -> tuple[AttemptGroup, ...]:
    """``history`` newest first -> groups newest first, each knowing the earliest allowed
    decision after it (walking back in time, the last allowed seen is that one)."""
    runs: list[list[LogEntry]] = []
    for entry in history:
        if runs and _group_key(runs[-1][-1]) == _group_key(entry):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    groups: list[AttemptGroup] = []
    next_allowed: LogEntry | None = None
    for run in runs:
        superseded = None if run[0].allowed else next_allowed
        groups.append(AttemptGroup(tuple(run), superseded))
        if run[0].allowed:
            next_allowed = run[-1]  # the earliest allowed decision of this run
    return tuple(groups)
