"""The text of ``mlgate policy impact``: what is compared, the policy-data and wording
changes, the flips, the violations that change on versions blocked on both sides, and
the versions that will be blocked within N days. The JSON shape is documented in
:mod:`mlgate.impact`."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..textsafe import printable

if TYPE_CHECKING:
    from ..impact import Expiring, Flip, ImpactResult, ValueChange, WordingChange


def _revision(revision: str) -> str:
    return revision[:12] if revision else "none"


def comparing_line(
    label: str,
    base: tuple[str, str],
    head: tuple[str | None, str],
    *,
    uncommitted: bool,
) -> str:
    """What is compared with what: ``base`` and ``head`` are (ref, revision); a head
    ref of None is the working tree, which ``uncommitted`` says differs from the base
    ref's commit or not."""
    directory = label.rstrip("/") + "/"
    base_ref, base_rev = base
    head_ref, head_rev = head
    against = f"{base_ref} ({_revision(base_rev)})"
    if head_ref is None:
        state = "uncommitted changes" if uncommitted else "no uncommitted changes"
        return f"comparing the working tree of {directory} ({state}) with {against}"
    return f"comparing {directory} at {head_ref} ({_revision(head_rev)}) with {against}"


def impact_counts(result: ImpactResult) -> str:
    flips = len(result.flips)
    return (
        f"{result.evaluated} decision(s) evaluated: {flips} flip(s) "
        f"({len(result.to_blocked)} allowed -> blocked, {len(result.to_allowed)} blocked -> "
        f"allowed), {result.allowed_both} allowed and {result.blocked_both} blocked under both"
    )


def more_counts(result: ImpactResult) -> str:
    line = f"{len(result.changed)} blocked under both with different violations"
    if result.expiring_within:
        line += (
            f"; {len(result.expiring)} allowed now, blocked within "
            f"{result.expiring_within} day(s) under the head policies"
        )
    return line


def _shown(value: Any) -> str:
    if value is None:
        return "absent"
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def data_line(change: ValueChange) -> str:
    return f"{change.key}: {_shown(change.base)} -> {_shown(change.head)}"


def wording_lines(change: WordingChange) -> list[str]:
    from .common import single_line

    lines = [f"{change.code} ({change.change})"]
    for name, field in change.fields.items():
        if change.change == "added":
            lines.append(f"  {name}: {_shown(single_line(field.head or ''))}")
        elif change.change == "removed":
            lines.append(f"  {name}: {_shown(single_line(field.base or ''))}")
        else:
            old, new = (single_line(v) if v is not None else None for v in (field.base, field.head))
            lines.append(f"  {name}: {_shown(old)} -> {_shown(new)}")
    return lines


def _subject(item: Flip | Expiring) -> str:
    from .common import single_line

    return single_line(f"{item.model} v{item.version} -> {item.target}")


def _expiry(item: Expiring, days: int) -> str:
    return f"blocked from {item.blocked_from.isoformat()} (within {days} days)"


def render_impact_table(result: ImpactResult, header: str) -> str:
    from .common import single_line

    lines = [*header.splitlines(), impact_counts(result), more_counts(result)]
    if result.data_changes:
        lines += ["", f"policy data: {len(result.data_changes)} change(s)"]
        lines += [f"  {data_line(c)}" for c in result.data_changes]
    if result.wording_changes:
        lines += ["", f"wording: {len(result.wording_changes)} change(s)"]
        lines += [f"  {line}" for c in result.wording_changes for line in wording_lines(c)]
    for title, pairs in (("FLIP", result.flips), ("VIOLATIONS CHANGED", result.changed)):
        for flip in pairs:
            lines += ["", f"{title} {_subject(flip)}: {flip.direction}"]
            lines += [f"  + {v.code}  {single_line(v.message)}" for v in flip.added]
            lines += [f"  - {v.code}  {single_line(v.message)}" for v in flip.removed]
    for item in result.expiring:
        lines += ["", f"EXPIRING {_subject(item)}: {_expiry(item, result.expiring_within)}"]
        lines += [f"  + {v.code}  {single_line(v.message)}" for v in item.added]
    return "\n".join(printable(line) for line in lines) + "\n"


def _codes(changes: list[Any]) -> str:
    from .markdown import md_text

    return "<br>".join(f"`{v.code}` {md_text(v.message)}" for v in changes)


def render_impact_markdown(result: ImpactResult, header: str) -> str:
    from .markdown import md_text

    flips = len(result.flips)
    lines = [f"## mlgate policy impact: {flips} flip{'' if flips == 1 else 's'}", ""]
    lines += [md_text(line) + "  " for line in header.splitlines()]
    lines += ["", md_text(impact_counts(result)) + "  ", md_text(more_counts(result))]
    if result.data_changes:
        lines += ["", "### Policy data", "", "| Key | Base | Head |", "| --- | --- | --- |"]
        lines += [
            f"| {md_text(c.key)} | {md_text(_shown(c.base))} | {md_text(_shown(c.head))} |"
            for c in result.data_changes
        ]
    if result.wording_changes:
        lines += ["", "### Wording", ""]
        lines += [
            f"- {md_text(line.strip())}" if not line.startswith(" ") else
            f"  - {md_text(line.strip())}"
            for c in result.wording_changes
            for line in wording_lines(c)
        ]
    if result.flips or result.changed:
        lines += [
            "",
            "| Model version | Flip | Violations added | Violations removed |",
            "| --- | --- | --- | --- |",
        ]
        for flip in [*result.flips, *result.changed]:
            lines.append(
                f"| {md_text(_subject(flip))} | **{flip.direction}** | {_codes(flip.added)} | "
                f"{_codes(flip.removed)} |"
            )
    if result.expiring:
        lines += [
            "",
            f"### Blocked within {result.expiring_within} days",
            "",
            "| Model version | Blocked from | Violations |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {md_text(_subject(e))} | {e.blocked_from.isoformat()} | {_codes(e.added)} |"
            for e in result.expiring
        ]
    return "\n".join(printable(line) for line in lines) + "\n"


def render_impact_json(result: ImpactResult, meta: dict[str, Any]) -> str:
    """``meta``: policies, comparing, warnings, base and head (see :mod:`mlgate.impact`)."""
    document: dict[str, Any] = {
        **meta,
        "base": {**meta["base"], "revision": result.base_revision},
        "head": {**meta["head"], "revision": result.head_revision},
        "evaluated": result.evaluated,
        "allowed_to_blocked": len(result.to_blocked),
        "blocked_to_allowed": len(result.to_allowed),
        "allowed_both": result.allowed_both,
        "blocked_both": result.blocked_both,
        "data_changes": [
            {"key": c.key, "change": c.change, "base": c.base, "head": c.head}
            for c in result.data_changes
        ],
        "wording_changes": [
            {
                "code": c.code,
                "change": c.change,
                "fields": {n: {"base": f.base, "head": f.head} for n, f in c.fields.items()},
            }
            for c in result.wording_changes
        ],
        "flips": [f.as_document() for f in result.flips],
        "violations_changed": [f.as_document() for f in result.changed],
        "expiring_within_days": result.expiring_within,
        "expiring": [e.as_document() for e in result.expiring],
    }
    return json.dumps(document, indent=2) + "\n"
