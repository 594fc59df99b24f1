"""What every gated method of the store stands on: MLflow's SQL store methods it calls
(typed here: MLflow leaves them unannotated), the model's row lock, the decision tags,
and which protected aliases and stages a model holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, cast

from mlflow.entities.model_registry.model_version_stages import STAGE_ARCHIVED
from mlflow.exceptions import MlflowException
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)

from ..evidence import decision_tags
from ..names import is_compliance_key
from .messages import database_fault, describe_target
from .servergate import Gate, UnavailableGate

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel
    from sqlalchemy.orm import Session

    from ..models import Decision, TargetKind

_logger = logging.getLogger("mlgate.registry")

MAX_ATTEMPTS = 3
"""Evaluations of one promotion whose evidence keeps changing underneath, before refusing."""

_PROMPT_TAG = "mlflow.prompt.is_prompt"  # mlflow.prompt.constants.IS_PROMPT_TAG_KEY
# mlflow.prompt.constants._PROMPT_SOURCE_PLACEHOLDERS: what MLflow writes as a prompt
# version's source (the client's and the store's spelling).
_PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})


SqlRow = Any
"""A row of MLflow's registry tables (``SqlModelVersion``...): MLflow declares their
columns without ``Mapped[...]``, so a type checker reads a row's ``name`` as a Column."""


def _is_true(value: object) -> bool:
    return str(value or "").strip().lower() == "true"


def mlflow_entity(row: Any) -> Any:
    """``row.to_mlflow_entity()`` (MLflow leaves the method unannotated)."""
    return cast(Callable[[], Any], row.to_mlflow_entity)()


class StoreBase:
    """The part of the gated store below its gated methods; mixed into MLflow's SQL store."""

    gate: Gate
    db_uri: str

    if TYPE_CHECKING:  # Provided by SqlAlchemyStore; declared here with their types.

        def ManagedSessionMaker(  # noqa: N802 - MLflow's name
            self, read_only: bool = False
        ) -> AbstractContextManager[Session]: ...
        def _get_query(self, session: Session, model: type[Any]) -> Any: ...
        def _get_sql_model_version(
            self, session: Session, name: str, version: str, eager: bool = False
        ) -> SqlRow: ...
        def _get_registered_model(
            self, session: Session, name: str, eager: bool = False
        ) -> SqlRow: ...
        def _get_dialect(self) -> str: ...
        def _populate_model_version_aliases(
            self, session: Session, name: str, version: ModelVersion
        ) -> ModelVersion: ...
        def get_model_version(self, name: str, version: str) -> ModelVersion: ...
        def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion: ...
        def get_registered_model(self, name: str) -> RegisteredModel: ...
        def set_registered_model_alias(self, name: str, alias: str, version: str) -> None: ...
        def delete_registered_model_alias(self, name: str, alias: str) -> None: ...
        def transition_model_version_stage(
            self, name: str, version: str, stage: str, archive_existing_versions: bool
        ) -> ModelVersion: ...
        def set_model_version_tag(self, name: str, version: str, tag: Any) -> None: ...
        def delete_model_version_tag(self, name: str, version: str, key: str) -> None: ...
        def create_model_version(
            self,
            name: str,
            source: str,
            run_id: str | None = None,
            tags: list[Any] | None = None,
            run_link: str | None = None,
            description: str | None = None,
            local_model_path: str | None = None,
            model_id: str | None = None,
        ) -> ModelVersion: ...

    # ---- locking and tags

    def _lock_model(self, session: Session, name: str) -> None:
        """Hold the registered model's row lock until this transaction ends."""
        query = self._get_query(session, SqlRegisteredModel).filter(SqlRegisteredModel.name == name)
        if self._get_dialect() == "sqlite":
            # No row locks in SQLite: any write takes the database write lock for the rest
            # of the transaction, and a no-op update is the cheapest write.
            query.update(
                {SqlRegisteredModel.last_updated_time: SqlRegisteredModel.last_updated_time},
                synchronize_session=False,
            )
        else:
            query.with_for_update().first()

    def _merge_decision_tags(
        self, session: Session, sql_mv: SqlRow, decision: Decision
    ) -> None:
        for key, value in decision_tags(decision).items():
            session.merge(
                SqlModelVersionTag(
                    workspace=sql_mv.workspace,
                    name=sql_mv.name,
                    version=sql_mv.version,
                    key=key,
                    value=value,
                )
            )

    def _write_decision_tags(self, name: str, version: str, decision: Decision) -> None:
        """The decision tags of a refusal, under the model's lock: concurrent refusals of one
        version must not race on the tags' insert-or-update (a duplicate-key 400)."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                with self.ManagedSessionMaker(read_only=False) as session:
                    self._lock_model(session, name)
                    sql_mv = self._get_sql_model_version(session, name, version)
                    self._merge_decision_tags(session, sql_mv, decision)
                return
            except MlflowException as exc:
                if attempt + 1 == MAX_ATTEMPTS or database_fault(exc) is None:
                    raise

    def _log_in_registry_database(self) -> bool:
        """The decision log (and the evidence ledger) is in the registry's own database."""
        import os

        from ..uris import sqlite_path

        log, registry = self.gate.settings.decision_log, self.gate.settings.registry_uri
        log_file, registry_file = sqlite_path(log), sqlite_path(registry)
        if log_file is not None and registry_file is not None:
            return os.path.realpath(log_file) == os.path.realpath(registry_file)
        return log == registry

    @staticmethod
    def _compliance_tags(tags: dict[str, str]) -> dict[str, str]:
        """The tags a database could match to ``compliance.*`` keys."""
        return {k: v for k, v in tags.items() if is_compliance_key(k)}

    def _current_compliance_tags(self, sql_mv: SqlRow) -> dict[str, str]:
        return self._compliance_tags({t.key: t.value for t in sql_mv.model_version_tags})

    def _protected_holdings(self, session: Session, sql_mv: SqlRow) -> list[str]:
        """The protected aliases and stage ``sql_mv`` holds, e.g. ``["alias 'production'"]``."""
        held = (
            self._get_query(session, SqlRegisteredModelAlias)
            .filter(
                SqlRegisteredModelAlias.name == sql_mv.name,
                SqlRegisteredModelAlias.version == sql_mv.version,
            )
            .all()
        )
        found = [
            describe_target(a.alias, "alias")
            for a in sorted(held, key=lambda a: a.alias)
            if self.gate.protected(a.alias, "alias")
        ]
        stage = sql_mv.current_stage or ""
        if stage and self._stage_is_protected(stage):
            found.append(describe_target(stage, "stage"))
        return found

    def _stage_is_protected(self, stage: str) -> bool:
        if isinstance(self.gate, UnavailableGate):  # fail closed, but not for parked versions
            return stage.lower() not in {"none", STAGE_ARCHIVED.lower()}
        return self.gate.protected(stage, "stage")

    def _model_holdings(self, session: Session, name: str) -> set[tuple[str, str, TargetKind]]:
        """Every protected ``(version, target, kind)`` the model holds."""
        found: set[tuple[str, str, TargetKind]] = set()
        aliases = (
            self._get_query(session, SqlRegisteredModelAlias)
            .filter(SqlRegisteredModelAlias.name == name)
            .all()
        )
        for a in aliases:
            if self.gate.protected(a.alias, "alias"):
                found.add((str(a.version), a.alias, "alias"))
        versions = (
            self._get_query(session, SqlModelVersion).filter(SqlModelVersion.name == name).all()
        )
        for v in versions:
            stage = v.current_stage or ""
            if stage and self._stage_is_protected(stage):
                found.add((str(v.version), stage, "stage"))
        return found

    def _is_ungated_prompt(self, name: str, version: str) -> bool:
        """A prompt version, and prompts are not gated (policy data ``prompts.gated``).

        A prompt is what MLflow's prompt registry writes: the marker on the registered
        model *and* on the version, and MLflow's placeholder as the version's source. The
        markers are plain tags anyone may write, so a version with a real source (model
        files a deployment would load) is gated whatever its tags say.
        """
        if self.gate.prompts_gated():
            return False
        with self.ManagedSessionMaker() as session:
            # Not get_registered_model: MLflow leaves the prompt marker out of its tags.
            marker = (
                self._get_query(session, SqlRegisteredModelTag)
                .filter(
                    SqlRegisteredModelTag.name == name, SqlRegisteredModelTag.key == _PROMPT_TAG
                )
                .first()
            )
            if marker is None or not _is_true(marker.value):
                return False
        mv = self.get_model_version(name, version)
        return _is_true(mv.tags.get(_PROMPT_TAG)) and mv.source in _PROMPT_SOURCES
