"""The release managers' page, an ``mlflow.app`` plugin, in two flavours:

- ``mlflow server --app-name mlgate``: the page on a server without authentication;
- ``mlflow server --app-name mlgate-basic-auth``: MLflow's ``basic-auth`` app with the
  page inside it (one server, both apps): the page and its API need the same basic-auth
  credentials as MLflow's API, and each user sees the decisions on the registered models
  they may read.

Routes added to the tracking server (every other route is as MLflow has it):

- ``/mlgate/``: the current state per model and target (blocked now or allowed now, the
  latest decision with its failing gates, codes, messages, references and fix, the
  number of attempts, repeated attempts grouped, blocks that a later allowed decision
  superseded marked); ``?view=history`` lists every decision, blocked first, newest first;
- ``/mlgate/api/decisions``: the same as JSON (``mlgate log --format json``'s documents;
  ``view=current`` gives ``mlgate log --current --format json``'s). This is the record
  ``mlgate log``, ``audit`` and ``promote`` read when pointed at this server;
- ``/mlgate/api/status``: that this server runs the mlgate store, where it logs, and the
  mlgate version.

Query parameters: ``model`` (exact name), ``outcome`` (``all``, ``blocked``, ``allowed``),
``limit`` (1 to 500, default 100), and for the API also ``version``, ``target``,
``decision_id``, ``since`` (ISO 8601) and ``include=gate_input``. The decision log is the
one the registry plugin writes (``MLGATE_DECISION_LOG``, else the registry database's, see
:func:`mlgate.decisionlog.default_log_url`).

Every value shown comes from user-controlled names and tags: the page is rendered by
Jinja2 with autoescaping on, links are URL-encoded, and a Content-Security-Policy
without any script source keeps the page script-free even if something slipped through.

A server loads one ``--app-name``: ``mlgate`` alone serves the page and the registry to
anyone who reaches the server, so behind authentication use ``mlgate-basic-auth``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from .pagequery import MAX_LIMIT, OUTCOMES, BadQuery, Query

if TYPE_CHECKING:
    from flask import Flask, Response
    from jinja2 import Environment
    from werkzeug.wrappers import Response as BaseResponse

    from ..decisionlog import DecisionLog, LogEntry
    from ..models import GateResult, Outcome

PAGE_ROUTE = "/mlgate/"
API_ROUTE = "/mlgate/api/decisions"
STATUS_ROUTE = "/mlgate/api/status"
TEMPLATES = Path(__file__).resolve().parent / "templates"

# No script source at all: the page is server-rendered and needs none.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'self'"
)

_STATIC_PREFIX_ENV = "_MLFLOW_STATIC_PREFIX"  # mlflow/server/handlers.py
_SGI_NAME_ENV = "_MLFLOW_SGI_NAME"


# --------------------------------------------------------------------------- the app


def create_app() -> Any:
    """The MLflow server app with the mlgate routes (MLflow calls this factory)."""
    from mlflow.server import app as flask_app

    add_routes(flask_app)
    if os.environ.get(_SGI_NAME_ENV) == "uvicorn":
        # uvicorn serves an ASGI app: MLflow's FastAPI wrapper around the same Flask app,
        # as the basic-auth app does.
        from mlflow.server.fastapi_app import create_fastapi_app

        return create_fastapi_app(flask_app)
    return flask_app


def create_auth_app() -> Any:
    """MLflow's ``basic-auth`` app with the mlgate routes inside it (one server, both apps).

    MLflow's authentication runs before every request, ours included; its fail-closed net
    refuses routes it has no validator for, so ours get one: any authenticated user may
    ask, and :func:`readable` then keeps the decisions on models that user may read.
    """
    from mlflow.server import app as flask_app
    from mlflow.server import auth

    add_routes(flask_app)
    for route in routes():
        auth.BEFORE_REQUEST_VALIDATORS[(route, "GET")] = _authenticated
    _auth_state["on"] = True
    return auth.create_app(flask_app)


_auth_state = {"on": False}


def _authenticated() -> bool:
    return True  # authentication already passed; per-model filtering is in readable()


def routes() -> list[str]:
    return [_prefixed(r) for r in (PAGE_ROUTE, PAGE_ROUTE.rstrip("/"), API_ROUTE, STATUS_ROUTE)]


def add_routes(app: Flask) -> None:
    """Register ``/mlgate/``, ``/mlgate/api/decisions`` and ``/mlgate/api/status`` (once)."""
    if "mlgate_page" in app.view_functions:
        return
    app.add_url_rule(_prefixed(PAGE_ROUTE), "mlgate_page", page, methods=["GET"])
    app.add_url_rule(_prefixed(PAGE_ROUTE.rstrip("/")), "mlgate_page_bare", page_redirect)
    app.add_url_rule(_prefixed(API_ROUTE), "mlgate_api_decisions", api_decisions, methods=["GET"])
    app.add_url_rule(_prefixed(STATUS_ROUTE), "mlgate_api_status", api_status, methods=["GET"])


def _prefixed(route: str) -> str:
    prefix = os.environ.get(_STATIC_PREFIX_ENV, "").rstrip("/")
    return prefix + route


# --------------------------------------------------------------------------- the log

_log_lock = threading.Lock()
_log: DecisionLog | None = None


def decision_log_url() -> str:
    from ..decisionlog import default_log_url
    from .settings import server_registry_uri

    return default_log_url(server_registry_uri())


def open_log() -> DecisionLog:
    """The server's decision log, opened once per process."""
    global _log
    with _log_lock:
        if _log is None:
            from ..decisionlog import DecisionLog

            _log = DecisionLog(decision_log_url())
        return _log


# --------------------------------------------------------------------------- requests


def fetch(query: Query) -> list[LogEntry]:
    from ..decisionlog import CURRENT_WINDOW

    current = query.view == "current"
    entries = open_log().entries(
        blocked_only=query.outcome == "blocked" and not current,
        allowed_only=query.outcome == "allowed" and not current,
        model=query.model,
        version=query.version,
        target=query.target,
        decision_id=query.decision_id,
        since=query.since,
        limit=CURRENT_WINDOW if current else query.limit,
        newest_first=current,
    )
    return readable(entries)


def readable(entries: list[LogEntry]) -> list[LogEntry]:
    """Under ``mlgate-basic-auth``: the entries on models the requesting user may read
    (admins: all). A permission that cannot be determined hides the entry."""
    if not _auth_state["on"]:
        return entries
    from mlflow.server import auth

    if auth.sender_is_admin():
        return entries
    allowed: dict[str, bool] = {}
    for name in {e.model for e in entries}:
        try:
            allowed[name] = bool(auth._get_registered_model_permission(name).can_read)
        except Exception:  # noqa: BLE001 - e.g. a model deleted since: show nothing
            allowed[name] = False
    return [e for e in entries if allowed[e.model]]


def ui_link(model: str, version: str) -> str:
    """The version's page in the MLflow UI (a hash route; both parts URL-encoded)."""
    return _prefixed(f"/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}")


@dataclass(frozen=True)
class Row:
    entry: LogEntry
    kind: str
    outcome: str
    css: str
    when: str
    link: str
    gates: list[GateResult]
    # (key, writer, time) per compliance tag the decision was made on, when its input
    # carries provenance (promotion.four_eyes on); writer and time None when unknown.
    evidence: list[tuple[str, str | None, str | None]]


# Decision.outcome as the page words it, and the row's CSS class.
ROW_OUTCOMES: dict[Outcome, tuple[str, str]] = {
    "blocked": ("blocked", "blocked"),
    "warn": ("allowed (warn)", "warned"),
    "out of scope": ("allowed", "allowed"),
    "allowed": ("allowed", "allowed"),
}


def to_row(entry: LogEntry) -> Row:
    from ..decisionlog import rfc3339

    outcome, css = ROW_OUTCOMES[entry.decision.outcome]
    request = entry.gate_input.get("request") if isinstance(entry.gate_input, dict) else None
    kind = request.get("kind", "alias") if isinstance(request, dict) else "alias"
    return Row(
        entry=entry,
        kind=str(kind),
        outcome=outcome,
        css=css,
        when=rfc3339(entry.created_at, timespec="seconds"),
        link=ui_link(entry.model, entry.version),
        gates=entry.decision.blocking_gates,
        evidence=_evidence_rows(entry.gate_input),
    )


def _evidence_rows(gate_input: object) -> list[tuple[str, str | None, str | None]]:
    """Who wrote each fact the decision was made on (its input's ``provenance``)."""
    provenance = gate_input.get("provenance") if isinstance(gate_input, dict) else None
    if not isinstance(provenance, dict):
        return []
    rows: list[tuple[str, str | None, str | None]] = []
    for key in sorted(provenance):
        fact = provenance[key] if isinstance(provenance[key], dict) else {}
        writer, time = fact.get("writer"), fact.get("time")
        rows.append((str(key), writer if isinstance(writer, str) else None,
                     time if isinstance(time, str) else None))
    return rows


@cache
def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value on the page is user-controlled
        undefined=StrictUndefined,
    )


def render_page(query: Query, entries: list[LogEntry]) -> str:
    from ..decisionlog import current_state

    rows = [to_row(e) for e in entries]
    states = current_state(entries) if query.view == "current" else []
    if query.outcome != "all":
        states = [s for s in states if s.blocked_now == (query.outcome == "blocked")]
    return _templates().get_template("decisions.html").render(
        view=query.view,
        rows=rows,
        states=[(s, to_row(s.latest)) for s in states[: query.limit]],
        blocked_now=sum(1 for s in states if s.blocked_now),
        rfc3339=_seconds,
        blocked_count=sum(1 for r in rows if not r.entry.allowed),
        model=query.model,
        outcome=query.outcome,
        outcomes=OUTCOMES,
        limit=query.limit,
        max_limit=MAX_LIMIT,
        page_url=_prefixed(PAGE_ROUTE),
        history_url=_prefixed(PAGE_ROUTE) + "?" + urlencode(
            {**_query_params(query), "view": "history"}
        ),
        current_url=_prefixed(PAGE_ROUTE) + "?" + urlencode(
            {**_query_params(query), "view": "current"}
        ),
        api_url=_prefixed(API_ROUTE) + "?" + urlencode(_query_params(query)),
        ui_home=_prefixed("/"),
    )


def _seconds(moment: datetime) -> str:
    from ..decisionlog import rfc3339

    return rfc3339(moment, timespec="seconds")


def _query_params(query: Query) -> dict[str, str]:
    params = {"outcome": query.outcome, "limit": str(query.limit), "view": query.view}
    if query.model is not None:
        params["model"] = query.model
    return params


def _secured(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, message: str, *, as_json: bool) -> Response:
    from html import escape

    from flask import jsonify, make_response

    if as_json:
        response = make_response(jsonify({"error": message}), status)
    else:
        body = f"<!doctype html><title>mlgate</title><p>{escape(message)}</p>"
        response = make_response(body, status)
        response.mimetype = "text/html"
    return _secured(response)


def _serve(render: Any, *, as_json: bool, default_view: str = "history") -> Response:
    from flask import request

    from ..errors import MlgateError, one_line

    try:
        query = Query.from_args(request.args, default_view=default_view)
    except BadQuery as exc:
        return _error(400, str(exc), as_json=as_json)
    try:
        entries = fetch(query)
    except MlgateError as exc:
        # The log is unreachable: say so, without a traceback.
        return _error(503, f"decision log unavailable: {one_line(str(exc))}", as_json=as_json)
    return _secured(render(query, entries))


def page() -> Response:
    """The current state by default; ``?view=history`` for every decision."""
    from flask import make_response

    def render(query: Query, entries: list[LogEntry]) -> Response:
        response = make_response(render_page(query, entries))
        response.mimetype = "text/html"
        return response

    return _serve(render, as_json=False, default_view="current")


def page_redirect() -> BaseResponse:
    from flask import redirect

    return redirect(_prefixed(PAGE_ROUTE), code=308)


def api_decisions() -> Response:
    from flask import jsonify

    def render(query: Query, entries: list[LogEntry]) -> Response:
        if query.view == "current":
            from ..decisionlog import current_state

            states = current_state(entries)
            if query.outcome != "all":
                states = [s for s in states if s.blocked_now == (query.outcome == "blocked")]
            return jsonify(
                {"filters": _query_params(query), "count": len(states),
                 "current": [s.as_document() for s in states[: query.limit]]}
            )
        documents = []
        for entry in entries:
            document = entry.as_document(with_input=query.with_input)
            document["ui_url"] = ui_link(entry.model, entry.version)
            documents.append(document)
        return jsonify(
            {
                "filters": _query_params(query),
                "count": len(documents),
                "decisions": documents,
            }
        )

    return _serve(render, as_json=True)


def api_status() -> Response:
    """What a client needs to know before trusting this server's record."""
    from flask import jsonify

    from .. import __version__
    from ..uris import PREFIX, mask_password
    from .settings import server_registry_uri

    registry = server_registry_uri() or ""
    return _secured(
        jsonify(
            {
                "mlgate_version": __version__,
                "gated": registry.startswith(PREFIX),
                "decision_log": mask_password(decision_log_url()),
                "authenticated": _auth_state["on"],
            }
        )
    )
