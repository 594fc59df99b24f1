"""The decision log's hash chain: each row carries the previous row's sha256.

A row's sha256 is that of the canonical JSON (:func:`mlgate.jsondoc.canonical`) of its
stored fields in the fixed order :data:`CHAIN_FIELDS`, its id and its own ``prev_sha256``
included; the first chained row's ``prev_sha256`` is :data:`GENESIS`. The head (last row
id, its sha256, the number of chained rows) lives in one row of
:data:`mlgate.logtable.chain_table`, which every append locks first, so concurrent writers
keep one chain and a row edited, deleted, inserted or reordered behind mlgate's back -
even the last one - breaks it. :func:`verify` walks it (``mlgate log verify``).

A log that predates the chain gets the columns and the head on open; its old rows stay
outside the chain (``chain_after``: the last id before it began).

What this cannot show: someone with write access who recomputes every hash after theirs
and rewrites the head leaves a chain that verifies; only a copy of the head kept elsewhere
(or a signed head) catches that.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from .jsondoc import canonical
from .logentry import DecisionLogError, rfc3339
from .logsign import signed
from .logtable import CHAIN_TABLE_NAME, TABLE_NAME, chain_table, decisions_table

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

GENESIS = "0" * 64
HEAD_ID = 1
CHAIN_FIELDS: tuple[str, ...] = (
    "id", "decision_id", "model", "version", "target", "allowed", "enforcement", "in_scope",
    "failing_codes", "decision", "gate_input", "input_sha256", "policy_revision", "engine",
    "actor", "source", "created_at", "prev_sha256",
)
_CHAIN_COLUMNS = {"prev_sha256": 64, "row_sha256": 64, "row_signature": 128}


def row_sha256(row: Mapping[Any, Any]) -> str:
    """The sha256 of one row's canonical bytes (``row`` holds every :data:`CHAIN_FIELDS`)."""
    fields: list[list[Any]] = []
    for name in CHAIN_FIELDS:
        value = row[name]
        if name == "created_at":
            value = rfc3339(value)
        elif name in ("allowed", "in_scope") and value is not None:
            value = bool(value)
        elif name == "id":
            value = int(value)
        fields.append([name, value])
    return hashlib.sha256(canonical(fields)).hexdigest()


# --------------------------------------------------------------------------- setup


def ensure_chain(engine: Engine) -> None:
    """Add the chain columns to a log that predates them, and the head row when absent.

    Run on every open, after the tables exist; several processes may run it at once.
    """
    columns = {c["name"] for c in sa.inspect(engine).get_columns(TABLE_NAME)}
    for column, length in _CHAIN_COLUMNS.items():
        if column not in columns:
            _add_column(engine, column, length)
    with engine.begin() as conn:
        if conn.execute(sa.select(chain_table.c.id)).first() is not None:
            return
        t = decisions_table
        chained = conn.execute(
            sa.select(t.c.id).where(t.c.prev_sha256.is_not(None)).limit(1)
        ).first()
        if chained is not None:
            return  # the head was removed from a chained log: verify says so, append refuses
        last = conn.execute(sa.select(sa.func.max(t.c.id))).scalar()
    try:
        with engine.begin() as conn:
            conn.execute(chain_table.insert().values(
                id=HEAD_ID, chain_after=int(last or 0), last_id=None, head_sha256=GENESIS,
                rows=0,
            ))
    except sa.exc.IntegrityError:
        pass  # another process created it first


def _add_column(engine: Engine, column: str, length: int) -> None:
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(f"ALTER TABLE {TABLE_NAME} ADD COLUMN {column} VARCHAR({length})")
            )
    except sa.exc.DBAPIError:
        # Another process added it between our look and our ALTER.
        columns = {c["name"] for c in sa.inspect(engine).get_columns(TABLE_NAME)}
        if column not in columns:
            raise


# --------------------------------------------------------------------------- appending


def lock_head(conn: Connection) -> str:
    """Lock the chain's head for this transaction and return the sha256 to chain to.

    The no-op UPDATE takes sqlite's write lock and the row lock on PostgreSQL and MySQL,
    so a concurrent append waits here until this one commits.
    """
    c = chain_table.c
    conn.execute(
        chain_table.update().where(c.id == HEAD_ID).values(rows=c.rows)
    )
    head = conn.execute(
        sa.select(c.head_sha256).where(c.id == HEAD_ID).with_for_update()
    ).first()
    if head is None:
        raise DecisionLogError(
            f"decision log: its chain head (table {CHAIN_TABLE_NAME}) is missing; "
            "refusing to append (run mlgate log verify)"
        )
    return str(head[0])


def advance(conn: Connection, row_id: int, sha256: str) -> None:
    """Move the head to the row just appended (in the append's transaction)."""
    c = chain_table.c
    conn.execute(
        chain_table.update().where(c.id == HEAD_ID).values(
            last_id=row_id, head_sha256=sha256, rows=c.rows + 1
        )
    )


# --------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class ChainReport:
    """What :func:`verify` found: intact, or the first broken row and why."""

    rows: int  # chained rows walked
    chain_after: int  # rows with an id up to this predate the chain
    legacy: int  # how many such rows there are
    head: str
    broken_id: int | None = None
    broken_decision: str | None = None
    problem: str = ""

    @property
    def intact(self) -> bool:
        return not self.problem

    def text(self, url: str) -> str:
        if not self.intact:
            where = "" if self.broken_id is None else f"row {self.broken_id}"
            if self.broken_decision:
                where += f" (decision {self.broken_decision})"
            return f"BROKEN: {url}: {where + ': ' if where else ''}{self.problem}\n"
        line = f"ok: {self.rows} rows, chain intact, head {self.head}"
        if self.legacy:
            line += (f"; rows 1-{self.chain_after} predate the chain "
                     f"({self.legacy} rows, not covered)")
        return line + "\n"


class _Broken(Exception):
    def __init__(self, row: Mapping[Any, Any] | None, problem: str, row_id: int | None = None):
        super().__init__(problem)
        self.row_id = row_id if row is None else int(row["id"])
        self.decision = None if row is None else str(row["decision_id"])
        self.problem = problem


def verify(engine: Engine, key: Ed25519PublicKey | None = None) -> ChainReport:
    """Walk the chain in id order; the first row that does not fit is named. With ``key``,
    every chained row must also carry its valid signature."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")  # one snapshot: rows and head read together
        else:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        head = conn.execute(sa.select(chain_table)).mappings().first()
        if head is None:
            return ChainReport(0, 0, 0, GENESIS, problem=(
                f"the chain head (table {CHAIN_TABLE_NAME}) is missing: it was deleted"))
        walk = _Walk(conn, head, key)
        try:
            walk.run()
        except _Broken as broken:
            return ChainReport(walk.count, walk.chain_after, walk.legacy, walk.expected,
                               broken.row_id, broken.decision, broken.problem)
        finally:
            conn.rollback()
    return ChainReport(walk.count, walk.chain_after, walk.legacy, walk.expected)


class _Walk:
    def __init__(
        self, conn: Connection, head: Mapping[Any, Any], key: Ed25519PublicKey | None
    ) -> None:
        self.conn = conn
        self.key = key
        self.head = head
        self.chain_after = int(head["chain_after"])
        self.legacy = 0
        self.count = 0
        self.expected = GENESIS
        self.previous: int | None = None  # the id of the last chained row walked
        self._hashes: dict[str, int] | None = None

    def hashes(self) -> dict[str, int]:
        """Every row's recorded sha256 -> its id (read only to explain a break)."""
        if self._hashes is None:
            t = decisions_table
            rows = self.conn.execute(sa.select(t.c.id, t.c.row_sha256)).all()
            self._hashes = {str(sha): int(i) for i, sha in rows if sha is not None}
        return self._hashes

    def run(self) -> None:
        t = decisions_table
        query = sa.select(t).order_by(t.c.id)
        for row in self.conn.execute(query).mappings():
            if int(row["id"]) <= self.chain_after:
                if row["row_sha256"] is not None:
                    raise _Broken(row, "carries a chain hash but its id predates the chain "
                                       f"(rows 1-{self.chain_after}): its id was edited")
                self.legacy += 1
                continue
            self.check(row)
            self.expected = str(row["row_sha256"])
            self.previous = int(row["id"])
            self.count += 1
        self.check_head()

    def check(self, row: Mapping[Any, Any]) -> None:
        last_id = self.head["last_id"]
        if last_id is None or int(row["id"]) > int(last_id):
            raise _Broken(row, f"comes after the last row mlgate appended (row {last_id}): "
                               "inserted outside mlgate")
        prev, stored = row["prev_sha256"], row["row_sha256"]
        if prev is None or stored is None:
            raise _Broken(row, "its prev_sha256/row_sha256 is empty although the chain "
                               f"began after row {self.chain_after}: edited")
        actual = row_sha256(row)
        if actual != stored:
            moved = self.appended_as(row, str(stored))
            if moved is not None:
                raise _Broken(row, f"holds the entry appended as row {moved}: rows reordered")
            raise _Broken(row, f"edited: its fields hash to {actual[:16]}…, it was appended "
                               f"with {str(stored)[:16]}…")
        if prev != self.expected:
            self.explain_link(row, str(prev))
        if self.key is not None and not signed(self.key, actual, row["row_signature"]):
            raise _Broken(row, "its signature does not verify with the log's key: "
                               "rewritten, or appended without MLGATE_LOG_SIGNING_KEY")

    def appended_as(self, row: Mapping[Any, Any], stored: str) -> int | None:
        """The other id under which ``row``'s fields hash to its recorded sha256."""
        t = decisions_table
        ids = self.conn.execute(sa.select(t.c.id)).scalars().all()
        if self.head["last_id"] is not None:
            ids = [*ids, int(self.head["last_id"])]
        for other in ids:
            if int(other) != int(row["id"]) and row_sha256({**row, "id": other}) == stored:
                return int(other)
        return None

    def explain_link(self, row: Mapping[Any, Any], prev: str) -> None:
        before = "the chain's start" if self.previous is None else f"row {self.previous}"
        linked = self.hashes().get(prev)
        if linked is not None and self.previous is not None and linked < self.previous:
            raise _Broken(None, f"stands between row {linked} and row {row['id']}, which "
                                "link to each other: inserted", row_id=self.previous)
        if linked is not None:
            raise _Broken(row, f"links to row {linked}, not to {before}: rows reordered")
        gap = ""
        if self.previous is not None and int(row["id"]) != self.previous + 1:
            gap = f" (ids {self.previous + 1}-{int(row['id']) - 1} are missing)"
        raise _Broken(row, f"prev_sha256 {prev[:16]}… matches no row, {before} hashes to "
                           f"{self.expected[:16]}…: a row before it was deleted{gap}, or "
                           "this row was forged")

    def check_head(self) -> None:
        head = self.head
        last_id = None if head["last_id"] is None else int(head["last_id"])
        if last_id != self.previous:
            raise _Broken(None, f"the log ends at row {self.previous}, but mlgate last "
                                f"appended row {last_id}: deleted", row_id=last_id)
        if head["head_sha256"] != self.expected or int(head["rows"]) != self.count:
            raise _Broken(None, f"the chain head records {head['rows']} rows ending in "
                                f"{str(head['head_sha256'])[:16]}…, the log has {self.count} "
                                f"ending in {self.expected[:16]}…: rewritten",
                          row_id=self.previous)
