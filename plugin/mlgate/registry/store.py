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
  stage (the evidence freeze).
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
"""

from __future__ import annotations

import base64
import json
import logging
import os
import posixpath
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlflow.entities.model_registry.model_version_stages import (
    DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS,
    STAGE_ARCHIVED,
    get_canonical_stage,
)
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INVALID_PARAMETER_VALUE,
    PERMISSION_DENIED,
    RESOURCE_ALREADY_EXISTS,
    ErrorCode,
)
from mlflow.store.model_registry.dbmodels.models import (
    SqlModelVersion,
    SqlModelVersionTag,
    SqlRegisteredModel,
    SqlRegisteredModelAlias,
    SqlRegisteredModelTag,
)
from mlflow.store.model_registry.sqlalchemy_store import SqlAlchemyStore
from mlflow.utils.time import get_current_time_millis
from mlflow.utils.validation import (
    _validate_model_alias_name,
    _validate_model_alias_name_reserved,
    _validate_model_name,
    _validate_model_renaming,
    _validate_model_version,
    _validate_model_version_tag,
    _validate_tag_name,
)

from ..errors import MlgateError, PolicyError, one_line
from ..evidence import Evidence, Registry, decision_tags, display_uri
from ..facts import TAG_PREFIX
from ..names import (
    fold,
    has_control_characters,
    is_compliance_key,
    is_plain_variant,
    protected_match,
)
from ..textsafe import printable
from .scheme import BACKENDS, PREFIX

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
# The policy set the server started with, for its workers (see the module doc).
_POLICY_SNAPSHOT_ENV = "_MLGATE_SERVER_POLICY_SET"
_SNAPSHOT_LIMIT = 96_000  # an environment variable holds at most 128 KiB on Linux
_PROMPT_TAG = "mlflow.prompt.is_prompt"  # mlflow.prompt.constants.IS_PROMPT_TAG_KEY
# mlflow.prompt.constants._PROMPT_SOURCE_PLACEHOLDERS: what MLflow writes as a prompt
# version's source (the client's and the store's spelling).
_PROMPT_SOURCES = frozenset({"dummy-source", "prompt-template"})
_DECISION_TAG_PREFIX = "mlgate."


def _is_true(value: object) -> bool:
    return str(value or "").strip().lower() == "true"


def quoted(text: str) -> str:
    """``'text'`` with control characters shown as escapes: user input in a message."""
    return "'" + printable(str(text)) + "'"


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

    def artifact_location(self, mv: ModelVersion) -> str:
        """As :meth:`Registry.artifact_location`, with a ``runs:/`` answer resolved here.

        A copy's source is ``models:/<name>/<version>``, whose download URI is the
        original's ``runs:/<run>/<path>``; MLflow would resolve that to the run's
        ``mlflow-artifacts:`` root through an HTTP tracking URI, which a server has not.
        """
        location = super().artifact_location(mv)
        if not location.startswith("runs:/"):
            return location
        run_id, _, path = location[len("runs:/"):].partition("/")
        with self.calling(f"run {run_id} of model {mv.name!r} version {mv.version}"):
            root = self.client.get_run(run_id).info.artifact_uri.rstrip("/")
        path = path.strip("/")
        return f"{root}/{path}" if path else root

    def _repository(self, location: str) -> ArtifactRepository:
        return super()._repository(server_artifact_location(location))


# --------------------------------------------------------------------------- policy set


def _policy_files(root: Path) -> dict[str, str]:
    """The files :func:`mlgate.policy.load_policy_dir` reads, as texts (the snapshot)."""
    from ..policy import DATA_FILE, WAIVER_FILE, is_policy_file

    files: dict[str, str] = {}
    for path in [*sorted(root.rglob("*.rego")), root / DATA_FILE, root / WAIVER_FILE]:
        if path.is_file() and is_policy_file(path.relative_to(root).as_posix()):
            try:
                files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"{path}: cannot read: {exc}") from exc
    return files


def _starting_server() -> bool:
    """True in the ``mlflow server`` command itself, before it starts its workers."""
    try:
        import click
    except ImportError:  # pragma: no cover - mlflow's CLI is click
        return False
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name == "server"


def _encode_snapshot(document: dict[str, Any]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(document).encode(), 9)).decode()


def _decode_snapshot(text: str) -> dict[str, Any]:
    return json.loads(zlib.decompress(base64.b64decode(text)))


def held_policy_set(directory: str | None) -> PolicySet:
    """The policy set of ``directory`` (None: the bundled one), read once per server.

    In ``mlflow server`` the set read at start is handed to the workers through the
    environment, and a worker uses it rather than the directory, which may have changed or
    vanished since.
    """
    from ..policy import bundled_dir, load_policy_dir, policy_set_from_files

    wanted = directory or ""
    snapshot = os.environ.get(_POLICY_SNAPSHOT_ENV)
    if snapshot:
        document = _decode_snapshot(snapshot)
        if document.get("policies") == wanted:
            return policy_set_from_files(
                document["root"], document["files"], document["revision"]
            )
    policy_set = load_policy_dir(directory)
    if not _starting_server():
        return policy_set
    root = Path(directory) if directory else bundled_dir("policies")
    files = _policy_files(root)
    again = policy_set_from_files(str(root), files, policy_set.revision)
    if again.fingerprint() != policy_set.fingerprint():
        raise PolicyError(f"{root}: the policy files changed while the server read them")
    encoded = _encode_snapshot(
        {"policies": wanted, "root": str(root), "files": files, "revision": policy_set.revision}
    )
    if len(encoded) <= _SNAPSHOT_LIMIT:
        os.environ[_POLICY_SNAPSHOT_ENV] = encoded
    else:  # each worker reads the directory itself, and refuses if it cannot
        _logger.warning("mlgate: policy set too large to hand to the workers; each reads it")
    return policy_set


# --------------------------------------------------------------------------- the gate


class Gate:
    """The policy set, engine, decision log and evidence reader of one server process."""

    def __init__(self, settings: GateSettings) -> None:
        from ..decisionlog import DecisionLog
        from ..runner import make_engine

        self.settings = settings
        self.policy_set: PolicySet = held_policy_set(settings.policies)
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
        """Is promoting to ``target`` enforced? For aliases, also any alias folding to a
        protected one (a look-alike is refused before this counts, or was stored earlier)."""
        from ..runner import enforcement_for

        if kind == "alias" and self.imitated_alias(target) is not None:
            return True
        return enforcement_for(target, kind, self.config) == "deny"

    def imitated_alias(self, alias: str) -> str | None:
        """The protected alias ``alias`` folds to (itself or a look-alike), or None."""
        return protected_match(alias, self.config.protected_aliases)

    def prompts_gated(self) -> bool:
        return self.config.prompts.gated

    def ensure_available(self) -> None:
        """Raise when this gate cannot decide (see :class:`UnavailableGate`)."""

    def read(self, mv: ModelVersion) -> Evidence:
        return self.registry.evidence(mv)

    def decide(self, evidence: Evidence, target: str, kind: str) -> tuple[Decision, GateInput]:
        """:func:`mlgate.gate.decide` with this process's policy set and this thread's engine."""
        from .. import gate

        return gate.decide(evidence, target, kind, self._engine_for_thread(), self.policy_set)

    def record(self, decision: Decision, gate_input: GateInput, actor: str) -> None:
        from .. import gate

        gate.record(self.log, decision, gate_input, actor=actor, source="server")


class UnavailableGate(Gate):
    """A server worker whose policy set could not be read: reads go on, and every
    promotion, freeze-relevant write and rename refuses (403) with :attr:`reason`.
    Every alias and stage counts as protected (fail closed)."""

    def __init__(self, settings: GateSettings, reason: str) -> None:  # noqa: D107
        self.settings = settings
        self.reason = reason

    def protected(self, target: str, kind: str) -> bool:
        return True

    def imitated_alias(self, alias: str) -> str | None:
        return alias

    def prompts_gated(self) -> bool:
        return True

    def ensure_available(self) -> None:
        raise PolicyError(
            f"the server's policy set could not be read ({self.reason}); every promotion "
            "is refused until the server is restarted with a valid policy directory"
        )

    def read(self, mv: ModelVersion) -> Evidence:
        self.ensure_available()
        raise AssertionError  # pragma: no cover - ensure_available raised

    def decide(self, evidence: Evidence, target: str, kind: str) -> tuple[Decision, GateInput]:
        self.ensure_available()
        raise AssertionError  # pragma: no cover - ensure_available raised


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


def _database_fault(exc: BaseException) -> str | None:
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


# --------------------------------------------------------------------------- the store


class GatedStoreMixin:
    """The gated methods; mixed into MLflow's SQL store (and its workspace-aware variant)."""

    gate: Gate

    # Provided by SqlAlchemyStore.
    ManagedSessionMaker: Callable[..., Any]
    _get_query: Callable[..., Any]
    _get_sql_model_version: Callable[..., Any]
    _get_registered_model: Callable[..., Any]
    _get_dialect: Callable[[], str]
    _populate_model_version_aliases: Callable[..., Any]
    get_model_version: Callable[..., Any]
    get_model_version_by_alias: Callable[..., Any]
    get_registered_model: Callable[..., Any]
    db_uri: str

    # ---- fail closed

    @contextmanager
    def _failing_closed(self, what: str) -> Iterator[None]:
        """Any failure in a gated method refuses (403), except MLflow's own client errors.

        A database error is never passed on as it is: MLflow turns them into 400s whose
        message is the SQL statement and its parameters.
        """
        try:
            yield
        except MlflowException as exc:
            if exc.error_code == PERMISSION_DENIED_CODE:
                raise
            fault = _database_fault(exc)
            if fault is None and exc.get_http_status_code() < 500:
                raise
            _logger.exception("mlgate: %s failed", printable(what))
            reason = f"database error ({fault})" if fault else one_line(exc.message)
            raise refusal(
                f"mlgate could not check {what}: {printable(reason)}; refused (fail closed)"
            ) from exc
        except MlgateError as exc:
            _logger.warning("mlgate: %s: %s", printable(what), printable(str(exc)))
            fault = _database_fault(exc)
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
            fault = _database_fault(exc)
            detail = f"database error ({fault})" if fault else (
                f"internal error {type(exc).__name__}: {one_line(str(exc))}"
            )
            raise refusal(
                f"mlgate could not check {what}: {printable(detail)}; refused (fail closed)"
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
                if attempt + 1 == MAX_ATTEMPTS or _database_fault(exc) is None:
                    raise

    @staticmethod
    def _compliance_tags(tags: dict[str, str]) -> dict[str, str]:
        """The tags a database could match to ``compliance.*`` keys."""
        return {k: v for k, v in tags.items() if is_compliance_key(k)}

    def _current_compliance_tags(self, sql_mv: SqlModelVersion) -> dict[str, str]:
        return self._compliance_tags({t.key: t.value for t in sql_mv.model_version_tags})

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
        if stage and self._stage_is_protected(stage):
            found.append(describe_target(stage, "stage"))
        return found

    def _stage_is_protected(self, stage: str) -> bool:
        if isinstance(self.gate, UnavailableGate):  # fail closed, but not for parked versions
            return stage.lower() not in {"none", STAGE_ARCHIVED.lower()}
        return self.gate.protected(stage, "stage")

    def _model_holdings(self, session: Session, name: str) -> set[tuple[str, str, str]]:
        """Every protected ``(version, target, kind)`` the model holds."""
        found: set[tuple[str, str, str]] = set()
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

    # ---- prompts and look-alikes

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

    # ---- promotions

    def _read_evidence(
        self, mv: ModelVersion, target: str, kind: str
    ) -> tuple[Evidence, list[str]]:
        """The version's evidence; for a ``warn`` target whose artifacts cannot be read,
        the tags alone and a warning saying what could not be read."""
        try:
            return self.gate.read(mv), []
        except MlgateError as exc:
            if self.gate.protected(target, kind):
                raise
            reason = one_line(str(exc))
            _logger.warning(
                "mlgate: evidence of %s unreadable, deciding %s without the manifest: %s",
                describe_version(mv.name, str(mv.version)), describe_target(target, kind),
                printable(reason),
            )
            evidence = Evidence(
                model=mv.name,
                version=str(mv.version),
                source=mv.source or "",
                tags=dict(mv.tags or {}),
                aliases=list(mv.aliases or []),
                manifest=None,
            )
            return evidence, [
                f"evidence could not be read ({printable(reason)}); decided without the "
                f"manifest, and allowed because {describe_target(target, kind)} is not "
                "protected (warn)"
            ]

    def _log_shares_registry_file(self) -> bool:
        """A sqlite decision log in the registry's own file (see the module doc)."""
        from ..evidence import _sqlite_path

        log = _sqlite_path(self.gate.settings.decision_log)
        registry = _sqlite_path(self.gate.settings.registry_uri)
        return bool(log and registry) and os.path.realpath(log) == os.path.realpath(registry)

    def _unchanged(self, sql_mv: SqlModelVersion, evidence: Evidence) -> bool:
        return self._current_compliance_tags(sql_mv) == self._compliance_tags(evidence.tags)

    def _promote(
        self,
        name: str,
        version: str,
        target: str,
        kind: str,
        apply: Callable[[Session, SqlModelVersion], Any],
    ) -> Any:
        """Evaluate; refuse (logged) or apply and log under the model's lock, evidence unchanged."""
        self.gate.ensure_available()
        actor = requesting_user()
        notes: list[str] = []
        for _ in range(MAX_ATTEMPTS):
            mv = self.get_model_version(name, version)
            evidence, read_notes = self._read_evidence(mv, target, kind)
            decision, gate_input = self.gate.decide(evidence, target, kind)
            if read_notes or notes:
                decision.warnings = [*decision.warnings, *read_notes, *notes]
            if not decision.allowed:
                self.gate.record(decision, gate_input, actor)
                self._write_decision_tags(name, version, decision)
                _logger.warning(
                    "mlgate: blocked %s promoting %s to %s (decision %s)",
                    printable(actor), describe_version(name, version),
                    describe_target(target, kind), decision.decision_id,
                )
                raise refusal(blocked_message(decision, kind))
            applied, result, logged = self._apply_allowed(
                name, version, evidence, decision, gate_input, actor, apply
            )
            if applied:
                return result
            notes = [
                f"decision {decision.decision_id} (allowed) for this request was logged but "
                "not applied: the version's compliance tags changed before the promotion "
                "was written; this decision replaces it"
            ] if logged else []
            _logger.warning(
                "mlgate: the evidence of %s changed during evaluation; evaluating again",
                describe_version(name, version),
            )
        raise refusal(
            f"mlgate refused promoting {describe_version(name, version)} to "
            f"{describe_target(target, kind)}: its compliance tags changed while it was "
            f"being evaluated, {MAX_ATTEMPTS} times; retry when they have settled"
        )

    def _apply_allowed(
        self,
        name: str,
        version: str,
        evidence: Evidence,
        decision: Decision,
        gate_input: GateInput,
        actor: str,
        apply: Callable[[Session, SqlModelVersion], Any],
    ) -> tuple[bool, Any, bool]:
        """``(applied, result, logged)``: log and apply if the evidence is unchanged."""
        logged = False
        if self._log_shares_registry_file():
            with self.ManagedSessionMaker() as session:
                if not self._unchanged(self._get_sql_model_version(session, name, version),
                                       evidence):
                    return False, None, False
            self.gate.record(decision, gate_input, actor)
            logged = True
        with self.ManagedSessionMaker(read_only=False) as session:
            self._lock_model(session, name)
            sql_mv = self._get_sql_model_version(session, name, version)
            if not self._unchanged(sql_mv, evidence):
                return False, None, logged
            if not logged:
                # Under the lock: the row is written only for a promotion that happens.
                self.gate.record(decision, gate_input, actor)
            result = apply(session, sql_mv)
            self._merge_decision_tags(session, sql_mv, decision)
            return True, result, True

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

        what = f"promoting {describe_version(name, version)} to alias {quoted(alias)}"
        with self._failing_closed(what):
            self.gate.ensure_available()
            self._refuse_lookalike(name, alias)
            if self._is_ungated_prompt(name, str(version)):
                return super().set_registered_model_alias(  # type: ignore[misc]
                    name, alias, version
                )
            self._promote(name, str(version), alias, "alias", apply)
        return None

    def transition_model_version_stage(
        self, name: str, version: str, stage: str, archive_existing_versions: bool
    ) -> Any:
        canonical = get_canonical_stage(stage)  # an unknown stage is MLflow's 400
        if canonical not in DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS and not (
            self._stage_is_protected(canonical)
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
        what = f"promoting {describe_version(name, version)} to stage {quoted(canonical)}"
        with self._failing_closed(what):
            if archive_existing_versions and not active:
                raise MlflowException(
                    f"Model version transition cannot archive existing model versions because "
                    f"'{stage}' is not an Active stage. Valid stages are "
                    f"{DEFAULT_STAGES_FOR_GET_LATEST_VERSIONS}",
                    error_code=INVALID_PARAMETER_VALUE,
                )
            if self._is_ungated_prompt(name, str(version)):
                return super().transition_model_version_stage(  # type: ignore[misc]
                    name, version, stage, archive_existing_versions
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
            "mlgate: %s deleted protected alias %s of model %s (it pointed at version %s)",
            printable(requesting_user()), quoted(alias), quoted(name), held,
        )
        return None

    # ---- renames and copies

    def rename_registered_model(self, name: str, new_name: str) -> Any:
        _validate_model_renaming(new_name)
        what = f"renaming model {quoted(name)} to {quoted(new_name)}"
        with self._failing_closed(what):
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
        self, name: str, new_name: str, holdings: set[tuple[str, str, str]]
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
            decision, gate_input = self.gate.decide(evidence, target, kind)
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
            now = get_current_time_millis()
            registered.name = new_name
            for sql_mv in registered.model_versions:
                sql_mv.name = new_name
                sql_mv.last_updated_time = now
            registered.last_updated_time = now
            session.add_all([registered, *registered.model_versions])
            session.flush()
            return registered.to_mlflow_entity()
        except sqlalchemy.exc.IntegrityError as exc:
            raise MlflowException(
                f"Registered Model (name={new_name}) already exists.",
                RESOURCE_ALREADY_EXISTS,
            ) from exc

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
    ) -> Any:
        """MLflow's, without ``mlgate.*`` tags: a new version (a copy) was never evaluated."""
        kept = [t for t in tags or [] if not fold(str(t.key)).startswith(_DECISION_TAG_PREFIX)]
        if len(kept) != len(tags or []):
            _logger.info(
                "mlgate: dropped the mlgate.* tags given to a new version of model %s "
                "(a copy is not evaluated)", quoted(name),
            )
        return super().create_model_version(  # type: ignore[misc]
            name, source, run_id, kept, run_link, description, local_model_path, model_id
        )

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
                    printable(requesting_user()), what, ", ".join(held),
                )
                raise refusal(
                    f"mlgate refused {what}: the version holds {', '.join(held)}, so its "
                    f"{TAG_PREFIX}* evidence is frozen (any key a database matches to "
                    f"{TAG_PREFIX}*, in any case or accent). To change it, remove the "
                    "protected alias (or move the version out of the protected stage), edit "
                    "the evidence, and promote the version again"
                )
            write(session, sql_mv)

    def set_model_version_tag(self, name: str, version: str, tag: Any) -> None:
        if not is_compliance_key(str(tag.key)):
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

        what = f"setting tag {quoted(tag.key)} of {describe_version(name, version)}"
        self._frozen_write(what, name, version, write)
        return None

    def delete_model_version_tag(self, name: str, version: str, key: str) -> None:
        if not is_compliance_key(str(key)):
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

        what = f"deleting tag {quoted(key)} of {describe_version(name, version)}"
        self._frozen_write(what, name, version, delete)
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
    root = _get_tracking_store().get_run(run_id).info.artifact_uri.rstrip("/")
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
        if not isinstance(store, GatedStoreMixin):
            return None
        message = store.artifact_write_refusal(location, method)
    except Exception as exc:  # noqa: BLE001 - fail closed, never a 5xx
        _logger.exception("mlgate: checking an artifact write failed")
        fault = _database_fault(exc)
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


class GatedSqlAlchemyStore(GatedStoreMixin, SqlAlchemyStore):
    """MLflow's SQL registry store, gated. ``store_uri`` carries the ``mlgate+`` prefix."""

    def __init__(self, store_uri: str, tracking_uri: str | None = None) -> None:
        plain = inner_uri(store_uri)
        super().__init__(plain)
        self.gate = _configured_gate(plain, tracking_uri)


def _configured_gate(plain_uri: str, tracking_uri: str | None) -> Gate:
    try:
        settings = GateSettings.from_environment(plain_uri, tracking_uri)
        return gate_for(settings)
    except MlgateError as exc:
        if in_server() and not _starting_server() and "settings" in locals():
            # A worker: the server started with these settings, so they were good then.
            # Keep serving reads; every promotion refuses with the reason.
            _logger.error("mlgate: %s; refusing every promotion", printable(str(exc)))
            return UnavailableGate(settings, one_line(str(exc)))
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
    """The gated store for ``store_uri`` (workspace-aware when MLflow workspaces are on).

    :func:`mlgate.registry.make_store` installs the artifact guard first in a server."""
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
