"""The text of ``mlgate audit``: the summary line and the blocked holdings explained
(the flips of ``mlgate policy impact`` are in :mod:`mlgate.output.impact`)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..audit import AuditResult
    from ..models import Decision


def summary_line(result: AuditResult, where: str, revision: str) -> str:
    holdings = len(result.decisions)
    noun = "holding" if holdings == 1 else "holdings"
    blocked = len(result.blocked)
    changed = len(result.files_changed)
    files = f" ({changed} with model files changed since approved)" if changed else ""
    return (
        f"audit: {holdings} protected {noun} in {result.versions_scanned} model "
        f"version(s) of {where}, policy revision {revision or 'none'}: {blocked} blocked, "
        f"{holdings - blocked} allowed{files}"
    )


def render_audit(
    result: AuditResult,
    fmt: str,
    summary: str,
    *,
    color: bool,
    options: dict[str, Any] | None = None,
) -> str:
    """json, junit and sarif carry every decision (a json list, always); table, markdown
    and github show the reported ones (blocked, or allowed with changed model files),
    each explained, then the summary line. ``options`` go to the sarif renderer (see
    ``sarif_options``)."""
    from . import render

    if fmt == "json":
        documents = [d.model_dump(mode="json") for d in result.decisions]
        return json.dumps(documents, indent=2) + "\n"
    if fmt in ("junit", "sarif"):
        return render(fmt, result.decisions, **(options or {}))
    blocked = result.reported
    if fmt == "github":
        # Rendered together, so each annotation is prefixed with its model version; the
        # warnings (the reasons) are prefixed here, since the renderer does not.
        text = render("github", [_warnings_with_subject(d) for d in blocked]) if blocked else ""
        return text + f"mlgate: {summary}\n"
    if fmt == "markdown":
        from .markdown import md_text

        return markdown_audit(blocked, f"## mlgate {md_text(summary)}\n")
    sections = [render("table", [d], color=color) for d in blocked]
    return "\n".join([*sections, summary + "\n"])


def _warnings_with_subject(decision: Decision) -> Decision:
    from .common import subject

    warnings = [f"{subject(decision)}: {w}" for w in decision.warnings]
    return decision.model_copy(update={"warnings": warnings})


def markdown_audit(blocked: list[Decision], heading: str) -> str:
    from . import render

    # One section each: the multi-decision heading would count only what is shown.
    return "\n".join([heading, *(render("markdown", [d]) for d in blocked)])
