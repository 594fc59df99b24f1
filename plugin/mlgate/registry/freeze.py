"""The evidence freeze: a version holding a protected alias or stage keeps its compliance
evidence. Its ``compliance.*`` tags cannot be set or deleted, and the artifacts under its
``compliance/`` folder cannot be written or deleted through a server that proxies
artifacts (:func:`artifact_refusal`, hooked into every request by
:mod:`mlgate.registry.guard`). A new version (a copy) never carries ``mlgate.*`` tags.

Evidence authority: with policy data ``evidence.writers`` set, only the users listed there
(as MLflow's authentication verified them) may set or delete compliance tags, or create a
version carrying them; anyone else, a request nobody verified included, is refused (403).
Every compliance-tag write or delete accepted is recorded in the evidence ledger
(:mod:`mlgate.ledger`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModelAlias,
)

from .. import mlflowapi
from ..errors import one_line
from ..facts import TAG_PREFIX
from ..ledger import EvidenceWrite, ledger_insert
from ..names import fold, is_compliance_key
from ..textsafe import printable
from .messages import (
    database_fault,
    describe_version,
    failing_closed,
    quoted,
    refusal,
    request_source,
    requesting_user,
    verified_user,
)
from .servergate import server_artifact_location
from .storebase import SqlRow, StoreBase

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from sqlalchemy.orm import Session

_logger = logging.getLogger("mlgate.registry")

_DECISION_TAG_PREFIX = "mlgate."


class FreezeMixin(StoreBase):
    """The evidence freeze of the gated store (see the module doc)."""

    def create_model_version(
        self,
        name: str,
        source: str,
        run_id: str | None = None,
        tags: list[Any] | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """MLflow's (its signature: :class:`StoreBase`), without ``mlgate.*`` tags: a new
        version (a copy) was never evaluated."""
        kept = [t for t in tags or [] if not fold(str(t.key)).startswith(_DECISION_TAG_PREFIX)]
        if len(kept) != len(tags or []):
            _logger.info(
                "mlgate: dropped the mlgate.* tags given to a new version of model %s "
                "(a copy is not evaluated)", quoted(name),
            )
        evidence = [t for t in kept if is_compliance_key(str(t.key))]
        if evidence:  # compliance evidence given at creation: the writer rule and the ledger
            what = f"creating a version of model {quoted(name)} with {TAG_PREFIX}* tags"
            with failing_closed(what):
                self.gate.ensure_available()
                self._refuse_unlisted_writer(what)
        created = super().create_model_version(
            name, source, run_id, kept, *args, **kwargs
        )
        if evidence:
            what = f"recording the {TAG_PREFIX}* tags of a new version of model {quoted(name)}"
            with failing_closed(what):
                for tag in evidence:
                    self.gate.log.record_evidence(EvidenceWrite(
                        model=name, version=str(created.version), key=str(tag.key),
                        old_value=None, new_value=str(tag.value), writer=verified_user(),
                        source=request_source(), created_at=datetime.now(UTC),
                    ))
        return created

    # ---- the evidence freeze

    def _refuse_unlisted_writer(self, what: str) -> None:
        """Evidence authority: only the users policy data ``evidence.writers`` lists may
        write compliance evidence (an empty list: not enforced)."""
        writers = self.gate.config.evidence.writers
        if not writers:
            return
        user = verified_user()
        if user is not None and user in writers:
            return
        who = f"user {quoted(user)}" if user else "a request no authentication verified"
        _logger.warning("mlgate: refused %s: %s is not an evidence writer", what, who)
        raise refusal(
            f"mlgate refused {what}: {who} is not listed in policy data evidence.writers, "
            f"the users who may write {TAG_PREFIX}* evidence (any key a database matches "
            f"to {TAG_PREFIX}*, in any case or accent); ask a listed compliance officer to "
            "write it"
        )

    def _frozen_write(
        self,
        what: str,
        name: str,
        version: str,
        key: str,
        new_value: str | None,
        write: Callable[[Session, Any], None],
    ) -> None:
        """``write`` the tag unless its writer is not an evidence writer or the version
        holds a protected alias or stage; record it in the evidence ledger."""
        with failing_closed(what):
            self.gate.ensure_available()
            self._refuse_unlisted_writer(what)
        with failing_closed(what), self.ManagedSessionMaker(read_only=False) as session:
            self._lock_model(session, name)
            sql_mv = self._get_sql_model_version(session, name, version)
            held = self._protected_holdings(session, sql_mv)
            if held:
                _logger.warning(
                    "mlgate: refused %s %s: the version holds %s",
                    printable(requesting_user()), what, ", ".join(held),
                )
                raise refusal(
                    f"mlgate refused {what}: the version holds {', '.join(held)}, so its "
                    f"{TAG_PREFIX}* evidence is frozen (any key a database matches to "
                    f"{TAG_PREFIX}*, in any case or accent). To change it, remove the "
                    "protected alias (or move the version out of the protected stage), edit "
                    "the evidence, and promote the version again"
                )
            old = self._tag_row(session, sql_mv, key)
            old_value = None if old is None else str(old.value)
            write(session, sql_mv)
            if old is None and new_value is None:
                return  # nothing was deleted
            self._record_evidence(session, EvidenceWrite(
                model=name, version=str(sql_mv.version), key=key, old_value=old_value,
                new_value=new_value, writer=verified_user(), source=request_source(),
                created_at=datetime.now(UTC),
            ))

    def _tag_row(self, session: Session, sql_mv: SqlRow, key: str) -> Any:
        """The version's tag row the database matches to ``key`` (its collation decides)."""
        return (
            self._get_query(session, SqlModelVersionTag)
            .filter(
                SqlModelVersionTag.name == sql_mv.name,
                SqlModelVersionTag.version == sql_mv.version,
                SqlModelVersionTag.key == key,
            )
            .first()
        )

    def _record_evidence(self, session: Session, row: EvidenceWrite) -> None:
        """The ledger row, in the tag's transaction when the log shares the database;
        else in the log's own, before the tag commits (a ledger failure refuses it)."""
        if self._log_in_registry_database():
            session.execute(ledger_insert(row))
        else:
            self.gate.log.record_evidence(row)

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        if not is_compliance_key(str(tag.key)):
            super().set_model_version_tag(name, version, tag)
            return None
        mlflowapi.validate_model_name(name)
        mlflowapi.validate_model_version(version)
        mlflowapi.validate_model_version_tag(tag.key, tag.value)

        def write(session: Session, sql_mv: SqlRow) -> None:
            session.merge(
                SqlModelVersionTag(
                    workspace=sql_mv.workspace, name=name, version=sql_mv.version,
                    key=tag.key, value=tag.value,
                )
            )

        what = f"setting tag {quoted(tag.key)} of {describe_version(name, version)}"
        self._frozen_write(what, name, version, str(tag.key), str(tag.value), write)
        return None

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if not is_compliance_key(str(key)):
            super().delete_model_version_tag(name, version, key)
            return None
        mlflowapi.validate_model_name(name)
        mlflowapi.validate_model_version(version)
        mlflowapi.validate_tag_name(key)

        def delete(session: Session, sql_mv: SqlRow) -> None:
            existing = self._tag_row(session, sql_mv, key)
            if existing is not None:
                session.delete(existing)

        what = f"deleting tag {quoted(key)} of {describe_version(name, version)}"
        self._frozen_write(what, name, version, str(key), None, delete)
        return None

    # ---- proxied artifacts

    def artifact_write_refusal(self, location: str, method: str) -> str | None:
        """Why a write/delete (``method``) of artifact ``location`` must be refused: it is
        under ``compliance/`` of a version holding a protected alias or stage (or, for a
        delete, a folder holding one); None when it may go ahead."""
        written = _comparable(location)
        with self.ManagedSessionMaker() as session:
            aliases = self._get_query(session, SqlRegisteredModelAlias).all()
            holders = {
                (a.name, str(a.version)) for a in aliases if self.gate.protected(a.alias, "alias")
            }
            staged = self._get_query(session, SqlModelVersion).filter(
                SqlModelVersion.current_stage.isnot(None)
            ).all()
            holders |= {
                (v.name, str(v.version)) for v in staged
                if v.current_stage and self._stage_is_protected(v.current_stage)
            }
        for name, version in sorted(holders):
            mv = self.get_model_version(name, version)
            if method != "DELETE" and not _may_share_artifacts(mv, written):
                continue
            evidence_dir = _comparable(self.gate.registry.artifact_location(mv)) + "/compliance"
            inside = written == evidence_dir or written.startswith(evidence_dir + "/")
            above = method == "DELETE" and evidence_dir.startswith(written.rstrip("/") + "/")
            if inside or above:
                return (
                    f"mlgate refused {method} of artifact {printable(location)}: it is the "
                    f"compliance evidence of {describe_version(name, version)}, which holds "
                    "a protected alias or stage; remove that first, then change the evidence "
                    "and promote the version again"
                )
        return None


def run_upload_location(args: Any) -> str:
    """Where the UI's ``/ajax-api/2.0/mlflow/upload-artifact`` writes: the run's artifact
    URI and the ``path`` argument."""
    from mlflow.server.handlers import _get_tracking_store

    run_id = str(args.get("run_uuid") or args.get("run_id") or "")
    relative = str(args.get("path") or "").strip("/")
    root = mlflowapi.run_artifact_uri(_get_tracking_store(), run_id).rstrip("/")
    return f"{root}/{relative}" if relative else root


def artifact_refusal(location: str, method: str) -> str | None:
    """Why the server must refuse writing (``PUT``) or deleting (``DELETE``) artifact
    ``location``, or None. Only writes under a ``compliance`` folder and deletes are looked
    at closely. Fails closed: an error while checking is a refusal."""
    segments = location.split("/")
    if method != "DELETE" and not any(fold(s) == "compliance" for s in segments):
        return None
    try:
        from mlflow.server.handlers import _get_model_registry_store

        store = _get_model_registry_store()
        if not isinstance(store, FreezeMixin):
            return None
        message = store.artifact_write_refusal(location, method)
    except Exception as exc:  # noqa: BLE001 - fail closed, never a 5xx
        _logger.exception("mlgate: checking an artifact write failed")
        fault = database_fault(exc)
        reason = f"database error ({fault})" if fault else one_line(str(exc))
        message = (
            f"mlgate could not check {method} of artifact {printable(location)}: "
            f"{printable(reason)}; refused (fail closed)"
        )
    if message:
        _logger.warning("mlgate: %s (by %s)", message, printable(requesting_user()))
    return message


def _comparable(location: str) -> str:
    """An artifact location in the form the server stores it (proxied URIs resolved)."""
    resolved = server_artifact_location(location)
    parts = urlsplit(resolved)
    if parts.scheme in ("", "file"):
        return os.path.normpath(parts.path if parts.scheme else resolved)
    return resolved.rstrip("/")


def _may_share_artifacts(mv: ModelVersion, written: str) -> bool:
    """A cheap filter: does the written path name the version's run or logged model?"""
    ids = {mv.run_id, getattr(mv, "model_id", None)}
    source = mv.source or ""
    if source.startswith("models:/"):
        ids.add(source[len("models:/"):].split("/", 1)[0])
    elif source.startswith("runs:/"):
        ids.add(source[len("runs:/"):].split("/", 1)[0])
    else:
        return True  # a plain URI: compare the locations themselves
    segments = set(written.split("/"))
    return any(i and i in segments for i in ids)
