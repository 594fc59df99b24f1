"""The append-only decision log: one row per decision, in a SQL table, via SQLAlchemy Core.

Every decision the CLI, the server plugin or ``mlgate audit`` makes is appended here with
the exact gate input it was made on, so release managers can see who tried to promote
what, and any decision can be replayed. Rows are only ever inserted: this module has no
update or delete, and the stored input is the canonical JSON whose sha256 is the
decision's ``input_sha256``. The table is :mod:`mlgate.logtable`; an entry read back is a
:class:`mlgate.logentry.LogEntry`.

This module and :mod:`mlgate.logtable` are the only ones that import SQLAlchemy; commands
import them inside their functions so ``mlgate --help`` and ``mlgate check --input`` stay
fast.
"""

from __future__ import annotations

import getpass
import json
import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .errors import one_line
from .jsondoc import canonical
from .ledger import EvidenceWrite, ledger_insert, read_history
from .logchain import ChainReport, advance, ensure_chain, lock_head, row_sha256, verify
from .logentry import CURRENT_WINDOW as CURRENT_WINDOW
from .logentry import SOURCES as SOURCES
from .logentry import DecisionLogError as DecisionLogError
from .logentry import DecisionRecord as DecisionRecord
from .logentry import LogEntry as LogEntry
from .logentry import as_utc
from .logentry import current_state as current_state
from .logentry import rfc3339 as rfc3339
from .logsign import sign, signing_key, verify_key
from .logtable import decisions_table, metadata
from .models import Decision, GateInput
from .runner import serialise
from .uris import backend_of, mask_password, sqlite_path, strip_prefix, with_installed_driver

LOG_FILE_NAME = "mlgate-decisions.db"
# Seconds a sqlite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
# Seconds to wait for a PostgreSQL/MySQL server before calling it unreachable, for the
# drivers known to take a ``connect_timeout`` argument.
CONNECT_TIMEOUT = 10
_TIMEOUT_DRIVERS = frozenset({"psycopg2", "pymysql", "mysqldb"})
# Tries of CREATE TABLE when other processes create the log's tables at the same time.
_CREATE_ATTEMPTS = 5

mask_url = mask_password  # the name callers used before mlgate.uris (still imported)


# --------------------------------------------------------------------------- URLs


def default_log_url(tracking_uri: str | None) -> str:
    """Where decisions are logged when no ``--decision-log`` is given.

    1. ``MLGATE_DECISION_LOG`` when set.
    2. A sqlite tracking URI (``sqlite:///dir/mlruns.db``, also ``mlgate+sqlite``): the
       sqlite file ``mlgate-decisions.db`` beside that database.
    3. Another SQL tracking URI (``postgresql://…``, ``mysql+pymysql://…``, optionally
       ``mlgate+``-prefixed): the same database, table ``mlgate_decisions``, so that
       every client and server replica shares one log.
    4. No URI, a file store (a path or ``file:…``), or a remote tracking server
       (``http(s)://``, ``databricks``, …): ``sqlite:///mlgate-decisions.db`` in the
       current directory. mlgate cannot write tables through an HTTP tracking server;
       point ``MLGATE_DECISION_LOG`` at a shared database to keep one log for a team.
    """
    configured = os.environ.get("MLGATE_DECISION_LOG", "").strip()
    if configured:
        return configured
    cwd_default = f"sqlite:///{LOG_FILE_NAME}"
    if not tracking_uri:
        return cwd_default
    uri = strip_prefix(tracking_uri.strip())
    backend = backend_of(uri)
    if backend == "sqlite":
        path = sqlite_path(uri)
        if path is None:
            return cwd_default
        return f"sqlite:///{os.path.join(os.path.dirname(path), LOG_FILE_NAME)}"
    if backend in ("postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle"):
        return uri
    return cwd_default


def current_actor() -> str:
    """Who is deciding: ``MLGATE_ACTOR`` when set, else the OS user."""
    actor = os.environ.get("MLGATE_ACTOR", "").strip()
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no passwd entry (containers)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


# --------------------------------------------------------------------------- the log


def _reason(exc: BaseException) -> str:
    """The driver's own message, without SQLAlchemy's SQL echo and background link."""
    orig = getattr(exc, "orig", None)
    return one_line(str(orig if orig is not None else exc)) or type(exc).__name__


class DecisionLog:
    """An append-only decision log in the database at ``url`` (any SQLAlchemy URL).

    The table is created when absent; several processes may do so at once.

        log = DecisionLog("sqlite:///mlgate-decisions.db")
        log.append(decision, gate_input, actor=current_actor(), source="cli")
        blocked = log.entries(blocked_only=True)
    """

    def __init__(self, url: str) -> None:
        self.url = strip_prefix(url.strip())
        self.masked_url = mask_password(self.url)
        self._table = decisions_table
        self._engine = self._create_engine()
        self._ensure_table()
        self._signing_key = signing_key()

    # ---- setup

    def _create_engine(self) -> Engine:
        try:
            parsed = sa.engine.make_url(self.url)
        except sa.exc.ArgumentError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url!r} is not a database URL "
                "(expected e.g. sqlite:///mlgate-decisions.db or postgresql://user@host/db)"
            ) from exc
        parsed = with_installed_driver(parsed)
        connect_args: dict[str, Any] = {}
        backend, _, driver = parsed.drivername.partition("+")
        if backend == "sqlite":
            connect_args["timeout"] = SQLITE_BUSY_TIMEOUT  # writers wait for each other
        elif driver in _TIMEOUT_DRIVERS and "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = CONNECT_TIMEOUT
        try:
            return sa.create_engine(parsed, pool_pre_ping=True, connect_args=connect_args)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: unsupported database URL: {_reason(exc)}"
            ) from exc

    def _ensure_table(self) -> None:
        self._create_tables()
        try:
            ensure_chain(self._engine)
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot add its hash chain: {_reason(exc)}"
            ) from exc

    def _create_tables(self) -> None:
        """Create the log's tables, racing other processes that create them too.

        ``create_all`` checks each table and then creates it; another process can create
        one in between, which fails the whole call with "already exists" *before* the
        tables after it (the chain head) exist. Retried until every table is there: a
        check of the first table alone let a writer go on without the chain.
        """
        first_error: sa.exc.DBAPIError | None = None
        for _ in range(_CREATE_ATTEMPTS):
            try:
                metadata.create_all(self._engine, checkfirst=True)
                return
            except sa.exc.DBAPIError as exc:
                first_error = first_error or exc
        try:
            inspector = sa.inspect(self._engine)
            missing = [t for t in metadata.tables if not inspector.has_table(t)]
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot connect: {_reason(exc)}"
            ) from exc
        if missing:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot create table {missing[0]}: "
                f"{_reason(first_error or Exception('unknown error'))}"
            ) from first_error

    def close(self) -> None:
        """Release the connection pool."""
        self._engine.dispose()

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---- writing

    def append(
        self, decision: Decision, gate_input: GateInput, *, actor: str, source: str
    ) -> None:
        """Insert one decision with the input it was made on (one INSERT, one transaction)."""
        if source not in SOURCES:
            raise DecisionLogError(f"decision log: source {source!r} is not one of {SOURCES}")
        _, gate_input_text, sha256 = serialise(gate_input)
        if sha256 != decision.input_sha256:
            raise DecisionLogError(
                f"decision log: decision {decision.decision_id} was not made on this gate "
                "input (input_sha256 differs); refusing to log it"
            )
        row: dict[str, Any] = {
            "decision_id": decision.decision_id,
            "model": decision.model,
            "version": decision.version,
            "target": decision.target,
            "allowed": decision.allowed,
            "enforcement": decision.enforcement,
            "in_scope": decision.in_scope,
            "failing_codes": ",".join(decision.failing_codes),
            "decision": canonical(decision.model_dump(mode="json")).decode(),
            "gate_input": gate_input_text,
            "input_sha256": decision.input_sha256,
            "policy_revision": decision.policy_revision,
            "engine": decision.engine,
            "actor": actor,
            "source": source,
            "created_at": datetime.now(UTC),
        }
        try:
            with self._engine.begin() as conn:
                # The head is locked first: concurrent appends keep one chain.
                row["prev_sha256"] = lock_head(conn)
                result = conn.execute(self._table.insert().values(**row))
                key = result.inserted_primary_key
                if key is None:  # every backend mlgate supports returns it
                    raise DecisionLogError("decision log: the database gave no id for the row")
                row["id"] = int(key[0])
                sha256 = row_sha256(row)
                signature = None if self._signing_key is None else sign(self._signing_key, sha256)
                conn.execute(self._table.update().where(self._table.c.id == row["id"])
                             .values(row_sha256=sha256, row_signature=signature))
                advance(conn, row["id"], sha256)
        except sa.exc.IntegrityError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot append decision "
                f"{decision.decision_id}: {_reason(exc)} (the log is append-only)"
            ) from exc
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot append decision "
                f"{decision.decision_id}: {_reason(exc)}"
            ) from exc

    def record_evidence(self, row: EvidenceWrite) -> None:
        """Append one evidence-ledger row (:mod:`mlgate.ledger`) in its own transaction."""
        try:
            with self._engine.begin() as conn:
                conn.execute(ledger_insert(row))
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"evidence ledger {self.masked_url}: cannot record {row.key!r} of model "
                f"{row.model!r} version {row.version}: {_reason(exc)}"
            ) from exc

    def evidence_history(self, model: str, version: str) -> list[EvidenceWrite]:
        """The ledger rows of one version, oldest first."""
        try:
            with self._engine.connect() as conn:
                return read_history(conn, model, version)
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"evidence ledger {self.masked_url}: cannot read: {_reason(exc)}"
            ) from exc

    def verify_chain(self) -> ChainReport:
        """Walk the hash chain (:func:`mlgate.logchain.verify`)."""
        try:
            return verify(self._engine, verify_key())
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot read: {_reason(exc)}"
            ) from exc

    # ---- reading

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
        newest_first: bool = False,
    ) -> list[LogEntry]:
        """Logged decisions, blocked first, then newest first (``newest_first``: by time
        only). A naive ``since`` is UTC."""
        if limit < 1:
            raise DecisionLogError(f"decision log: limit must be at least 1, not {limit}")
        t = self._table
        query = sa.select(t)
        if blocked_only:
            query = query.where(t.c.allowed.is_(False))
        if allowed_only:
            query = query.where(t.c.allowed.is_(True))
        for column, value in (
            (t.c.model, model), (t.c.version, version), (t.c.target, target),
            (t.c.decision_id, decision_id),
        ):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(t.c.created_at >= as_utc(since))
        order = [t.c.created_at.desc(), t.c.id.desc()]
        if not newest_first:
            order.insert(0, t.c.allowed.asc())
        return self._fetch(query.order_by(*order).limit(limit))

    def last_allowed(self, model: str, version: str, target: str) -> LogEntry | None:
        """The most recent allowed decision for promoting ``model`` ``version`` to ``target``."""
        t = self._table
        query = (
            sa.select(t)
            .where(t.c.model == model, t.c.version == version, t.c.target == target)
            .where(t.c.allowed.is_(True))
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(1)
        )
        found = self._fetch(query)
        return found[0] if found else None

    def _fetch(self, query: sa.Select[Any]) -> list[LogEntry]:
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot read: {_reason(exc)}"
            ) from exc
        return [self._entry(row) for row in rows]

    def _entry(self, row: Any) -> LogEntry:
        try:
            decision = Decision.model_validate_json(row["decision"])
            gate_input = json.loads(row["gate_input"])
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise DecisionLogError(
                f"decision log {self.masked_url}: row {row['id']} is corrupt: "
                f"{one_line(str(exc))}"
            ) from exc
        codes = row["failing_codes"]
        return LogEntry(
            id=int(row["id"]),
            decision_id=row["decision_id"],
            model=row["model"],
            version=row["version"],
            target=row["target"],
            allowed=bool(row["allowed"]),
            enforcement=row["enforcement"],
            in_scope=None if row["in_scope"] is None else bool(row["in_scope"]),
            failing_codes=codes.split(",") if codes else [],
            decision=decision,
            gate_input=gate_input,
            input_sha256=row["input_sha256"],
            policy_revision=row["policy_revision"],
            engine=row["engine"],
            actor=row["actor"],
            source=row["source"],
            created_at=row["created_at"],
        )


