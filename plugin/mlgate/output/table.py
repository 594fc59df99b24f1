"""``--format table``: plain text for terminals and CI logs.

No rich, no third-party imports: this is the default format on ``mlgate check``'s fast
path. Color is opt-in (``render(..., color=True)``); :func:`wants_color` says whether a
stream should get it (a TTY, and ``NO_COLOR`` unset or empty, per no-color.org).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from ..models import Decision, GateResult, Violation
from .common import (
    count_line,
    failure_note,
    gates_to_explain,
    scope_text,
    short_digest,
    single_line,
    status_label,
    subject,
    verdict,
    verdict_reason,
    waiver_note,
)

_RESET = "\033[0m"
_STYLES: dict[str, str] = {
    "PASS": "\033[32m",
    "ALLOWED": "\033[1;32m",
    "FAIL": "\033[31m",
    "ERROR": "\033[31m",
    "BLOCKED": "\033[1;31m",
    "WAIVED": "\033[33m",
    "N/A": "\033[2m",
    "note": "\033[33m",
    "dim": "\033[2m",
}


def wants_color(stream: TextIO | None = None) -> bool:
    """True when ``stream`` (default stdout) is a terminal and NO_COLOR is not set."""
    stream = sys.stdout if stream is None else stream
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def render(decisions: list[Decision], *, color: bool = False) -> str:
    paint = _Painter(color)
    blocks = [_decision_block(d, paint) for d in decisions]
    if len(decisions) > 1:
        blocks.append(count_line(decisions) + "\n")
    return "\n".join(blocks)


class _Painter:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        if not self.enabled or style not in _STYLES:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def _decision_block(decision: Decision, paint: _Painter) -> str:
    word = verdict(decision)
    lines = [
        f"{subject(decision)}: {paint(word, word)}{verdict_reason(decision)}",
        f"in scope: {scope_text(decision.in_scope)}",
    ]
    note = failure_note(decision)
    if note:
        lines.append(paint(f"warning: {note}", "note"))
    lines.extend(paint(f"warning: {single_line(w)}", "note") for w in decision.warnings)
    lines.append("")
    lines.extend(_gate_rows(decision.gates, paint))
    for gate in gates_to_explain(decision):
        lines.append("")
        lines.extend(_gate_details(gate, paint))
    lines.append("")
    lines.extend(paint(line, "dim") for line in _footer(decision))
    return "\n".join(lines) + "\n"


def _gate_rows(gates: list[GateResult], paint: _Painter) -> list[str]:
    status_width = max(len(status_label(g.status)) for g in gates) if gates else 0
    id_width = max(len(g.id) for g in gates) if gates else 0
    rows = []
    for gate in gates:
        label = status_label(gate.status)
        padded = paint(label, label) + " " * (status_width - len(label))
        rows.append(f"  {padded}  {gate.id.ljust(id_width)}  {gate.title}")
    return rows


def _gate_details(gate: GateResult, paint: _Painter) -> list[str]:
    label = status_label(gate.status)
    lines = [f"{paint(label, label)} {gate.id}: {gate.title}"]
    lines.extend(_violation_line(v) for v in gate.violations)
    if gate.remediation:
        lines.append(f"  fix: {single_line(gate.remediation)}")
    if gate.references:
        lines.append(f"  references: {'; '.join(gate.references)}")
    return lines


def _violation_line(violation: Violation) -> str:
    line = f"  {violation.code}  {single_line(violation.message)}"
    if violation.waived_by:
        line += f"  [{waiver_note(violation)}]"
    return line


def _footer(decision: Decision) -> list[str]:
    return [
        f"decision_id {decision.decision_id}  evaluated_at {decision.evaluated_at}",
        f"policy_revision {decision.policy_revision}  engine {decision.engine}  "
        f"input_sha256 {short_digest(decision.input_sha256)}",
    ]
