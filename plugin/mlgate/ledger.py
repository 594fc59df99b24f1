"""The evidence ledger: who wrote each ``compliance.*`` tag, when, and from where.

Every write or delete of a compliance tag that the gated store (:mod:`mlgate.registry`)
accepts appends one row to ``mlgate_evidence_ledger`` (:data:`mlgate.logtable.ledger_table`),
beside the decision log and created with it: model, version, key, old and new value, the
user MLflow's authentication verified (None without one), time, and the request source.
When the log is in the registry's own database the row is written in the same
transaction as the tag; otherwise in its own transaction while the tag write holds the
model's lock, and a ledger that cannot be written refuses the tag write.

:func:`provenance` matches a version's current compliance tags against the ledger: a tag
whose last ledger row set exactly its current value has a known writer and time; any
other (written before the ledger existed, through a store without mlgate, or changed in
the database directly) is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .logentry import rfc3339
from .logtable import ledger_table
from .models import Provenance


@dataclass(frozen=True)
class EvidenceWrite:
    """One ledger row. ``new_value`` None: a delete; ``old_value`` None: the tag was new."""

    model: str
    version: str
    key: str
    old_value: str | None
    new_value: str | None
    writer: str | None
    source: str
    created_at: datetime

    def values(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "tag_key": self.key,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "writer": self.writer,
            "source": self.source[:256],
            "created_at": self.created_at,
        }


def ledger_insert(row: EvidenceWrite) -> sa.Insert:
    return ledger_table.insert().values(**row.values())


def read_history(conn: Connection, model: str, version: str) -> list[EvidenceWrite]:
    t = ledger_table
    query = (
        sa.select(t)
        .where(t.c.model == model, t.c.version == str(version))
        .order_by(t.c.id.asc())
    )
    return [
        EvidenceWrite(
            model=r["model"], version=r["version"], key=r["tag_key"],
            old_value=r["old_value"], new_value=r["new_value"], writer=r["writer"],
            source=r["source"], created_at=r["created_at"],
        )
        for r in conn.execute(query).mappings().all()
    ]


def provenance(tags: dict[str, str], history: list[EvidenceWrite]) -> dict[str, Provenance]:
    """Per current compliance tag: who set its current value and when, or unknown."""
    last: dict[str, EvidenceWrite] = {}
    for row in history:
        last[row.key] = row
    found: dict[str, Provenance] = {}
    for key in sorted(tags):
        written = last.get(key)
        if written is not None and written.new_value == tags[key]:
            found[key] = Provenance(
                writer=written.writer, time=rfc3339(written.created_at), source=written.source
            )
        else:
            found[key] = Provenance()
    return found
