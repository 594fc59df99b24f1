"""The gated model-registry store: MLflow's SQL registry store with mlgate inside.

``mlflow server --registry-store-uri mlgate+sqlite:///mlflow.db`` (also ``+postgresql``,
``+mysql``, ``+mssql``) runs MLflow's own :class:`SqlAlchemyStore` on the URI after the
``mlgate+`` prefix, with these methods gated, for every client, the MLflow UI included:

- ``set_registered_model_alias``: every alias is evaluated; a protected alias (policy data)
  is enforced (``deny``), any other is ``warn``: allowed, and the decision is logged and
  tagged all the same. "Protected" is decided the way a database collation matches names
  (:mod:`mlgate.names`): a plain ASCII case variant (``PRODUCTION``) *is* the protected
  alias and is enforced; any other alias that folds to a protected one (``prodúction``,
  ``PRODUCTİON``, ``publıc``, full-width, Cyrillic letters) is refused outright, because
  MariaDB's default collation would make it overwrite the protected row (MLflow's own
  validation already refuses a trailing space or a zero-width character); an alias
  holding a control or line-break character (``production\\n``) is refused too, since
  the UI shows it as the plain name.
- ``transition_model_version_stage`` to ``Staging`` (``warn``) or a protected stage
  (``Production``, any case: ``deny``). Moves to ``Archived`` or ``None`` are not
  promotions and pass untouched.
- ``set_model_version_tag`` / ``delete_model_version_tag`` of a compliance key (any key
  :func:`mlgate.names.is_compliance_key` says a database could match to ``compliance.*``:
  ``COMPLIANCE.filing.status`` too) are refused while the version holds a protected alias or
  stage (the evidence freeze), and by anyone policy data ``evidence.writers`` does not list
  (evidence authority); every accepted one is recorded in the evidence ledger.
- ``rename_registered_model`` of a model holding a protected alias or stage: every
  protected holding is evaluated again under the new name (waivers match names) and the
  rename is refused when any would be blocked. The blocked decisions are logged; the
  allowed ones are not (nothing is promoted, the versions keep positions they already
  hold), and the rename itself is written to the server log.
- ``create_model_version`` drops ``mlgate.*`` tags it is given: ``copy_model_version``
  copies every tag, and a copy was never evaluated.
- ``delete_registered_model_alias`` of a protected alias is allowed and written to the
  server log (the decision log holds decisions, and a removal is none).
- Artifact writes and deletes under ``compliance/`` of a version holding a protected alias
  or stage are refused when the server proxies artifacts (:func:`artifact_write_refusal`,
  hooked into every Flask request by :mod:`mlgate.registry`). Direct access to the artifact
  store itself is outside the server's reach.
- Prompts (registered models MLflow marks ``mlflow.prompt.is_prompt``) are not gated unless
  policy data says ``prompts.gated: true``: a prompt carries no compliance evidence, so the
  model gates would block every prompt alias.

A promotion, in this order:

1. read the version (tags, aliases, source) and its manifest through the server's own
   stores and artifact destination; evaluate with the runner, waivers applied. When the
   evidence cannot be read (an artifact store the server has no access to), a protected
   target is refused; a ``warn`` target is decided without the manifest, the read failure
   is written into the decision's warnings, and it is allowed (the contract: non-protected
   targets only warn);
2. blocked: append the decision to the decision log, write the four ``mlgate.*`` decision
   tags, refuse with ``PERMISSION_DENIED`` (HTTP 403) whose first line sums it up (``blocked
   by filing, labeling: filing.not_completed, ...; fixes below``; the MLflow UI drops line
   breaks), then each failing gate, code, message and fix;
3. allowed: one transaction takes the registered model's row lock and checks that the
   compliance tags are still those evaluated; then it appends the decision to the log, sets
   the alias (or stage) and the decision tags, and commits. A log that cannot be written
   refuses: nothing is promoted without an audit record.

If the evidence changed meanwhile, that decision is dropped unlogged (it was never acted
on) and the version is evaluated again, at most :data:`MAX_ATTEMPTS` times; the log holds
exactly the decisions that were applied or refused (a request whose evidence changed
:data:`MAX_ATTEMPTS` times is refused without a decision: none was made that held, and the
server log says so). One exception: a sqlite decision log
in the registry's own file cannot be written while the registry's write lock is held, so
there the evidence is compared without the lock, the decision logged, then compared again
under the lock; if it changed in that instant, the logged decision was not applied and the
next decision of the same request says so in its warnings ("decision X ... was not
applied").

The freeze takes the same lock, so a compliance-tag write and a promotion of the same model
never interleave: either the tag lands first and the promotion sees it, or the alias lands
first and the tag write is refused. The evaluation itself runs before the lock is taken, so
no database connection is held while waiting on the engine or the artifact store.

Fail closed: engine trouble, an unreadable manifest store (protected targets), a decision
log that cannot be written, and any unexpected exception in a gated method refuse with
``PERMISSION_DENIED``, never a 5xx (MLflow clients retry those for minutes), never a 400
carrying SQL text, and never an allow. MLflow's own client errors (an unknown version, an
invalid alias name: 4xx) pass through unchanged. The decision tags of a refusal are written
under the model's lock (concurrent refusals of one version would otherwise race on the
tags' insert-or-update).

The policy set is read once, when ``mlflow server`` starts (a bad one stops it with one
line), and handed to its workers in the environment (``_MLGATE_SERVER_POLICY_SET``):
every worker, however late it starts, decides with the policy set the server started with,
and a policy directory removed or edited while the server runs changes nothing until the
server is restarted. A worker that has to read the policies itself and cannot serves
every read and refuses every promotion (403) with the reason.

Configuration, from the server's environment, read once per process: ``MLGATE_ENGINE``
(``embedded``), ``MLGATE_OPA_URL``, ``MLGATE_OPA_TOKEN``, ``MLGATE_OPA_TIMEOUT`` (5 s),
``MLGATE_POLICIES`` (the bundled policies), ``MLGATE_DECISION_LOG`` (default: by
:func:`mlgate.decisionlog.default_log_url` for the registry database: the same database for
PostgreSQL/MySQL/MSSQL, ``mlgate-decisions.db`` beside a sqlite file). A bad setting stops
the server at start-up with one line, rather than refusing every promotion later.

Who decided: the user MLflow's authentication verified for the request
(``--app-name basic-auth`` sets ``flask.g.mlflow_authenticated_user``), else
``anonymous``: a name in an unverified ``Authorization`` header is a claim, not an
identity, and the server's OS user did not ask for anything. Outside a server (the plugin
used in-process by a script) it is :func:`mlgate.decisionlog.current_actor`.

The store is built in layers, each a module of this package: :mod:`.settings` (the
configuration and the policy set), :mod:`.servergate` (the gate of one process),
:mod:`.messages` (refusals and the fail-closed guard), :mod:`.storebase` (locks, tags,
holdings), :mod:`.apply` (a promotion's transactions), :mod:`.freeze` (the evidence
freeze), and here the gated alias, stage and rename methods.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import suppress
from dataclasses import replace
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from mlflow.entities.model_registry.model_version_stages import (
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    STAGE_ARCHIVED,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_ALREADY_EXISTS
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlRegisteredModelAlias,
)
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore

from .. import mlflowapi
from ..names import has_control_characters, is_plain_variant
from ..textsafe import printable
from .apply import PromotionMixin
from .freeze import FreezeMixin
from .messages import (
    blocked_message,
    describe_target,
    describe_version,
    failing_closed,
    quoted,
    refusal,
    requesting_user,
    verified_user,
)
from .servergate import configured_gate
from .settings import inner_uri
from .storebase import MAX_ATTEMPTS, SqlRow, mlflow_entity

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ..models import Decision, TargetKind

_logger = logging.getLogger("mlgate.registry")


class GatedStoreMixin(PromotionMixin, FreezeMixin):
    """The gated methods; mixed into MLflow's SQL store (and its workspace-aware variant)."""

    def _refuse_lookalike(self, name: str, alias: str) -> None:
        """Refuse an alias a database could confuse with a protected one, or a hidden one."""
        imitated = self.gate.imitated_alias(alias)
        hidden = has_control_characters(alias)
        if hidden or (imitated is not None and not is_plain_variant(alias, imitated)):
            _logger.warning(
                "mlgate: refused %s setting look-alike alias %s of model %s",
                printable(requesting_user()), quoted(alias), quoted(name),
            )
        if hidden:
            raise refusal(
                f"mlgate refused alias {quoted(alias)} of model {quoted(name)}: it holds a "
                "control or line-break character, which the MLflow UI does not show (it "
                "would read as another alias); choose an alias of visible characters"
            )
        if imitated is not None and not is_plain_variant(alias, imitated):
            raise refusal(
                f"mlgate refused alias {quoted(alias)} of model {quoted(name)}: it imitates "
                f"the protected alias {quoted(imitated)} (the same name to a database that "
                "ignores case, accents or look-alike letters, and to a reader); use "
                f"{quoted(imitated)} itself, which is gated, or another name"
            )

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        mlflowapi.validate_model_name(name)
        mlflowapi.validate_model_alias_name(alias)
        mlflowapi.validate_model_alias_name_reserved(alias)
        mlflowapi.validate_model_version(version)

        def apply(session: Session, sql_mv: SqlRow) -> None:
            session.merge(
                SqlRegisteredModelAlias(
                    workspace=sql_mv.workspace, name=name, alias=alias, version=sql_mv.version
                )
            )

        what = f"promoting {describe_version(name, version)} to alias {quoted(alias)}"
        with failing_closed(what):
            self.gate.ensure_available()
            self._refuse_lookalike(name, alias)
            if self._is_ungated_prompt(name, str(version)):
                super().set_registered_model_alias(name, alias, version)
                return None
            self._promote(name, str(version), alias, "alias", apply)
        return None

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> Any:
        canonical = mlflowapi.canonical_stage(stage)  # an unknown stage is MLflow's 400
        if canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS and not (
            self._stage_is_protected(canonical)
        ):
            # Archived / None: a demotion, not a promotion.
            return super().transition_model_version_stage(
                name, version, stage, archive_existing_versions
            )

        def apply(session: Session, sql_mv: SqlRow) -> Any:
            # SqlAlchemyStore.transition_model_version_stage, inside our transaction.
            now = mlflowapi.now_millis()
            archived = []
            if archive_existing_versions:
                archived = (
                    self._get_query(session, SqlModelVersion)
                    .filter(
                        SqlModelVersion.name == name,
                        SqlModelVersion.version != sql_mv.version,
                        SqlModelVersion.current_stage == canonical,
                    )
                    .all()
                )
                for other in archived:
                    other.current_stage = STAGE_ARCHIVED
                    other.last_updated_time = now
            sql_mv.current_stage = canonical
            sql_mv.last_updated_time = now
            registered = sql_mv.registered_model
            registered.last_updated_time = now
            session.add_all([*archived, sql_mv, registered])
            return self._populate_model_version_aliases(session, name, mlflow_entity(sql_mv))

        active = canonical in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS
        what = f"promoting {describe_version(name, version)} to stage {quoted(canonical)}"
        with failing_closed(what):
            if archive_existing_versions and not active:
                raise MlflowException(
                    f"Model version transition cannot archive existing model versions because "
                    f"'{stage}' is not an Active stage. Valid stages are "
                    f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            if self._is_ungated_prompt(name, str(version)):
                return super().transition_model_version_stage(
                    name, version, stage, archive_existing_versions
                )
            return self._promote(name, str(version), canonical, "stage", apply)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        if not self.gate.protected(alias, "alias"):
            super().delete_registered_model_alias(name, alias)
            return None
        held: str | None = None
        with suppress(MlflowException):  # no such alias: the deletion is MLflow's to answer
            held = str(self.get_model_version_by_alias(name, alias).version)
        super().delete_registered_model_alias(name, alias)
        _logger.warning(
            "mlgate: %s deleted protected alias %s of model %s (it pointed at version %s)",
            printable(requesting_user()), quoted(alias), quoted(name), held,
        )
        return None

    # ---- renames and copies

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        mlflowapi.validate_model_renaming(new_name)
        what = f"renaming model {quoted(name)} to {quoted(new_name)}"
        with failing_closed(what):
            for _ in range(MAX_ATTEMPTS):
                with self.ManagedSessionMaker() as session:
                    holdings = self._model_holdings(session, name)
                self._refuse_blocked_holdings(name, new_name, holdings)
                with self.ManagedSessionMaker(read_only=False) as session:
                    self._lock_model(session, name)
                    if not self._model_holdings(session, name) <= holdings:
                        continue  # a position was taken meanwhile: evaluate it too
                    renamed = self._rename_in(session, name, new_name)
                if holdings:
                    _logger.warning(
                        "mlgate: %s renamed model %s to %s; its protected holdings (%s) were "
                        "evaluated under the new name and pass",
                        printable(requesting_user()), quoted(name), quoted(new_name),
                        ", ".join(f"version {v} {describe_target(t, k)}"
                                  for v, t, k in sorted(holdings)),
                    )
                return renamed
            raise refusal(
                f"mlgate refused {what}: its protected aliases kept changing while it was "
                "evaluated; retry"
            )

    def _refuse_blocked_holdings(
        self, name: str, new_name: str, holdings: set[tuple[str, str, TargetKind]]
    ) -> None:
        """Evaluate each protected holding as ``new_name``; refuse if any is blocked."""
        if not holdings:
            return
        self.gate.ensure_available()
        actor = requesting_user()
        blocked: list[tuple[Decision, str]] = []
        for version, target, kind in sorted(holdings):
            if self._is_ungated_prompt(name, version):
                continue
            evidence = replace(self.gate.read(self.get_model_version(name, version)),
                               model=new_name)
            decision, gate_input = self.gate.decide(evidence, target, kind, verified_user())
            if not decision.allowed:
                decision.warnings = [
                    *decision.warnings,
                    f"evaluated for renaming model {quoted(name)} to {quoted(new_name)}; "
                    "rename refused",
                ]
                self.gate.record(decision, gate_input, actor)
                blocked.append((decision, kind))
        if blocked:
            details = "\n".join(blocked_message(d, k) for d, k in blocked)
            raise refusal(
                f"mlgate refused renaming model {quoted(name)} to {quoted(new_name)}: "
                f"{len(blocked)} of its protected positions would be blocked under the new "
                "name (waivers and policies match model names).\n" + details
            )

    def _rename_in(self, session: Session, name: str, new_name: str) -> Any:
        """SqlAlchemyStore.rename_registered_model, inside our transaction."""
        import sqlalchemy

        registered = self._get_registered_model(session, name)
        try:
            now = mlflowapi.now_millis()
            registered.name = new_name
            for sql_mv in registered.model_versions:
                sql_mv.name = new_name
                sql_mv.last_updated_time = now
            registered.last_updated_time = now
            session.add_all([registered, *registered.model_versions])
            session.flush()
            return mlflow_entity(registered)
        except sqlalchemy.exc.IntegrityError as exc:
            raise MlflowException(
                f"Registered Model (name={new_name}) already exists.",
                RESOURCE_ALREADY_EXISTS,
            ) from exc

class GatedSqlAlchemyStore(GatedStoreMixin, SqlAlchemyStore):
    """MLflow's SQL registry store, gated. ``store_uri`` carries the ``mlgate+`` prefix."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        plain = inner_uri(store_uri)
        cast(Callable[[str], None], super().__init__)(plain)  # MLflow's is unannotated
        self.gate = configured_gate(plain, tracking_uri)


def build_store(store_uri: str, tracking_uri: str | None = None) -> SqlAlchemyStore:
    """The gated store for ``store_uri`` (workspace-aware when MLflow workspaces are on).

    :func:`mlgate.registry.make_store` installs the artifact guard first in a server."""
    if mlflowapi.workspaces_enabled():
        return _workspace_store_class()(store_uri, tracking_uri)
    return GatedSqlAlchemyStore(store_uri, tracking_uri)


@cache
def _workspace_store_class() -> type[SqlAlchemyStore]:
    from mlflow.store.model_registry.sqlalchemy_workspace_store import (
        WorkspaceAwareSqlAlchemyStore,
    )

    class GatedWorkspaceAwareSqlAlchemyStore(GatedStoreMixin, WorkspaceAwareSqlAlchemyStore):
        def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
            plain = inner_uri(store_uri)
            cast(Callable[[str], None], super().__init__)(plain)  # MLflow's is unannotated
            self.gate = configured_gate(plain, tracking_uri)

    return GatedWorkspaceAwareSqlAlchemyStore
