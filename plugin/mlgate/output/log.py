"""The decision log as text: ``mlgate log``'s table and current state, the demo's table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..textsafe import printable

if TYPE_CHECKING:
    from ..decisionlog import LogEntry


def render_current(states: list[dict[str, Any]], url: str) -> str:
    """The current state as text: one block per model and target, blocked now first."""
    if not states:
        return f"No logged decisions in {url}.\n"
    blocked = sum(1 for s in states if s["state"] == "blocked")
    lines = [f"Current state from {url}: {len(states)} model/target pair(s), "
             f"{blocked} blocked now", ""]
    for state in states:
        lines.extend(_state_lines(state))
        lines.append("")
    return "\n".join(lines)


def _state_lines(state: dict[str, Any]) -> list[str]:
    from ..decisionlog import LogEntry
    from .common import single_line

    latest = LogEntry.from_document(state["latest"])
    now = "BLOCKED NOW" if state["state"] == "blocked" else "ALLOWED NOW"
    attempts = state["attempts"]
    held = state.get("last_allowed_version")
    # Names and codes are user input: each on one line, so a newline cannot fake a row.
    model, target = single_line(state["model"]), single_line(state["target"])
    lines = [
        f"{now}  {model} -> {target}  ({attempts} attempt{'' if attempts == 1 else 's'}; "
        f"latest v{single_line(latest.version)} at {when(latest.created_at)} by "
        f"{single_line(latest.actor)}"
        + (f"; last allowed v{single_line(str(held))}" if held is not None else "") + ")"
    ]
    lines.extend(_entry_lines(latest)[2:])  # decision id, then the failing gates and fixes
    lines.append("  history:")
    for group in state["groups"]:
        codes = single_line(", ".join(group["failing_codes"]))
        span = group["last_at"] if group["count"] == 1 else (
            f"{group['first_at']} .. {group['last_at']}")
        line = (f"    {group['count']} x {group['outcome']} v{single_line(group['version'])}"
                f"{f' [{codes}]' if codes else ''}  {span}")
        later = group.get("superseded_by")
        if later:
            line += (f"  superseded by allowed v{single_line(later['version'])} "
                     f"(decision {later['decision_id']}) at {later['at']}")
        lines.append(line)
    return lines


def when(moment: datetime) -> str:
    from ..decisionlog import rfc3339

    return rfc3339(moment, timespec="seconds")


def render_table(entries: list[LogEntry], url: str) -> str:
    blocked = sum(1 for e in entries if e.decision.outcome == "blocked")
    count = f"{len(entries)} entry" if len(entries) == 1 else f"{len(entries)} entries"
    lines = [f"Decision log {url}: {count}, {blocked} blocked", ""]
    for entry in entries:
        lines.extend(_entry_lines(entry))
        lines.append("")
    # Model names, actors, targets and messages quote tag values: user input that must
    # not reach a terminal as escape sequences or fake a line of the log.
    return "\n".join(printable(line) for line in lines)


def _entry_lines(entry: LogEntry) -> list[str]:
    from .common import verdict

    d = entry.decision
    lines = [
        f"{verdict(d)}  {entry.model} v{entry.version} -> {entry.target}  "
        f"(enforcement {entry.enforcement})",
        f"  when {when(entry.created_at)}  who {entry.actor}  source {entry.source}",
        f"  decision {entry.decision_id}  engine {entry.engine}  "
        f"policy {entry.policy_revision}",
    ]
    if d.waivers_applied:
        lines.append(f"  waivers {', '.join(d.waivers_applied)}")
    for gate in d.blocking_gates:
        # A failing gate under warn enforcement did not block: say so.
        label = "ERROR" if gate.status == "error" else "WARN" if d.outcome == "warn" else "FAIL"
        unwaived = [v for v in gate.violations if not v.waived_by]
        codes = ", ".join(v.code for v in unwaived) or gate.status
        lines.append(f"  {label} {gate.id} ({gate.title}): {codes}")
        lines.extend(f"    - {v.message}" for v in unwaived)
        if gate.remediation:
            lines.append(f"    remediation: {gate.remediation}")
    return lines
