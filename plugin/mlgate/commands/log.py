"""``mlgate log``: the release managers' view of the decision log."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from ..output.log import render_current, render_table
from ..output.log import when as _when
from .common import app, emit, guarded
from .options import DecisionLogOpt, OutputOpt, TrackingUriOpt

if TYPE_CHECKING:
    from ..logentry import DecisionRecord


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
    action: Annotated[
        str | None,
        typer.Argument(
            metavar="[verify]",
            help="verify: walk the log's hash chain; exit 0 when intact, 1 naming the first "
            "row edited, deleted, inserted or reordered, 2 when the log cannot be read.",
            show_default=False,
        ),
    ] = None,
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

        mlgate log verify --decision-log postgresql://mlgate@db/mlflow
    """
    from ..serverrecord import open_record

    if action is not None:
        if action != "verify":
            raise InputError(f"log {action!r}: expected no argument or 'verify'")
        _verify(decision_log, tracking_uri, output)
        return

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


def _verify(decision_log: str | None, tracking_uri: str | None, output: Path | None) -> None:
    """``mlgate log verify``: the chain is in the database; a server's record lacks it."""
    from ..decisionlog import DecisionLog
    from ..evidence import resolve_tracking_uri
    from ..serverrecord import is_server_uri, open_record
    from ..uris import mask_password

    uri = resolve_tracking_uri(tracking_uri)
    if not decision_log and is_server_uri(uri):
        raise InputError(
            f"log verify: {mask_password(uri)} is a tracking server; verify reads the "
            "decision log's database itself: pass --decision-log URL (a local sqlite file "
            "or the server's database URL)"
        )
    missing = _missing_local_log(decision_log, tracking_uri)
    if missing:
        raise InputError(f"log verify: no decision log at {missing}")
    with open_record(decision_log, tracking_uri) as log:
        if not isinstance(log, DecisionLog):
            raise InputError(
                f"log verify: {log.masked_url} is a tracking server's record; verify reads "
                "the database itself: pass --decision-log URL (a local sqlite file or the "
                "server's database URL)"
            )
        report = log.verify_chain()
        emit(report.text(log.masked_url), output)
    if not report.intact:
        raise typer.Exit(1)


def _missing_local_log(decision_log: str | None, tracking_uri: str | None) -> str | None:
    """The default local sqlite log when it does not exist: a read creates nothing."""
    from ..decisionlog import default_log_url
    from ..evidence import resolve_tracking_uri
    from ..serverrecord import is_server_uri
    from ..uris import sqlite_path

    if decision_log:
        return None
    uri = resolve_tracking_uri(tracking_uri)
    if is_server_uri(uri):
        return None
    url = default_log_url(uri)
    path = sqlite_path(url)
    return url if path is not None and not os.path.exists(path) else None


def _current_documents(
    log: DecisionRecord, *, model: str | None, since: datetime | None, blocked: bool, limit: int
) -> list[dict[str, Any]]:
    from ..decisionlog import CURRENT_WINDOW, DecisionLog, current_state
    from ..serverrecord import ServerRecord

    if isinstance(log, ServerRecord):  # a server computes it over its own log
        return log.current(model=model, since=since, blocked_only=blocked, limit=limit)
    assert isinstance(log, DecisionLog)  # open_record opens one of the two
    entries = log.entries(model=model, since=since, limit=CURRENT_WINDOW, newest_first=True)
    states = [s for s in current_state(entries) if s.blocked_now or not blocked]
    return [s.as_document() for s in states[:limit]]


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
