"""The append-only decision log: one row per decision, in a SQL table, via SQLAlchemy Core.

Every decision the CLI, the server plugin or ``mlgate audit`` makes is appended here with
the exact gate input it was made on, so release managers can see who tried to promote
what, and any decision can be replayed. Rows are only ever inserted: this module has no
update or delete, and the stored input is the canonical JSON whose sha256 is the
decision's ``input_sha256``.

This is the only module that imports SQLAlchemy; commands import it inside their
functions so ``mlgate --help`` and ``mlgate check --input`` stay fast.
"""

from __future__ import annotations

import getpass
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect, Engine

from .errors import MlgateError, one_line
from .jsondoc import canonical
from .models import Decision, GateInput
from .runner import serialise

TABLE_NAME = "mlgate_decisions"
LOG_FILE_NAME = "mlgate-decisions.db"
SOURCES: tuple[str, ...] = ("cli", "server", "audit")
# Seconds a sqlite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT = 30.0
# Seconds to wait for a PostgreSQL/MySQL server before calling it unreachable, for the
# drivers known to take a ``connect_timeout`` argument.
CONNECT_TIMEOUT = 10
_TIMEOUT_DRIVERS = frozenset({"psycopg2", "pymysql", "mysqldb"})


class DecisionLogError(MlgateError):
    """The decision log cannot be opened, read or appended to (exit 2, one line)."""


# --------------------------------------------------------------------------- table


class _UtcDateTime(sa.types.TypeDecorator[datetime]):
    """Timezone-aware UTC in and out on every backend.

    PostgreSQL keeps the offset (TIMESTAMPTZ); sqlite and MySQL have no zone, so naive
    UTC is stored and UTC is put back on read. MySQL gets microseconds (DATETIME(6)):
    without them "newest first" ties within a second.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = _as_utc(value)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _as_utc(value)


def _as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# Long JSON documents (a gate input carries the whole manifest) overflow MySQL's 64 KiB TEXT.
_LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

metadata = sa.MetaData()
decisions_table = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
        autoincrement=True,
    ),
    sa.Column("decision_id", sa.String(36), nullable=False, unique=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("target", sa.String(256), nullable=False),
    sa.Column("allowed", sa.Boolean(), nullable=False),
    sa.Column("enforcement", sa.String(8), nullable=False),
    sa.Column("in_scope", sa.Boolean(), nullable=True),
    sa.Column("failing_codes", sa.Text(), nullable=False),
    sa.Column("decision", _LongText, nullable=False),
    sa.Column("gate_input", _LongText, nullable=False),
    sa.Column("input_sha256", sa.String(64), nullable=False),
    sa.Column("policy_revision", sa.String(255), nullable=False),
    sa.Column("engine", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("created_at", _UtcDateTime(), nullable=False),
    sa.Index("ix_mlgate_decisions_target", "model", "version", "target"),
    sa.Index("ix_mlgate_decisions_allowed_created", "allowed", "created_at"),
    # Exact, case-sensitive comparisons on MySQL as on the other backends.
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)


# --------------------------------------------------------------------------- entries


@dataclass(frozen=True)
class LogEntry:
    """One logged decision: the row's columns, with the two JSON documents parsed."""

    id: int
    decision_id: str
    model: str
    version: str
    target: str
    allowed: bool
    enforcement: str
    in_scope: bool | None
    failing_codes: list[str]
    decision: Decision
    gate_input: dict[str, Any]
    input_sha256: str
    policy_revision: str
    engine: str
    actor: str
    source: str
    created_at: datetime

    def as_document(self, *, with_input: bool = False) -> dict[str, Any]:
        """Entry metadata plus the decision document (JSON-ready); the gate input only
        when asked (``mlgate audit`` replays it; it carries the whole manifest)."""
        document = {
            "id": self.id,
            "decision_id": self.decision_id,
            "model": self.model,
            "version": self.version,
            "target": self.target,
            "allowed": self.allowed,
            "enforcement": self.enforcement,
            "in_scope": self.in_scope,
            "failing_codes": list(self.failing_codes),
            "input_sha256": self.input_sha256,
            "policy_revision": self.policy_revision,
            "engine": self.engine,
            "actor": self.actor,
            "source": self.source,
            "created_at": rfc3339(self.created_at),
            "decision": self.decision.model_dump(mode="json"),
        }
        if with_input:
            document["gate_input"] = self.gate_input
        return document

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LogEntry:
        """The entry :meth:`as_document` (with the input) describes: a server's record."""
        try:
            return cls(
                id=int(document["id"]),
                decision_id=str(document["decision_id"]),
                model=str(document["model"]),
                version=str(document["version"]),
                target=str(document["target"]),
                allowed=bool(document["allowed"]),
                enforcement=str(document["enforcement"]),
                in_scope=document.get("in_scope"),
                failing_codes=[str(c) for c in document.get("failing_codes") or []],
                decision=Decision.model_validate(document["decision"]),
                gate_input=dict(document.get("gate_input") or {}),
                input_sha256=str(document["input_sha256"]),
                policy_revision=str(document.get("policy_revision") or ""),
                engine=str(document["engine"]),
                actor=str(document["actor"]),
                source=str(document["source"]),
                created_at=_as_utc(datetime.fromisoformat(document["created_at"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionLogError(
                f"decision record: an entry is malformed: {one_line(str(exc))[:200]}"
            ) from exc


def rfc3339(moment: datetime, *, timespec: str = "microseconds") -> str:
    return _as_utc(moment).isoformat(timespec=timespec).replace("+00:00", "Z")


# --------------------------------------------------------------------------- URLs


def mask_url(url: str) -> str:
    """The URL with its password replaced by ``***`` (also when it does not parse)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - unparseable: mask by pattern instead
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


def _strip_mlgate_scheme(url: str) -> str:
    """``mlgate+postgresql://…`` (the registry plugin's scheme) names the same database."""
    return url[len("mlgate+"):] if url.startswith("mlgate+") else url


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
    uri = _strip_mlgate_scheme(tracking_uri.strip())
    scheme, sep, rest = uri.partition("://")
    if not sep:
        return cwd_default  # a plain path: a file store
    backend = scheme.split("+", 1)[0].lower()
    if backend == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest  # sqlite:///<path>
        path = path.split("?", 1)[0]
        if not path or path == ":memory:":
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


# SQLAlchemy's default driver for a driverless URL, and the one to use instead when only
# that one is installed (MLflow users write ``postgresql://``; SQLAlchemy 2.1 defaults it
# to psycopg 3 while most installs have psycopg2).
_DRIVER_FALLBACKS: dict[str, tuple[str, str]] = {
    "postgresql": ("psycopg", "psycopg2"),
    "mysql": ("MySQLdb", "pymysql"),
    "mariadb": ("MySQLdb", "pymysql"),
}


def with_installed_driver(url: sa.engine.URL) -> sa.engine.URL:
    from importlib.util import find_spec

    fallback = _DRIVER_FALLBACKS.get(url.drivername)
    if fallback is None:
        return url
    default_module, alternative = fallback
    if find_spec(default_module) is None and find_spec(alternative) is not None:
        return url.set(drivername=f"{url.drivername}+{alternative}")
    return url


class DecisionLog:
    """An append-only decision log in the database at ``url`` (any SQLAlchemy URL).

    The table is created when absent; several processes may do so at once.

        log = DecisionLog("sqlite:///mlgate-decisions.db")
        log.append(decision, gate_input, actor=current_actor(), source="cli")
        blocked = log.entries(blocked_only=True)
    """

    def __init__(self, url: str) -> None:
        self.url = _strip_mlgate_scheme(url.strip())
        self.masked_url = mask_url(self.url)
        self._table = decisions_table
        self._engine = self._create_engine()
        self._ensure_table()

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
        try:
            metadata.create_all(self._engine, checkfirst=True)
            return
        except sa.exc.DBAPIError as exc:
            # Another process may have created it between our check and our CREATE
            # ("already exists", or a unique violation in PostgreSQL's catalog).
            first_error = exc
        try:
            exists = sa.inspect(self._engine).has_table(TABLE_NAME)
        except sa.exc.SQLAlchemyError as exc:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot connect: {_reason(exc)}"
            ) from exc
        if not exists:
            raise DecisionLogError(
                f"decision log {self.masked_url}: cannot create table {TABLE_NAME}: "
                f"{_reason(first_error)}"
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
        row = {
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
                conn.execute(self._table.insert().values(**row))
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
            query = query.where(t.c.created_at >= _as_utc(since))
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


# --------------------------------------------------------------------------- current state

# Entries read to build the current state (newest first). Attempt counts cover this window.
CURRENT_WINDOW = 5000


@dataclass(frozen=True)
class AttemptGroup:
    """Consecutive decisions on one model and target with the same version, outcome and
    failing codes (20 identical retries are one group); ``entries`` newest first."""

    entries: tuple[LogEntry, ...]
    superseded_by: LogEntry | None  # a later allowed decision on the same model and target

    @property
    def latest(self) -> LogEntry:
        return self.entries[0]

    @property
    def first(self) -> LogEntry:
        return self.entries[-1]

    def as_document(self) -> dict[str, Any]:
        later = self.superseded_by
        return {
            "version": self.latest.version,
            "outcome": "allowed" if self.latest.allowed else "blocked",
            "failing_codes": list(self.latest.failing_codes),
            "count": len(self.entries),
            "first_at": rfc3339(self.first.created_at),
            "last_at": rfc3339(self.latest.created_at),
            "latest_decision_id": self.latest.decision_id,
            "superseded_by": None if later is None else {
                "decision_id": later.decision_id,
                "version": later.version,
                "at": rfc3339(later.created_at),
            },
        }


@dataclass(frozen=True)
class TargetState:
    """Where one model stands for one target now: its latest decision and its history."""

    model: str
    target: str
    groups: tuple[AttemptGroup, ...]  # newest first

    @property
    def latest(self) -> LogEntry:
        return self.groups[0].latest

    @property
    def blocked_now(self) -> bool:
        return not self.latest.allowed

    @property
    def attempts(self) -> int:
        return sum(len(g.entries) for g in self.groups)

    @property
    def last_allowed(self) -> LogEntry | None:
        return next((g.latest for g in self.groups if g.latest.allowed), None)

    def as_document(self) -> dict[str, Any]:
        allowed = self.last_allowed
        return {
            "model": self.model,
            "target": self.target,
            "state": "blocked" if self.blocked_now else "allowed",
            "attempts": self.attempts,
            "latest": self.latest.as_document(),
            "last_allowed_version": None if allowed is None else allowed.version,
            "groups": [g.as_document() for g in self.groups],
        }


def _group_key(entry: LogEntry) -> tuple[str, bool, tuple[str, ...]]:
    return (entry.version, entry.allowed, tuple(entry.failing_codes))


def current_state(entries: list[LogEntry]) -> list[TargetState]:
    """Per model and target: blocked or allowed now (the latest decision), attempts,
    repeated attempts grouped, and blocks marked superseded by a later allowed decision.

    Blocked-now targets first, then by latest decision, newest first.
    """
    by_target: dict[tuple[str, str], list[LogEntry]] = {}
    for entry in sorted(entries, key=lambda e: (e.created_at, e.id), reverse=True):
        by_target.setdefault((entry.model, entry.target), []).append(entry)
    states = [
        TargetState(model, target, _groups(history))
        for (model, target), history in by_target.items()
    ]
    states.sort(key=lambda s: (s.latest.created_at, s.latest.id), reverse=True)
    states.sort(key=lambda s: not s.blocked_now)  # stable: blocked first
    return states


def _groups(history: list[LogEntry]) -> tuple[AttemptGroup, ...]:
    """``history`` newest first -> groups newest first, each knowing the earliest allowed
    decision after it (walking back in time, the last allowed seen is that one)."""
    runs: list[list[LogEntry]] = []
    for entry in history:
        if runs and _group_key(runs[-1][-1]) == _group_key(entry):
            runs[-1].append(entry)
        else:
            runs.append([entry])
    groups: list[AttemptGroup] = []
    next_allowed: LogEntry | None = None
    for run in runs:
        superseded = None if run[0].allowed else next_allowed
        groups.append(AttemptGroup(tuple(run), superseded))
        if run[0].allowed:
            next_allowed = run[-1]  # the earliest allowed decision of this run
    return tuple(groups)
