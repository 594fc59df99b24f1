"""The decision log's SQL table (SQLAlchemy Core): columns, indexes, UTC timestamps.

:mod:`mlgate.decisionlog` writes and reads it; nothing else touches the table.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect

from .logentry import as_utc

TABLE_NAME = "mlgate_decisions"
# One row (id 1): the head of the decision log's hash chain (:mod:`mlgate.logchain`).
CHAIN_TABLE_NAME = "mlgate_decisions_chain"


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
        value = as_utc(value)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return as_utc(value)


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
    # The hash chain (mlgate.logchain): the previous row's sha256 and this row's own.
    # Empty only on rows logged before the chain existed (a log migrated on open).
    sa.Column("prev_sha256", sa.String(64), nullable=True),
    sa.Column("row_sha256", sa.String(64), nullable=True),
    # Ed25519 over row_sha256 when MLGATE_LOG_SIGNING_KEY is set (mlgate.logsign).
    sa.Column("row_signature", sa.String(128), nullable=True),
    sa.Index("ix_mlgate_decisions_target", "model", "version", "target"),
    sa.Index("ix_mlgate_decisions_allowed_created", "allowed", "created_at"),
    # Exact, case-sensitive comparisons on MySQL as on the other backends.
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)


_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

chain_table = sa.Table(
    CHAIN_TABLE_NAME,
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
    # Rows with an id up to this one predate the chain (0: none).
    sa.Column("chain_after", _Id, nullable=False),
    # The last row appended (None: none yet), its sha256, and how many chained rows.
    sa.Column("last_id", _Id, nullable=True),
    sa.Column("head_sha256", sa.String(64), nullable=False),
    sa.Column("rows", _Id, nullable=False),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)


# The evidence ledger (mlgate.ledger): one row per accepted write or delete of a
# compliance.* tag through the gated store. Created with the decision log's tables.
LEDGER_TABLE_NAME = "mlgate_evidence_ledger"

ledger_table = sa.Table(
    LEDGER_TABLE_NAME,
    metadata,
    sa.Column("id", _Id, primary_key=True, autoincrement=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("tag_key", sa.String(250), nullable=False),  # MLflow's longest tag key
    sa.Column("old_value", sa.Text(), nullable=True),  # None: the tag was absent
    sa.Column("new_value", sa.Text(), nullable=True),  # None: the tag was deleted
    sa.Column("writer", sa.String(256), nullable=True),  # the verified user, None: none
    sa.Column("source", sa.String(256), nullable=False),  # the request that wrote it
    sa.Column("created_at", _UtcDateTime(), nullable=False),
    # (256 + 64) utf8mb4 characters: 1280 bytes, inside InnoDB's 3072-byte key limit.
    sa.Index("ix_mlgate_evidence_ledger_version", "model", "version"),
    mysql_engine="InnoDB",
    mysql_charset="utf8mb4",
    mysql_collate="utf8mb4_bin",
)
