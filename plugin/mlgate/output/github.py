"""``--format github``: GitHub Actions workflow commands, then a one-line summary.

Per violation: ``::error`` when the decision blocks, ``::warning`` when it fails under warn
enforcement (allowed, but would be blocked under deny), ``::notice`` when a waiver covers
it::

    ::error title=<gate title> (<code>)::<message> — fix: <remediation>

With several decisions (``mlgate audit``) the message is prefixed with
``<model> v<version> -> <target>: `` so each annotation says which version it is about.
Values are escaped per the runner's rules (``%``, CR, LF in data; also ``:`` and ``,`` in
properties), so a tag value cannot end a command early or inject another one.

:func:`write_step_summary` appends the markdown report to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputError
from ..models import Decision, GateResult, Violation
from .common import count_line, decision_line, subject, waiver_note, would_block_under_deny


def escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render(decisions: list[Decision]) -> str:
    prefix_subject = len(decisions) > 1
    lines = [
        _command(d, g, v, prefix_subject)
        for d in decisions
        for g in d.gates
        for v in g.violations
        if _command_name(d, v)
    ]
    lines.extend(
        f"::warning title={escape_property('mlgate warning')}::{escape_data(w)}"
        for d in decisions
        for w in d.warnings
    )
    lines.extend(f"mlgate: {decision_line(d)}" for d in decisions)
    if len(decisions) > 1:
        lines.append(f"mlgate: {count_line(decisions)}")
    return "\n".join(lines) + "\n"


def _command_name(decision: Decision, violation: Violation) -> str:
    """``error``, ``warning``, ``notice``, or '' for a violation not worth an annotation."""
    if violation.waived_by:
        return "notice"
    if decision.outcome == "blocked":
        return "error"
    if would_block_under_deny(decision):
        return "warning"
    return ""


def _command(decision: Decision, gate: GateResult, violation: Violation, prefix: bool) -> str:
    title = escape_property(f"{gate.title} ({violation.code})")
    message = violation.message
    if violation.waived_by:
        message += f" — {waiver_note(violation)}"
    elif gate.remediation:
        message += f" — fix: {gate.remediation}"
    if prefix:
        message = f"{subject(decision)}: {message}"
    return f"::{_command_name(decision, violation)} title={title}::{escape_data(message)}"


def write_step_summary(decisions: list[Decision]) -> None:
    """Append the markdown report to ``$GITHUB_STEP_SUMMARY``; do nothing when it is unset."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    from .markdown import render as render_markdown

    try:
        with Path(target).open("a", encoding="utf-8") as summary:
            summary.write(render_markdown(decisions))
    except OSError as exc:
        raise InputError(
            f"GITHUB_STEP_SUMMARY={target}: cannot append the summary: {exc.strerror or exc}"
        ) from exc
