"""The gated model-registry store: MLflow's SQL registry store with mlgate inside.

``mlflow server --registry-store-uri mlgate+sqlite:///mlflow.db`` (also ``+postgresql``,
``+mysql``, ``+mssql``) runs MLflow's own :class:`SqlAlchemyStore` on the URI after the
``mlgate+`` prefix, with these methods gated, for every client, the MLflow UI included:

- ``set_registered_model_alias``: every alias is evaluated; a protected alias (policy data,
  compared case-insensitively) is enforced (``deny``), any other is ``warn``: allowed,
  and the decision is logged and tagged all the same.
- ``transition_model_version_stage`` to ``Staging`` (``warn``) or a protected stage
  (``Production``, any case: ``deny``). Moves to ``Archived`` or ``None`` are not
  promotions and pass untouched.
- ``set_model_version_tag`` / ``delete_model_version_tag`` of a ``compliance.*`` key are
  refused while the version holds a protected alias or stage (the evidence freeze).
- ``delete_registered_model_alias`` of a protected alias is allowed and written to the
  server log (the decision log holds decisions, and a removal is none).

A promotion, in this order:

1. read the version (tags, aliases, source) and its manifest through the server's own
   stores and artifact destination; evaluate with the runner, waivers applied;
2. append the decision to the decision log, allowed or blocked: nothing is promoted
   without an audit record, and a log that cannot be written refuses;
3. blocked: write the four ``mlgate.*`` decision tags, refuse with ``PERMISSION_DENIED``
   (HTTP 403) and a message listing each failing gate, code, message and fix;
4. allowed: one transaction takes the registered model's row lock, checks that the
   ``compliance.*`` tags are still those evaluated, sets the alias (or stage) and the
   decision tags, and commits. If the evidence changed meanwhile, the version is evaluated
   again (a new decision, logged), at most :data:`MAX_ATTEMPTS` times.

The freeze takes the same lock, so a compliance-tag write and a promotion of the same model
never interleave: either the tag lands first and the promotion sees it, or the alias lands
first and the tag write is refused. The evaluation itself runs before the lock is taken, so
no database connection is held while waiting on the engine or the artifact store.

Fail closed: engine trouble, an unreadable manifest store, a decision log that cannot be
written, and any unexpected exception in a gated method refuse with ``PERMISSION_DENIED``,
never a 5xx (MLflow clients retry those for minutes) and never an allow. MLflow's own
client errors (an unknown version, an invalid alias name: 4xx) pass through unchanged.

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
"""

from __future__ import annotations

import logging
import os
import posixpath
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlflow.entities.model_registry.model_version_stages import (
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    STAGE_ARCHIVED,
    get_canonical_stage,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, PERMISSION_DENIED, ErrorCode
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
)
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_tag_name,
)

from ..errors import MlgateError, one_line
from ..evidence import Evidence, Registry, build_gate_input, decision_tags, display_uri
from ..facts import TAG_PREFIX
from . import BACKENDS, PREFIX

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.store.artifact.artifact_repo import ArtifactRepository
    from sqlalchemy.orm import Session

    from ..decisionlog import DecisionLog
    from ..engine.base import Engine
    from ..models import Decision, GateInput, PolicyConfig
    from ..policy import PolicySet

_logger = logging.getLogger("mlgate.registry")

MAX_ATTEMPTS = 3
"""Evaluations of one promotion whose evidence keeps changing underneath, before refusing."""

ANONYMOUS = "anonymous"
PERMISSION_DENIED_CODE = ErrorCode.Name(PERMISSION_DENIED)

# Set by `mlflow server` for its workers (mlflow/server/constants.py).
_SERVER_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"
_SERVER_REGISTRY_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"
_SERVER_SERVE_ARTIFACTS_ENV = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
_SERVER_ARTIFACTS_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"
_PROXIED_ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"


# --------------------------------------------------------------------------- settings


def inner_uri(store_uri: str) -> str:
    """``mlgate+postgresql://...`` -> ``postgresql://...``; anything else is refused."""
    if not store_uri.startswith(PREFIX):
        raise MlflowException(
            f"mlgate registry store: {display_uri(store_uri)!r} does not start with {PREFIX!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    uri = store_uri[len(PREFIX):]
    backend = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if backend not in BACKENDS:
        raise MlflowException(
            f"mlgate registry store: unsupported backend {backend!r} in "
            f"{display_uri(store_uri)!r}; "
            f"expected mlgate+ followed by one of {', '.join(BACKENDS)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return _with_installed_driver(uri)


def _with_installed_driver(uri: str) -> str:
    """A driverless URI with the driver that is installed (as the decision log does).

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3 and ``mysql://`` to MySQLdb; most
    MLflow installs have psycopg2 or PyMySQL instead.
    """
    import sqlalchemy as sa

    from ..decisionlog import with_installed_driver as installed

    try:
        url = sa.engine.make_url(uri)
    except sa.exc.ArgumentError:
        return uri  # MLflow's own store will say what is wrong with it
    if "+" in url.drivername:
        return uri
    return installed(url).render_as_string(hide_password=False)


def in_server() -> bool:
    """True in an ``mlflow server`` process (the CLI and its uvicorn workers)."""
    return bool(os.environ.get(_SERVER_BACKEND_ENV) or os.environ.get(_SERVER_REGISTRY_ENV))


@dataclass(frozen=True)
class GateSettings:
    """What the gate is configured with, from the server's environment."""

    registry_uri: str  # the plain SQL URI the store wraps
    tracking_uri: str
    engine: str = "embedded"
    opa_url: str | None = None
    opa_token: str | None = None
    opa_timeout: float = 5.0
    policies: str | None = None
    decision_log: str = ""

    @classmethod
    def from_environment(cls, registry_uri: str, tracking_uri: str | None) -> GateSettings:
        from ..decisionlog import default_log_url
        from ..errors import InputError

        env = os.environ
        raw_timeout = env.get("MLGATE_OPA_TIMEOUT", "").strip() or "5"
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise InputError(
                f"MLGATE_OPA_TIMEOUT={raw_timeout!r}: expected a number of seconds"
            ) from exc
        plain = registry_uri[len(PREFIX):] if registry_uri.startswith(PREFIX) else registry_uri
        return cls(
            registry_uri=plain,
            # In a server the tracking store is the --backend-store-uri, whatever
            # MLFLOW_TRACKING_URI says.
            tracking_uri=env.get(_SERVER_BACKEND_ENV) or tracking_uri or plain,
            engine=(env.get("MLGATE_ENGINE", "").strip() or "embedded").lower(),
            opa_url=env.get("MLGATE_OPA_URL", "").strip() or None,
            opa_token=env.get("MLGATE_OPA_TOKEN", "").strip() or None,
            opa_timeout=timeout,
            policies=env.get("MLGATE_POLICIES", "").strip() or None,
            decision_log=default_log_url(plain),
        )


def server_registry_uri() -> str | None:
    """The registry store URI ``mlflow server`` was started with (None outside a server)."""
    return os.environ.get(_SERVER_REGISTRY_ENV) or os.environ.get(_SERVER_BACKEND_ENV) or None


# --------------------------------------------------------------------------- evidence


def server_artifact_location(location: str) -> str:
    """Where a proxied artifact URI lives for this server, as ``mlflow server`` resolves it.

    ``mlflow-artifacts:/<path>`` (and ``http(s)://host/api/2.0/mlflow-artifacts/artifacts/
    <path>``) name ``<path>`` under the server's ``--artifacts-destination``; the server
    reads them there, not through its own HTTP API. Any other URI is returned unchanged.
    """
    parts = urlsplit(location)
    if parts.scheme == "mlflow-artifacts":
        path = parts.path.lstrip("/")
    elif parts.scheme in ("http", "https") and _PROXIED_ARTIFACTS_ROUTE in parts.path:
        path = parts.path.split(_PROXIED_ARTIFACTS_ROUTE, 1)[1].lstrip("/")
    else:
        return location
    destination = os.environ.get(_SERVER_ARTIFACTS_DESTINATION_ENV, "")
    if os.environ.get(_SERVER_SERVE_ARTIFACTS_ENV) != "true" or not destination:
        from ..errors import RegistryError

        raise RegistryError(
            f"artifact {location} is proxied by an MLflow server, and this server does not "
            "serve artifacts (--serve-artifacts with --artifacts-destination)"
        )
    return posixpath.join(destination.rstrip("/"), path) if path else destination


class ServerRegistry(Registry):
    """:class:`mlgate.evidence.Registry` reading artifacts where the server keeps them."""

    def _repository(self, location: str) -> ArtifactRepository:
        return super()._repository(server_artifact_location(location))


# --------------------------------------------------------------------------- the gate


class Gate:
    """The policy set, engine, decision log and evidence reader of one server process."""

    def __init__(self, settings: GateSettings) -> None:
        from ..decisionlog import DecisionLog
        from ..policy import load_policy_dir
        from ..runner import make_engine

        self.settings = settings
        self.policy_set: PolicySet = load_policy_dir(settings.policies)
        self._local = threading.local()
        # The embedded engine keeps one compiled regorus Engine per thread itself (one must
        # never leave its thread); the OPA engine's HTTP session gets one per thread here.
        self._shared_engine: Engine | None = None
        if settings.engine == "embedded":
            self._shared_engine = make_engine("embedded", self.policy_set)
        else:
            self._engine_for_thread()  # a bad engine name or URL stops the server now
        self.log: DecisionLog = DecisionLog(settings.decision_log)
        self.registry = ServerRegistry(settings.tracking_uri, settings.registry_uri)

    @property
    def config(self) -> PolicyConfig:
        return self.policy_set.config

    def _engine_for_thread(self) -> Engine:
        if self._shared_engine is not None:
            return self._shared_engine
        engine = getattr(self._local, "engine", None)
        if engine is None:
            from ..runner import make_engine

            s = self.settings
            engine = make_engine(
                s.engine, self.policy_set, opa_url=s.opa_url, opa_token=s.opa_token,
                timeout=s.opa_timeout,
            )
            self._local.engine = engine
        return engine

    def protected(self, target: str, kind: str) -> bool:
        from ..runner import enforcement_for

        return enforcement_for(target, kind, self.config) == "deny"

    def read(self, mv: ModelVersion) -> Evidence:
        return self.registry.evidence(mv)

    def decide(self, evidence: Evidence, target: str, kind: str) -> tuple[Decision, GateInput]:
        from ..runner import attach_waivers, evaluate

        gate_input = build_gate_input(evidence, target=target, kind=kind, config=self.config)
        gate_input, warnings = attach_waivers(gate_input, self.policy_set)
        decision = evaluate(gate_input, self._engine_for_thread(), self.policy_set,
                            warnings=warnings)
        return decision, gate_input

    def record(self, decision: Decision, gate_input: GateInput, actor: str) -> None:
        self.log.append(decision, gate_input, actor=actor, source="server")


_gates: dict[GateSettings, Gate] = {}
_gates_lock = threading.Lock()


def gate_for(settings: GateSettings) -> Gate:
    """One :class:`Gate` per configuration per process: the policy set is read once."""
    with _gates_lock:
        gate = _gates.get(settings)
        if gate is None:
            gate = _gates[settings] = Gate(settings)
        return gate


# --------------------------------------------------------------------------- messages


def requesting_user() -> str:
    """Who asked: the user MLflow auth verified, else ``anonymous`` (see the module doc)."""
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


def refusal(message: str) -> MlflowException:
    return MlflowException(message, error_code=PERMISSION_DENIED)


def describe_target(target: str, kind: str) -> str:
    return f"{kind} {target!r}"


def blocked_message(decision: Decision, kind: str) -> str:
    """Why a promotion was refused: each failing gate, its codes, messages and the fix."""
    lines = [
        f"mlgate refused promoting model {decision.model!r} version {decision.version} to "
        f"{describe_target(decision.target, kind)}: blocked by policy.",
    ]
    for gate in decision.blocking_gates:
        lines.append(f"- gate {gate.id} ({gate.title}): {gate.status}")
        for violation in gate.violations:
            if not violation.waived_by:
                lines.append(f"  - {violation.code}: {violation.message}")
        if gate.remediation:
            lines.append(f"  fix: {gate.remediation}")
        if gate.references:
            lines.append(f"  see: {'; '.join(gate.references)}")
    revision = decision.policy_revision or "unknown"
    lines.append(
        f"decision {decision.decision_id} (policy revision {revision}, engine "
        f"{decision.engine}); details: mlgate log --blocked, or the server's /mlgate/ page"
    )
    return "\n".join(lines)


# --------------------------------------------------------------------------- the store


class GatedStoreMixin:
    """The gated methods; mixed into MLflow's SQL store (and its workspace-aware variant)."""

    gate: Gate

    # Provided by SqlAlchemyStore.
    ManagedSessionMaker: Callable[..., Any]
    _get_query: Callable[..., Any]
    _get_sql_model_version: Callable[..., Any]
    _get_dialect: Callable[[], str]
    _populate_model_version_aliases: Callable[..., Any]
    get_model_version: Callable[..., Any]
    get_model_version_by_alias: Callable[..., Any]

    # ---- fail closed

    @contextmanager
    def _failing_closed(self, what: str) -> Iterator[None]:
        """Any failure in a gated method refuses (403), except MLflow's own client errors."""
        try:
            yield
        except MlflowException as exc:
            if exc.error_code == PERMISSION_DENIED_CODE or exc.get_http_status_code() < 500:
                raise
            _logger.exception("mlgate: %s failed", what)
            raise refusal(
                f"mlgate could not check {what}: {one_line(exc.message)}; refused (fail closed)"
            ) from exc
        except MlgateError as exc:
            _logger.warning("mlgate: %s: %s", what, exc)
            raise refusal(
                f"mlgate could not check {what}: {one_line(str(exc))}; refused (fail closed). "
                "Fix the server's mlgate settings (MLGATE_ENGINE, MLGATE_OPA_URL, "
                "MLGATE_DECISION_LOG) or the cause above, then retry"
            ) from exc
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as exc:  # noqa: BLE001 - never a 5xx, never an allow
            _logger.exception("mlgate: %s failed unexpectedly", what)
            raise refusal(
                f"mlgate could not check {what}: internal error "
                f"{type(exc).__name__}: {one_line(str(exc))}; refused (fail closed)"
            ) from exc

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
        self, session: Session, sql_mv: SqlModelVersion, decision: Decision
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
        with self.ManagedSessionMaker(read_only=False) as session:
            sql_mv = self._get_sql_model_version(session, name, version)
            self._merge_decision_tags(session, sql_mv, decision)

    @staticmethod
    def _compliance_tags(sql_mv: SqlModelVersion) -> dict[str, str]:
        return {
            t.key: t.value for t in sql_mv.model_version_tags if t.key.startswith(TAG_PREFIX)
        }

    def _protected_holdings(self, session: Session, sql_mv: SqlModelVersion) -> list[str]:
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
        if stage and self.gate.protected(stage, "stage"):
            found.append(describe_target(stage, "stage"))
        return found

    # ---- promotions

    def _promote(
        self,
        name: str,
        version: str,
        target: str,
        kind: str,
        apply: Callable[[Session, SqlModelVersion], Any],
    ) -> Any:
        """Evaluate, log, then apply under the model's lock if the evidence is unchanged."""
        actor = requesting_user()
        for _ in range(MAX_ATTEMPTS):
            mv = self.get_model_version(name, version)
            evidence = self.gate.read(mv)
            decision, gate_input = self.gate.decide(evidence, target, kind)
            self.gate.record(decision, gate_input, actor)
            if not decision.allowed:
                self._write_decision_tags(name, version, decision)
                _logger.warning(
                    "mlgate: blocked %s promoting model %r version %s to %s (decision %s)",
                    actor, name, version, describe_target(target, kind), decision.decision_id,
                )
                raise refusal(blocked_message(decision, kind))
            with self.ManagedSessionMaker(read_only=False) as session:
                self._lock_model(session, name)
                sql_mv = self._get_sql_model_version(session, name, version)
                if self._compliance_tags(sql_mv) == evidence.compliance_tags:
                    result = apply(session, sql_mv)
                    self._merge_decision_tags(session, sql_mv, decision)
                    return result
            _logger.info(
                "mlgate: the evidence of model %r version %s changed during evaluation; "
                "evaluating again", name, version,
            )
        raise refusal(
            f"mlgate refused promoting model {name!r} version {version} to "
            f"{describe_target(target, kind)}: its compliance tags changed while it was "
            f"being evaluated, {MAX_ATTEMPTS} times; retry when they have settled"
        )

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        _validate_model_name(name)
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
        _validate_model_version(version)

        def apply(session: Session, sql_mv: SqlModelVersion) -> None:
            session.merge(
                SqlRegisteredModelAlias(
                    workspace=sql_mv.workspace, name=name, alias=alias, version=sql_mv.version
                )
            )

        what = f"promoting model {name!r} version {version} to alias {alias!r}"
        with self._failing_closed(what):
            self._promote(name, str(version), alias, "alias", apply)

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> Any:
        canonical = get_canonical_stage(stage)  # an unknown stage is MLflow's 400
        if canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS and not self.gate.protected(
            canonical, "stage"
        ):
            # Archived / None: a demotion, not a promotion.
            return super().transition_model_version_stage(  # type: ignore[misc]
                name, version, stage, archive_existing_versions
            )

        def apply(session: Session, sql_mv: SqlModelVersion) -> Any:
            # SqlAlchemyStore.transition_model_version_stage, inside our transaction.
            now = get_current_time_millis()
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
            return self._populate_model_version_aliases(session, name, sql_mv.to_mlflow_entity())

        active = canonical in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS
        what = f"promoting model {name!r} version {version} to stage {canonical!r}"
        with self._failing_closed(what):
            if archive_existing_versions and not active:
                raise MlflowException(
                    f"Model version transition cannot archive existing model versions because "
                    f"'{stage}' is not an Active stage. Valid stages are "
                    f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            return self._promote(name, str(version), canonical, "stage", apply)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        if not self.gate.protected(alias, "alias"):
            return super().delete_registered_model_alias(name, alias)  # type: ignore[misc]
        held: str | None = None
        with suppress(MlflowException):  # no such alias: the deletion is MLflow's to answer
            held = str(self.get_model_version_by_alias(name, alias).version)
        super().delete_registered_model_alias(name, alias)  # type: ignore[misc]
        _logger.warning(
            "mlgate: %s deleted protected alias %r of model %r (it pointed at version %s)",
            requesting_user(), alias, name, held,
        )
        return None

    # ---- the evidence freeze

    def _frozen_write(
        self, what: str, name: str, version: str, write: Callable[[Session, Any], None]
    ) -> None:
        """``write`` the tag unless the version holds a protected alias or stage."""
        with self._failing_closed(what), self.ManagedSessionMaker(read_only=False) as session:
            self._lock_model(session, name)
            sql_mv = self._get_sql_model_version(session, name, version)
            held = self._protected_holdings(session, sql_mv)
            if held:
                _logger.warning(
                    "mlgate: refused %s %s: the version holds %s",
                    requesting_user(), what, ", ".join(held),
                )
                raise refusal(
                    f"mlgate refused {what}: the version holds {', '.join(held)}, so its "
                    f"{TAG_PREFIX}* evidence is frozen. To change it, remove the protected "
                    "alias (or move the version out of the protected stage), edit the "
                    "evidence, and promote the version again"
                )
            write(session, sql_mv)

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        if not str(tag.key).startswith(TAG_PREFIX):
            return super().set_model_version_tag(name, version, tag)  # type: ignore[misc]
        _validate_model_name(name)
        _validate_model_version(version)
        _validate_model_version_tag(tag.key, tag.value)

        def write(session: Session, sql_mv: SqlModelVersion) -> None:
            session.merge(
                SqlModelVersionTag(
                    workspace=sql_mv.workspace, name=name, version=sql_mv.version,
                    key=tag.key, value=tag.value,
                )
            )

        what = f"setting tag {tag.key!r} of model {name!r} version {version}"
        self._frozen_write(what, name, version, write)
        return None

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if not str(key).startswith(TAG_PREFIX):
            return super().delete_model_version_tag(name, version, key)  # type: ignore[misc]
        _validate_model_name(name)
        _validate_model_version(version)
        _validate_tag_name(key)

        def delete(session: Session, sql_mv: SqlModelVersion) -> None:
            existing = (
                self._get_query(session, SqlModelVersionTag)
                .filter(
                    SqlModelVersionTag.name == name,
                    SqlModelVersionTag.version == sql_mv.version,
                    SqlModelVersionTag.key == key,
                )
                .first()
            )
            if existing is not None:
                session.delete(existing)

        what = f"deleting tag {key!r} of model {name!r} version {version}"
        self._frozen_write(what, name, version, delete)
        return None


class GatedSqlAlchemyStore(GatedStoreMixin, SqlAlchemyStore):
    """MLflow's SQL registry store, gated. ``store_uri`` carries the ``mlgate+`` prefix."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        plain = inner_uri(store_uri)
        super().__init__(plain)
        self.gate = _configured_gate(plain, tracking_uri)


def _configured_gate(plain_uri: str, tracking_uri: str | None) -> Gate:
    try:
        return gate_for(GateSettings.from_environment(plain_uri, tracking_uri))
    except MlgateError as exc:
        # At server start-up this stops `mlflow server` with the reason: one line, since
        # MLflow's CLI would log the exception with a 40-line traceback.
        message = f"mlgate registry store: {one_line(str(exc))}"
        if _in_server_cli():
            import sys

            print(f"mlflow server: {message}", file=sys.stderr)
            raise SystemExit(2) from None
        raise MlflowException(message) from exc


def _in_server_cli() -> bool:
    """True in the ``mlflow server`` command's own process (it checks the stores once)."""
    import sys

    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("mlflow", "__main__.py") and sys.argv[1:2] == ["server"]


def build_store(store_uri: str, tracking_uri: str | None = None) -> SqlAlchemyStore:
    """The gated store for ``store_uri`` (workspace-aware when MLflow workspaces are on)."""
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    if MLFLOW_ENABLE_WORKSPACES.get():
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
            super().__init__(plain)
            self.gate = _configured_gate(plain, tracking_uri)

    return GatedWorkspaceAwareSqlAlchemyStore
