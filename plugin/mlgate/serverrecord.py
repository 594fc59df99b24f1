"""The decision record of a tracking server that runs the mlgate store.

Against ``--tracking-uri http(s)://server`` the record is the server's: the registry
plugin logs every promotion it decides, and the page app (``--app-name mlgate`` or
``mlgate-basic-auth``) serves that log at ``/mlgate/api/decisions``. ``mlgate log``,
``audit`` and ``promote`` read it there, authenticated exactly as MLflow's own client is
(``MLFLOW_TRACKING_USERNAME``/``PASSWORD`` or ``MLFLOW_TRACKING_TOKEN``, the same TLS
settings), instead of a ``mlgate-decisions.db`` that happens to be in the working
directory. A server that does not serve the record is named as such, with where its
record is, never silently replaced by a local file.

:class:`ServerRecord` is a :class:`mlgate.logentry.DecisionRecord`, like
:class:`mlgate.decisionlog.DecisionLog` (``entries``, ``last_allowed``, ``masked_url``,
``close``), so audit and log take either.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .errors import MlgateError, RegistryError, one_line
from .logentry import DecisionRecord, LogEntry, rfc3339
from .uris import mask_password

API_ROUTE = "/mlgate/api/decisions"
STATUS_ROUTE = "/mlgate/api/status"
MAX_LIMIT = 500  # the page app's cap per request

WHERE_THE_RECORD_IS = (
    "the server's decision log is the database in its MLGATE_DECISION_LOG, by default the "
    "registry database's table mlgate_decisions (mlgate-decisions.db beside a sqlite "
    "registry); start the server with --app-name mlgate-basic-auth (or mlgate) to serve "
    "it, or read it with --decision-log URL"
)


class NoServerRecord(MlgateError):
    """The tracking server serves no mlgate decision record (exit 2 where one is needed)."""


def is_server_uri(uri: str | None) -> bool:
    return bool(uri) and urlsplit(str(uri).strip()).scheme.lower() in ("http", "https")


class ServerRecord:
    """The decision record served by the tracking server at ``tracking_uri``."""

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri.strip().rstrip("/")
        self.masked_url = f"{mask_password(self.tracking_uri)}{API_ROUTE}"
        self.status: dict[str, Any] = {}

    # ---- transport

    def _get(self, route: str, params: dict[str, str]) -> tuple[int, Any]:
        from .mlflowapi import http_get

        try:
            response = http_get(self.tracking_uri, route, params)
        except Exception as exc:  # noqa: BLE001 - any transport failure is exit 2
            text = one_line(str(exc))
            if "Max retries exceeded" in text or "Failed to establish" in text:
                import os

                retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
                raise RegistryError(
                    f"cannot reach the MLflow registry at {self.tracking_uri_shown} (mlgate "
                    f"record {route}; connection failed after {retries} retries)"
                ) from exc
            raise RegistryError(
                f"mlgate record at {self.masked_url}: {text[:300]}"
            ) from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        return response.status_code, body

    def _read(self, params: dict[str, str]) -> dict[str, Any]:
        status, body = self._get(API_ROUTE, params)
        if status != 200 or not isinstance(body, dict):
            reason = body.get("error") if isinstance(body, dict) else None
            if status in (401, 403):
                reason = "not authorised: set MLFLOW_TRACKING_USERNAME/PASSWORD or TOKEN"
            raise RegistryError(
                f"mlgate record at {self.masked_url}: HTTP {status}"
                + (f": {one_line(str(reason))}" if reason else "")
            )
        return body

    def check(self) -> ServerRecord:
        """Make sure the server serves the record and runs the mlgate store; else raise
        :class:`NoServerRecord` saying so and where the record is."""
        status, body = self._get(STATUS_ROUTE, {})
        if status in (401, 403):
            raise RegistryError(
                f"mlgate record at {self.masked_url}: HTTP {status}: not authorised "
                "(set MLFLOW_TRACKING_USERNAME/PASSWORD or MLFLOW_TRACKING_TOKEN)"
            )
        if status != 200 or not isinstance(body, dict) or "gated" not in body:
            raise NoServerRecord(
                f"the tracking server {self.tracking_uri_shown} serves no mlgate decision "
                f"record ({STATUS_ROUTE}: HTTP {status}): it runs without the mlgate page "
                f"app or without the mlgate store; {WHERE_THE_RECORD_IS}"
            )
        if not body.get("gated"):
            raise NoServerRecord(
                f"the tracking server {self.tracking_uri_shown} does not run the mlgate "
                "store (its --registry-store-uri has no mlgate+ prefix), so it gates and "
                f"logs nothing; its page reads {body.get('decision_log')}"
            )
        self.status = body
        return self

    @property
    def tracking_uri_shown(self) -> str:
        return mask_password(self.tracking_uri)

    # ---- reading (DecisionLog's interface)

    def entries(
        self,
        *,
        blocked_only: bool = False,
        allowed_only: bool = False,
        model: str | None = None,
        since: datetime | None = None,
        limit: int = 200,
        version: str | None = None,
        target: str | None = None,
        decision_id: str | None = None,
        with_input: bool = False,
    ) -> list[LogEntry]:
        outcome = "blocked" if blocked_only else "allowed" if allowed_only else "all"
        params = _params(model=model, version=version, target=target,
                         decision_id=decision_id, since=since)
        params.update({"outcome": outcome, "limit": str(min(limit, MAX_LIMIT)),
                       "view": "history"})
        if with_input:
            params["include"] = "gate_input"
        documents = self._read(params).get("decisions")
        if not isinstance(documents, list):
            raise RegistryError(f"mlgate record at {self.masked_url}: no decisions in the answer")
        return [LogEntry.from_document(d) for d in documents]

    def last_allowed(self, model: str, version: str, target: str) -> LogEntry | None:
        found = self.entries(allowed_only=True, model=model, version=version, target=target,
                             limit=1, with_input=True)
        return found[0] if found else None

    def decision(self, decision_id: str) -> LogEntry | None:
        found = self.entries(decision_id=decision_id, limit=1)
        return found[0] if found else None

    def current(
        self, *, model: str | None, since: datetime | None, blocked_only: bool, limit: int
    ) -> list[dict[str, Any]]:
        params = _params(model=model, since=since)
        params.update({"view": "current", "limit": str(min(limit, MAX_LIMIT)),
                       "outcome": "blocked" if blocked_only else "all"})
        states = self._read(params).get("current")
        if not isinstance(states, list):
            raise RegistryError(f"mlgate record at {self.masked_url}: no current state")
        return states

    def close(self) -> None:
        """Nothing to release (one request per read); for DecisionLog's interface."""

    def __enter__(self) -> ServerRecord:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _params(**values: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None:
            continue
        out[key] = rfc3339(value) if isinstance(value, datetime) else str(value)
    return out


def server_record(tracking_uri: str) -> ServerRecord:
    """The checked record of the server at ``tracking_uri`` (raises NoServerRecord)."""
    return ServerRecord(tracking_uri).check()


def open_record(decision_log: str | None, tracking_uri: str | None) -> DecisionRecord:
    """Where ``log``/``audit`` read decisions: ``--decision-log`` (or
    ``MLGATE_DECISION_LOG``) when given; else the server's record for an http(s)
    tracking URI (NoServerRecord when it serves none); else the local default log."""
    from .decisionlog import DecisionLog, default_log_url
    from .evidence import resolve_tracking_uri

    if decision_log:
        return DecisionLog(decision_log)
    uri = resolve_tracking_uri(tracking_uri)
    if is_server_uri(uri):
        return server_record(uri)
    return DecisionLog(default_log_url(uri))
