"""The server's gate: one policy set, engine, decision log and evidence reader per process.

:class:`Gate` hands every decision to :func:`mlgate.gate.decide` and every record to
:func:`mlgate.gate.record`, so the server decides exactly as the CLI does; the store
(:mod:`mlgate.registry.store`) keeps only its locking transactions. A worker whose policy
set cannot be read gets an :class:`UnavailableGate`: reads go on, promotions refuse.
"""

from __future__ import annotations

import logging
import os
import posixpath
import sys
import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mlflow.exceptions import MlflowException

from ..errors import MlgateError, PolicyError, one_line
from ..evidence import Evidence, Registry
from ..names import protected_match
from ..textsafe import printable
from .settings import GateSettings, held_policy_set, in_server, in_server_cli, starting_server

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.store.artifact.artifact_repo import ArtifactRepository

    from ..decisionlog import DecisionLog
    from ..engine.base import Engine
    from ..models import Decision, GateInput, TargetKind
    from ..policy import PolicySet
    from ..policydata import PolicySettings

_logger = logging.getLogger("mlgate.registry")

# Set by `mlflow server` for its workers (mlflow/server/constants.py).
_SERVER_SERVE_ARTIFACTS_ENV = "_MLFLOW_SERVER_SERVE_ARTIFACTS"
_SERVER_ARTIFACTS_DESTINATION_ENV = "_MLFLOW_SERVER_ARTIFACT_DESTINATION"
_PROXIED_ARTIFACTS_ROUTE = "/api/2.0/mlflow-artifacts/artifacts/"


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
        from ..attestation import trusted_keys

        # The attestation gate's keys: each promotion then verifies and hashes the model
        # files in this process (README, Limits).
        self.registry.trusted_keys = trusted_keys(self.policy_set.config.values)

    @property
    def config(self) -> PolicySettings:
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

    def protected(self, target: str, kind: TargetKind) -> bool:
        """Is promoting to ``target`` enforced? For aliases, also any alias folding to a
        protected one (a look-alike is refused before this counts, or was stored earlier)."""
        from ..gate_input import enforcement_for

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

    def decide(
        self, evidence: Evidence, target: str, kind: TargetKind, promoted_by: str | None = None
    ) -> tuple[Decision, GateInput]:
        """:func:`mlgate.gate.decide` with this process's policy set and this thread's engine;
        with ``promotion.four_eyes`` on, the evidence ledger's provenance and the verified
        user promoting (``promoted_by``) go into the input."""
        from .. import gate

        provenance = None
        if self.config.evidence.four_eyes:
            from ..ledger import provenance as ledger_provenance

            history = self.log.evidence_history(evidence.model, evidence.version)
            provenance = ledger_provenance(evidence.compliance_tags, history)
        return gate.decide(
            evidence, target, kind, self._engine_for_thread(), self.policy_set,
            provenance=provenance, promoted_by=promoted_by,
        )

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

    def protected(self, target: str, kind: TargetKind) -> bool:
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

    def decide(
        self, evidence: Evidence, target: str, kind: TargetKind, promoted_by: str | None = None
    ) -> tuple[Decision, GateInput]:
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


def configured_gate(plain_uri: str, tracking_uri: str | None) -> Gate:
    """The gate for a store on ``plain_uri``; a bad configuration stops ``mlflow server``
    with one line at start-up, and makes a worker refuse every promotion."""
    settings: GateSettings | None = None
    try:
        settings = GateSettings.from_environment(plain_uri, tracking_uri)
        return gate_for(settings)
    except MlgateError as exc:
        if in_server() and not starting_server() and settings is not None:
            # A worker: the server started with these settings, so they were good then.
            # Keep serving reads; every promotion refuses with the reason.
            _logger.error("mlgate: %s; refusing every promotion", printable(str(exc)))
            return UnavailableGate(settings, one_line(str(exc)))
        # At server start-up this stops `mlflow server` with the reason: one line, since
        # MLflow's CLI would log the exception with a 40-line traceback.
        message = f"mlgate registry store: {one_line(str(exc))}"
        if in_server_cli():
            print(f"mlflow server: {message}", file=sys.stderr)
            raise SystemExit(2) from None
        raise MlflowException(message) from exc
