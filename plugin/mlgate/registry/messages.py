"""What the gated store says: refusals (403) and their wording, who asked, and the
fail-closed guard every gated method runs under.

User input goes through :func:`mlgate.textsafe.printable` (a control character in an
alias or a model name is shown as an escape, never written raw into a message or a log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import PERMISSION_DENIED, ErrorCode

from ..errors import MlgateError, one_line
from ..textsafe import printable
from .settings import in_server

if TYPE_CHECKING:
    from ..models import Decision

_logger = logging.getLogger("mlgate.registry")

ANONYMOUS = "anonymous"
PERMISSION_DENIED_CODE = ErrorCode.Name(PERMISSION_DENIED)


def quoted(text: str) -> str:
    """``'text'`` with control characters shown as escapes: user input in a message."""
    return "'" + printable(str(text)) + "'"



def requesting_user() -> str:
    """Who asked: the user MLflow auth verified, else ``anonymous`` (see
    :mod:`mlgate.registry.store`)."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask comes with mlflow
        has_request_context = None  # type: ignore[assignment]
    if has_request_context is not None and has_request_context():
        user = g.get("mlflow_authenticated_user")
        return str(user) if user else ANONYMOUS
    if in_server():
        return ANONYMOUS
    from ..decisionlog import current_actor

    return current_actor()


def verified_user() -> str | None:
    """The user MLflow's authentication verified for this request; None without one
    (no auth app, or outside a request: nobody was verified)."""
    try:
        from flask import g, has_request_context
    except ImportError:  # pragma: no cover - flask comes with mlflow
        return None
    if not has_request_context():
        return None
    user = g.get("mlflow_authenticated_user")
    return str(user) if user else None


def request_source() -> str:
    """Where a write came from: ``POST /api/2.0/mlflow/...`` in a server, else ``in-process``."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - flask comes with mlflow
        return "in-process"
    if not has_request_context():
        return "in-process"
    return printable(f"{request.method} {request.path}")[:256]


def refusal(message: str) -> MlflowException:
    return MlflowException(message, error_code=PERMISSION_DENIED)


def describe_target(target: str, kind: str) -> str:
    return f"{kind} {quoted(target)}"


def describe_version(name: str, version: str) -> str:
    return f"model {quoted(name)} version {printable(str(version))}"


def blocked_summary(decision: Decision) -> str:
    """``blocked by filing, labeling: filing.not_completed, ...; fixes below``: one line."""
    gates = [gate.id for gate in decision.blocking_gates]
    codes = [
        violation.code
        for gate in decision.blocking_gates
        for violation in gate.violations
        if not violation.waived_by
    ]
    return f"blocked by {', '.join(gates)}: {', '.join(codes)}; fixes below"


def _server_url() -> str:
    """This server's URL as the refused client reached it (for the ``mlgate log`` hint)."""
    try:
        from flask import has_request_context, request

        if has_request_context():
            return printable(request.host_url.rstrip("/"))
    except ImportError:  # pragma: no cover - flask ships with mlflow
        pass
    return "<tracking server URL>"


def blocked_message(decision: Decision, kind: str) -> str:
    """Why a promotion was refused: a one-line summary (the MLflow UI drops line breaks),
    then each failing gate, its codes, messages and the fix. User input goes through
    :func:`mlgate.textsafe.printable`."""
    lines = [
        printable(blocked_summary(decision)),
        f"mlgate refused promoting {describe_version(decision.model, decision.version)} to "
        f"{describe_target(decision.target, kind)}: blocked by policy.",
    ]
    for gate in decision.blocking_gates:
        lines.append(f"- gate {gate.id} ({gate.title}): {gate.status}")
        for violation in gate.violations:
            if not violation.waived_by:
                lines.append(f"  - {violation.code}: {printable(violation.message)}")
        if gate.remediation:
            lines.append(f"  fix: {printable(gate.remediation)}")
        if gate.references:
            lines.append(f"  see: {printable('; '.join(gate.references))}")
    revision = decision.policy_revision or "unknown"
    lines.append(
        f"decision {decision.decision_id} (policy revision {printable(revision)}, engine "
        f"{decision.engine}); details: mlgate log --blocked --tracking-uri {_server_url()}, "
        "or the server's /mlgate/ page"
    )
    return "\n".join(lines)


def database_fault(exc: BaseException) -> str | None:
    """The SQLAlchemy/DBAPI error class behind ``exc``, if any: its text (SQL, parameters)
    must never reach a client."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__ or ""
        if module.startswith("sqlalchemy") or module.split(".")[0] in {
            "sqlite3", "psycopg2", "psycopg", "pymysql", "MySQLdb", "pyodbc", "pymssql",
        }:
            return type(current).__name__
        current = current.__cause__ or current.__context__
    return None



def _http_status(exc: MlflowException) -> int:
    # MLflow leaves the method unannotated.
    return cast(Callable[[], int], exc.get_http_status_code)()


@contextmanager
def failing_closed(what: str) -> Iterator[None]:
    """Any failure in a gated method refuses (403), except MLflow's own client errors.

    A database error is never passed on as it is: MLflow turns them into 400s whose
    message is the SQL statement and its parameters.
    """
    try:
        yield
    except MlflowException as exc:
        if exc.error_code == PERMISSION_DENIED_CODE:
            raise
        fault = database_fault(exc)
        if fault is None and _http_status(exc) < 500:
            raise
        _logger.exception("mlgate: %s failed", printable(what))
        reason = f"database error ({fault})" if fault else one_line(exc.message)
        raise refusal(
            f"mlgate could not check {what}: {printable(reason)}; refused (fail closed)"
        ) from exc
    except MlgateError as exc:
        _logger.warning("mlgate: %s: %s", printable(what), printable(str(exc)))
        fault = database_fault(exc)
        reason = f"database error ({fault})" if fault else one_line(str(exc))
        raise refusal(
            f"mlgate could not check {what}: {printable(reason)}; refused (fail closed). "
            "Fix the server's mlgate settings (MLGATE_ENGINE, MLGATE_OPA_URL, "
            "MLGATE_DECISION_LOG, MLGATE_POLICIES) or the cause above, then retry"
        ) from exc
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - never a 5xx, never an allow
        _logger.exception("mlgate: %s failed unexpectedly", printable(what))
        fault = database_fault(exc)
        detail = f"database error ({fault})" if fault else (
            f"internal error {type(exc).__name__}: {one_line(str(exc))}"
        )
        raise refusal(
            f"mlgate could not check {what}: {printable(detail)}; refused (fail closed)"
        ) from exc
