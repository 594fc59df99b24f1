"""``--format markdown``: a summary for PR comments and GitHub step summaries.

Verdict heading (a status word, no emoji), a gate table, then per failing or waived gate
its violations, the fix and the references. Every value that comes from the registry or
from tags (model names, messages, waiver ids) goes through :func:`md_text`, so a ``|`` or
a newline in a tag cannot break the table or inject markup.
"""

from __future__ import annotations

import re

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

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the ones that
# start markup mid-line (emphasis, code, links, HTML, entities, tables, strikethrough).
_MARKUP = re.compile(r"([\\`*_\[\]<>&|~#!])")


def md_text(value: str) -> str:
    """``value`` as literal inline text on one line, safe inside a table cell."""
    return _MARKUP.sub(r"\\\1", single_line(value))


def render(decisions: list[Decision]) -> str:
    parts = []
    if len(decisions) > 1:
        parts.append(f"## mlgate: {count_line(decisions)}\n")
    parts.extend(_decision_section(d) for d in decisions)
    return "\n".join(parts)


def _heading_verdict(decision: Decision) -> str:
    """``BLOCKED``, or ``ALLOWED: every gate passed`` (the enforcement line follows)."""
    reason = verdict_reason(decision)
    return verdict(decision) + (reason if reason.startswith(":") else "")


def _decision_section(decision: Decision) -> str:
    lines = [
        f"### mlgate: {md_text(subject(decision))}: {md_text(_heading_verdict(decision))}",
        "",
        f"Enforcement: **{decision.enforcement}** · In scope: **{scope_text(decision.in_scope)}**",
    ]
    note = failure_note(decision)
    if note:
        lines += ["", f"> **Warning:** {note}."]
    lines += [f"> **Warning:** {md_text(w)}" for w in decision.warnings]
    lines += ["", *_gate_table(decision.gates)]
    for gate in gates_to_explain(decision):
        lines += ["", *_gate_details(gate)]
    lines += ["", _footer(decision)]
    return "\n".join(lines) + "\n"


def _gate_table(gates: list[GateResult]) -> list[str]:
    rows = ["| Gate | Status | Codes |", "| --- | --- | --- |"]
    for gate in gates:
        label = status_label(gate.status)
        status = f"**{label}**" if gate.status in ("fail", "error") else label
        codes = ", ".join(_code_cell(v) for v in gate.violations)
        rows.append(f"| {md_text(gate.title)} (`{gate.id}`) | {status} | {codes} |")
    return rows


def _code_cell(violation: Violation) -> str:
    cell = f"`{violation.code}`"
    if violation.waived_by:
        cell += f" ({md_text(waiver_note(violation))})"
    return cell


def _gate_details(gate: GateResult) -> list[str]:
    lines = [f"#### {status_label(gate.status)}: {md_text(gate.title)} (`{gate.id}`)", ""]
    lines += [_violation_item(v) for v in gate.violations]
    if gate.remediation:
        lines += ["", f"**Fix:** {md_text(gate.remediation)}"]
    if gate.references:
        lines += ["", f"**References:** {'; '.join(md_text(r) for r in gate.references)}"]
    return lines


def _violation_item(violation: Violation) -> str:
    item = f"- `{violation.code}` ({violation.severity}): {md_text(violation.message)}"
    if violation.waived_by:
        item += f" ({md_text(waiver_note(violation))})"
    return item


def _footer(decision: Decision) -> str:
    return (
        f"Decision `{decision.decision_id}` · policy {md_text(decision.policy_revision)} · "
        f"engine {decision.engine} · input `{short_digest(decision.input_sha256)}` · "
        f"evaluated {md_text(decision.evaluated_at)}"
    )
