"""The release managers' page, an ``mlflow.app`` plugin: ``mlflow server --app-name mlgate``.

Adds two routes to the tracking server and leaves every other route as MLflow has it:

- ``/mlgate/``: recent decisions, blocked promotions first, then newest first (model,
  version, target, who, when, each failing gate with its codes, messages, article
  references and fix), a link to each version in the MLflow UI, and a filter form;
- ``/mlgate/api/decisions``: the same entries as JSON (``mlgate log --format json``'s
  documents).

Both take the query parameters ``model`` (exact name), ``outcome`` (``all``, ``blocked``,
``allowed``) and ``limit`` (1 to 500, default 100). The decision log is the one the
registry plugin writes (``MLGATE_DECISION_LOG``, else the registry database's, see
:func:`mlgate.decisionlog.default_log_url`).

Every value shown comes from user-controlled names and tags: the page is rendered by
Jinja2 with autoescaping on, links are URL-encoded, and a Content-Security-Policy
without any script source keeps the page script-free even if something slipped through.

With ``--app-name mlgate`` MLflow's ``basic-auth`` app is not loaded (a server runs one
app); the registry plugin works under either.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    from flask import Flask, Response

    from ..decisionlog import DecisionLog, LogEntry
    from ..models import GateResult

PAGE_ROUTE = "/mlgate/"
API_ROUTE = "/mlgate/api/decisions"
OUTCOMES: tuple[str, ...] = ("all", "blocked", "allowed")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
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


def add_routes(app: Flask) -> None:
    """Register ``/mlgate/`` and ``/mlgate/api/decisions`` (once)."""
    if "mlgate_page" in app.view_functions:
        return
    app.add_url_rule(_prefixed(PAGE_ROUTE), "mlgate_page", page, methods=["GET"])
    app.add_url_rule(_prefixed(PAGE_ROUTE.rstrip("/")), "mlgate_page_bare", page_redirect)
    app.add_url_rule(_prefixed(API_ROUTE), "mlgate_api_decisions", api_decisions, methods=["GET"])


def _prefixed(route: str) -> str:
    prefix = os.environ.get(_STATIC_PREFIX_ENV, "").rstrip("/")
    return prefix + route


# --------------------------------------------------------------------------- the log

_log_lock = threading.Lock()
_log: DecisionLog | None = None


def decision_log_url() -> str:
    from ..decisionlog import default_log_url
    from .store import server_registry_uri

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


class BadQuery(ValueError):
    """A query parameter the page cannot use (HTTP 400)."""


@dataclass(frozen=True)
class Query:
    model: str | None
    outcome: str
    limit: int

    @classmethod
    def from_args(cls, args: Any) -> Query:
        model = (args.get("model") or "").strip() or None
        outcome = (args.get("outcome") or "all").strip().lower()
        if outcome not in OUTCOMES:
            raise BadQuery(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        raw_limit = (args.get("limit") or str(DEFAULT_LIMIT)).strip()
        try:
            limit = int(raw_limit)
        except ValueError as exc:
            raise BadQuery(f"limit must be a whole number, not {raw_limit!r}") from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        return cls(model=model, outcome=outcome, limit=limit)


def fetch(query: Query) -> list[LogEntry]:
    return open_log().entries(
        blocked_only=query.outcome == "blocked",
        allowed_only=query.outcome == "allowed",
        model=query.model,
        limit=query.limit,
    )


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


def to_row(entry: LogEntry) -> Row:
    from ..decisionlog import rfc3339

    failing = entry.decision.blocking_gates
    if not entry.allowed:
        outcome, css = "blocked", "blocked"
    elif failing:
        outcome, css = "allowed (warn)", "warned"
    else:
        outcome, css = "allowed", "allowed"
    request = entry.gate_input.get("request") if isinstance(entry.gate_input, dict) else None
    kind = request.get("kind", "alias") if isinstance(request, dict) else "alias"
    return Row(
        entry=entry,
        kind=str(kind),
        outcome=outcome,
        css=css,
        when=rfc3339(entry.created_at, timespec="seconds"),
        link=ui_link(entry.model, entry.version),
        gates=failing,
    )


@cache
def _templates() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every value on the page is user-controlled
        undefined=StrictUndefined,
    )


def render_page(query: Query, entries: list[LogEntry]) -> str:
    rows = [to_row(e) for e in entries]
    return _templates().get_template("decisions.html").render(
        rows=rows,
        blocked_count=sum(1 for r in rows if not r.entry.allowed),
        model=query.model,
        outcome=query.outcome,
        outcomes=OUTCOMES,
        limit=query.limit,
        max_limit=MAX_LIMIT,
        page_url=_prefixed(PAGE_ROUTE),
        api_url=_prefixed(API_ROUTE) + "?" + urlencode(_query_params(query)),
        ui_home=_prefixed("/"),
    )


def _query_params(query: Query) -> dict[str, str]:
    params = {"outcome": query.outcome, "limit": str(query.limit)}
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


def _serve(render: Any, *, as_json: bool) -> Response:
    from flask import request

    from ..errors import MlgateError, one_line

    try:
        query = Query.from_args(request.args)
    except BadQuery as exc:
        return _error(400, str(exc), as_json=as_json)
    try:
        entries = fetch(query)
    except MlgateError as exc:
        # The log is unreachable: say so, without a traceback.
        return _error(503, f"decision log unavailable: {one_line(str(exc))}", as_json=as_json)
    return _secured(render(query, entries))


def page() -> Response:
    from flask import make_response

    def render(query: Query, entries: list[LogEntry]) -> Response:
        response = make_response(render_page(query, entries))
        response.mimetype = "text/html"
        return response

    return _serve(render, as_json=False)


def page_redirect() -> Response:
    from flask import redirect

    return redirect(_prefixed(PAGE_ROUTE), code=308)  # type: ignore[return-value]


def api_decisions() -> Response:
    from flask import jsonify

    def render(query: Query, entries: list[LogEntry]) -> Response:
        documents = []
        for entry in entries:
            document = entry.as_document()
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
