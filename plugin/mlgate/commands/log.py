"""``mlgate log``: the release managers' view of the decision log."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from ..cli import OutputOpt, app, emit, guarded
from ..errors import InputError
from ..textsafe import printable
from .options import DecisionLogOpt, TrackingUriOpt

if TYPE_CHECKING:
    from ..decisionlog import LogEntry


class LogFormat(StrEnum):
    table = "table"
    json = "json"


def parse_since(value: str) -> datetime:
    """``YYYY-MM-DD`` (midnight) or an ISO 8601 datetime; UTC unless it carries an offset."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InputError(
            f"--since {value!r}: expected YYYY-MM-DD or an ISO 8601 datetime "
            "such as 2026-05-01T09:30:00Z"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@app.command("log")
@guarded
def log_command(
    blocked: Annotated[
        bool, typer.Option("--blocked", help="Only blocked promotions.")
    ] = False,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Only decisions on this registered model.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            "--since",
            help="Only decisions logged at or after DATE (YYYY-MM-DD or ISO datetime; UTC "
            "unless an offset is given).",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, help="At most N entries.")
    ] = 200,
    fmt: Annotated[
        LogFormat, typer.Option("--format", "-f", help="Report format.")
    ] = LogFormat.table,
    output: OutputOpt = None,
    decision_log: DecisionLogOpt = None,
    tracking_uri: TrackingUriOpt = None,
) -> None:
    """Show logged decisions: blocked promotions first, then newest first.

    Each entry names the model version and target, who asked and when, from where
    (cli, server, audit), and for every failing gate its codes, messages and remediation.

    Example:

        mlgate log --blocked --since 2026-05-01
    """
    from ..decisionlog import DecisionLog, default_log_url

    since_at = parse_since(since) if since is not None else None
    url = decision_log or default_log_url(tracking_uri)
    with DecisionLog(url) as log:
        entries = log.entries(blocked_only=blocked, model=model, since=since_at, limit=limit)
        masked = log.masked_url
    if fmt is LogFormat.json:
        text = json.dumps([e.as_document() for e in entries], indent=2, ensure_ascii=False) + "\n"
    elif entries:
        text = render_table(entries, masked)
    else:
        text = _empty_message(masked, blocked=blocked, model=model, since=since_at)
    emit(text, output)


def _empty_message(url: str, *, blocked: bool, model: str | None, since: datetime | None) -> str:
    filters = []
    if blocked:
        filters.append("blocked")
    if model is not None:
        filters.append(f"model {model}")
    if since is not None:
        filters.append(f"since {_when(since)}")
    if filters:
        return f"No logged decisions match ({', '.join(filters)}) in {url}.\n"
    return f"No logged decisions in {url}.\n"


def _when(moment: datetime) -> str:
    from ..decisionlog import rfc3339

    return rfc3339(moment, timespec="seconds")


def render_table(entries: list[LogEntry], url: str) -> str:
    blocked = sum(1 for e in entries if not e.allowed)
    count = f"{len(entries)} entry" if len(entries) == 1 else f"{len(entries)} entries"
    lines = [f"Decision log {url}: {count}, {blocked} blocked", ""]
    for entry in entries:
        lines.extend(_entry_lines(entry))
        lines.append("")
    # Model names, actors, targets and messages quote tag values: user input that must
    # not reach a terminal as escape sequences or fake a line of the log.
    return "\n".join(printable(line) for line in lines)


def _entry_lines(entry: LogEntry) -> list[str]:
    d = entry.decision
    verdict = "ALLOWED" if entry.allowed else "BLOCKED"
    lines = [
        f"{verdict}  {entry.model} v{entry.version} -> {entry.target}  "
        f"(enforcement {entry.enforcement})",
        f"  when {_when(entry.created_at)}  who {entry.actor}  source {entry.source}",
        f"  decision {entry.decision_id}  engine {entry.engine}  "
        f"policy {entry.policy_revision}",
    ]
    if d.waivers_applied:
        lines.append(f"  waivers {', '.join(d.waivers_applied)}")
    for gate in d.blocking_gates:
        # A failing gate under warn enforcement did not block: say so.
        label = "ERROR" if gate.status == "error" else "WARN" if entry.allowed else "FAIL"
        unwaived = [v for v in gate.violations if not v.waived_by]
        codes = ", ".join(v.code for v in unwaived) or gate.status
        lines.append(f"  {label} {gate.id} ({gate.title}): {codes}")
        lines.extend(f"    - {v.message}" for v in unwaived)
        if gate.remediation:
            lines.append(f"    remediation: {gate.remediation}")
    return lines
