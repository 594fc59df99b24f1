"""What every report format says the same way: verdict, statuses, counts, labels.

The formats differ in syntax only; the words a reader sees (BLOCKED, "would be blocked
under deny", the summary count) come from here so a table, a PR comment and a CI log never
disagree. Pure functions over :class:`~mlgate.models.Decision`, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import Decision, GateResult, Outcome, Violation

STATUS_LABELS: dict[str, str] = {
    "pass": "PASS",
    "fail": "FAIL",
    "waived": "WAIVED",
    "not_applicable": "N/A",
    "error": "ERROR",
}

SHORT_DIGEST = 12


def status_label(status: str) -> str:
    """The upper-case status word shown in every format (``N/A`` for not_applicable)."""
    return STATUS_LABELS.get(status, status.upper())


# The verdict word per outcome (Decision.outcome): a warned or out-of-scope decision is
# allowed; verdict_reason and the notes below say the rest.
VERDICTS: dict[Outcome, str] = {
    "allowed": "ALLOWED",
    "warn": "ALLOWED",
    "out of scope": "ALLOWED",
    "blocked": "BLOCKED",
}


def verdict(decision: Decision) -> str:
    return VERDICTS[decision.outcome]


def verdict_reason(decision: Decision) -> str:
    """What follows the verdict word: why it is what it is, never a bare "(enforcement
    deny)" beside ALLOWED, which reads as a contradiction."""
    if decision.outcome in ("blocked", "warn"):
        return f" (enforcement {decision.enforcement})"
    statuses = {g.status for g in decision.gates}
    if "waived" in statuses and "not_applicable" in statuses:
        return ": every gate passed, was waived or does not apply"
    if "waived" in statuses:
        return ": every gate passed or was waived"
    if "not_applicable" in statuses:
        return ": every gate passed or does not apply"
    return ": every gate passed"


def verdict_line(decision: Decision) -> str:
    """``ALLOWED: every gate passed``, ``BLOCKED (enforcement deny)``, ..."""
    return verdict(decision) + verdict_reason(decision)


def failing_gates(decision: Decision) -> list[GateResult]:
    """Gates that fail or errored, whatever the enforcement (warn mode reports them too)."""
    return decision.blocking_gates


def gates_to_explain(decision: Decision) -> list[GateResult]:
    """Failing, errored and waived gates: the ones whose violations a report spells out."""
    return [g for g in decision.gates if g.status in ("fail", "error", "waived")]


def would_block_under_deny(decision: Decision) -> bool:
    """Warn-mode decision that is allowed only because the target is not protected."""
    return decision.outcome == "warn"


def subject(decision: Decision) -> str:
    """``model vVERSION -> target``: how every format names a decision."""
    return single_line(f"{decision.model} v{decision.version} -> {decision.target}")


def model_uri(decision: Decision) -> str:
    return f"models:/{decision.model}/{decision.version}"


def scope_text(in_scope: bool | None) -> str:
    if in_scope is None:
        return "undecidable"
    return "yes" if in_scope else "no"


def short_digest(digest: str) -> str:
    return digest[:SHORT_DIGEST]


def failure_note(decision: Decision) -> str:
    """Why a decision with failing gates is still allowed, or '' when there is nothing to say."""
    if not would_block_under_deny(decision):
        return ""
    count = len(failing_gates(decision))
    return f"{plural(count, 'gate')} failing; would be blocked under deny"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def waiver_note(violation: Violation) -> str:
    """``waived by <id>``, or '' for a violation no waiver covers."""
    return f"waived by {violation.waived_by}" if violation.waived_by else ""


def decision_line(decision: Decision) -> str:
    """One line: verdict, enforcement and the failing gate ids."""
    line = f"{subject(decision)}: {verdict_line(decision)}"
    failing = failing_gates(decision)
    if failing:
        line += f"; failing: {', '.join(g.id for g in failing)}"
        if would_block_under_deny(decision):
            line += " (would be blocked under deny)"
    return line


def count_line(decisions: Iterable[Decision]) -> str:
    """``3 decisions: 1 blocked, 2 allowed (1 would be blocked under deny)``."""
    decisions = list(decisions)
    blocked = sum(1 for d in decisions if d.outcome == "blocked")
    warned = sum(1 for d in decisions if d.outcome == "warn")
    line = (
        f"{plural(len(decisions), 'decision')}: {blocked} blocked, "
        f"{len(decisions) - blocked} allowed"
    )
    if warned:
        line += f" ({warned} would be blocked under deny)"
    return line


def single_line(text: str) -> str:
    """``text`` on one line: a newline inside a tag value must not fake a new row or command."""
    return " ".join(text.split())


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))
