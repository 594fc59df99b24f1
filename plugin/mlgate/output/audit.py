"""The text of ``mlgate audit`` and ``mlgate policy impact``: summaries, the blocked
holdings explained, and the flips between two policy revisions."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..textsafe import printable

if TYPE_CHECKING:
    from ..audit import AuditResult, Flip, ImpactResult
    from ..models import Decision


def summary_line(result: AuditResult, where: str, revision: str) -> str:
    holdings = len(result.decisions)
    noun = "holding" if holdings == 1 else "holdings"
    blocked = len(result.blocked)
    return (
        f"audit: {holdings} protected {noun} in {result.versions_scanned} model "
        f"version(s) of {where}, policy revision {revision or 'none'}: {blocked} blocked, "
        f"{holdings - blocked} allowed"
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
    and github show the blocked ones, each explained, then the summary line. ``options``
    go to the sarif renderer (see ``sarif_options``)."""
    from . import render

    if fmt == "json":
        documents = [d.model_dump(mode="json") for d in result.decisions]
        return json.dumps(documents, indent=2) + "\n"
    if fmt in ("junit", "sarif"):
        return render(fmt, result.decisions, **(options or {}))
    blocked = result.blocked
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


def _revision(revision: str) -> str:
    return revision[:12] if revision else "none"


def impact_header(result: ImpactResult, where: str, refs: tuple[str, str], label: str) -> str:
    base, head = refs
    return (
        f"policy impact: {label} at {base} ({_revision(result.base_revision)}) -> "
        f"{head} ({_revision(result.head_revision)}) on {where}"
    )


def impact_counts(result: ImpactResult) -> str:
    flips = len(result.flips)
    return (
        f"{result.evaluated} decision(s) evaluated: {flips} flip(s) "
        f"({len(result.to_blocked)} allowed -> blocked, {len(result.to_allowed)} blocked -> "
        f"allowed), {result.allowed_both} allowed and {result.blocked_both} blocked under both"
    )


def _subject(flip: Flip) -> str:
    from .common import single_line

    return single_line(f"{flip.model} v{flip.version} -> {flip.target}")


def render_impact_table(result: ImpactResult, header: str) -> str:
    from .common import single_line

    lines = [header, impact_counts(result)]
    for flip in result.flips:
        lines += ["", f"FLIP {_subject(flip)}: {flip.direction}"]
        lines += [f"  + {v.code}  {single_line(v.message)}" for v in flip.added]
        lines += [f"  - {v.code}  {single_line(v.message)}" for v in flip.removed]
    return "\n".join(printable(line) for line in lines) + "\n"


def render_impact_markdown(result: ImpactResult, header: str) -> str:
    from .markdown import md_text

    flips = len(result.flips)
    lines = [
        f"## mlgate policy impact: {flips} flip{'' if flips == 1 else 's'}",
        "",
        md_text(header),
        "",
        md_text(impact_counts(result)),
    ]
    if result.flips:
        lines += [
            "",
            "| Model version | Flip | Violations added | Violations removed |",
            "| --- | --- | --- | --- |",
        ]
        for flip in result.flips:
            added = "<br>".join(f"`{v.code}` {md_text(v.message)}" for v in flip.added)
            removed = "<br>".join(f"`{v.code}` {md_text(v.message)}" for v in flip.removed)
            lines.append(
                f"| {md_text(_subject(flip))} | **{flip.direction}** | {added} | {removed} |"
            )
    return "\n".join(printable(line) for line in lines) + "\n"


def render_impact_json(result: ImpactResult, refs: tuple[str, str], label: str) -> str:
    document: dict[str, Any] = {
        "policies": label,
        "base": {"ref": refs[0], "revision": result.base_revision},
        "head": {"ref": refs[1], "revision": result.head_revision},
        "evaluated": result.evaluated,
        "allowed_to_blocked": len(result.to_blocked),
        "blocked_to_allowed": len(result.to_allowed),
        "allowed_both": result.allowed_both,
        "blocked_both": result.blocked_both,
        "flips": [f.as_document() for f in result.flips],
    }
    return json.dumps(document, indent=2) + "\n"
