"""``mlgate log``: the release managers' view of the decision log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from ..textsafe import printable
from .common import OutputOpt, app, emit, guarded
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
        bool, typer.Option("--blocked", metavar="", help="Only blocked promotions.")
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
    current: Annotated[
        bool,
        typer.Option(
            "--current", metavar="",
            help="The current state per model and target (blocked now or allowed now, the "
            "latest decision, attempts, repeated attempts grouped, superseded blocks "
            "marked), as the server's /mlgate/ page opens.",
        ),
    ] = False,
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
    Against a tracking server (http, https) that runs the mlgate store, the record is the
    server's (its /mlgate/api/decisions, with MLflow's credentials); a server that serves
    none is an error naming where its record is. --decision-log reads a database instead.

    Examples:

        mlgate log --blocked --since 2026-05-01

        mlgate log --current --tracking-uri http://mlflow:5000
    """
    from ..serverrecord import open_record

    since_at = parse_since(since) if since is not None else None
    missing = _missing_local_log(decision_log, tracking_uri)
    if missing:
        emit(f"No decision log at {missing}: nothing has been logged there.\n", output)
        return
    with open_record(decision_log, tracking_uri) as log:
        masked = log.masked_url
        if current:
            states = _current_documents(log, model=model, since=since_at, blocked=blocked,
                                        limit=limit)
        else:
            entries = log.entries(blocked_only=blocked, model=model, since=since_at,
                                  limit=limit)
    if current:
        if fmt is LogFormat.json:
            text = json.dumps(states, indent=2, ensure_ascii=False) + "\n"
        else:
            text = render_current(states, masked)
        emit(text, output)
        return
    if fmt is LogFormat.json:
        text = json.dumps([e.as_document() for e in entries], indent=2, ensure_ascii=False) + "\n"
    elif entries:
        text = render_table(entries, masked)
    else:
        text = _empty_message(masked, blocked=blocked, model=model, since=since_at)
    emit(text, output)


def _missing_local_log(decision_log: str | None, tracking_uri: str | None) -> str | None:
    """The default local sqlite log when it does not exist: a read creates nothing."""
    from ..decisionlog import default_log_url
    from ..evidence import resolve_tracking_uri
    from ..serverrecord import is_server_uri
    from .audit import _sqlite_file

    if decision_log:
        return None
    uri = resolve_tracking_uri(tracking_uri)
    if is_server_uri(uri):
        return None
    url = default_log_url(uri)
    path = _sqlite_file(url)
    return url if path is not None and not os.path.exists(path) else None


def _current_documents(
    log: Any, *, model: str | None, since: datetime | None, blocked: bool, limit: int
) -> list[dict[str, Any]]:
    from ..decisionlog import CURRENT_WINDOW, current_state

    if hasattr(log, "current"):  # a server computes it over its own log
        return log.current(model=model, since=since, blocked_only=blocked, limit=limit)
    entries = log.entries(model=model, since=since, limit=CURRENT_WINDOW, newest_first=True)
    states = [s for s in current_state(entries) if s.blocked_now or not blocked]
    return [s.as_document() for s in states[:limit]]


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
    from ..output.common import single_line

    latest = LogEntry.from_document(state["latest"])
    now = "BLOCKED NOW" if state["state"] == "blocked" else "ALLOWED NOW"
    attempts = state["attempts"]
    held = state.get("last_allowed_version")
    # Names and codes are user input: each on one line, so a newline cannot fake a row.
    model, target = single_line(state["model"]), single_line(state["target"])
    lines = [
        f"{now}  {model} -> {target}  ({attempts} attempt{'' if attempts == 1 else 's'}; "
        f"latest v{single_line(latest.version)} at {_when(latest.created_at)} by "
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
