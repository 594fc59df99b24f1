"""MLflow registry evidence: a registered model version -> :class:`GateInput`, and back.

Reads a version's tags, aliases, source and the artifact ``compliance/data_manifest.json``
through one :class:`mlflow.tracking.MlflowClient`; writes the decision tags, the alias and
an attached manifest. :mod:`mlgate.facts` interprets what this module fetches.

mlflow is imported inside the functions that need it (it takes a second and a half to
import), so ``mlgate --help`` and ``mlgate check --input`` never load it.

Where the manifest lives. ``models:/<name>/<version>/compliance/data_manifest.json`` is
the version's download location joined with the manifest path. MLflow's own ``models:/``
resolution builds a second client from the *process-global* registry URI and ignores the
one we were given, so this module resolves the same location with its own client instead:

- an MLflow 3 logged model (source ``models:/m-<id>``; ``ModelVersion.model_id`` may be
  None, so the id is read from the source): the logged model's ``artifact_location``;
- a classic run source ``runs:/<run>/<path>``: the run's artifact URI joined with ``<path>``;
- a version registered from another version (``models:/<name>/<version>``): that
  version's download URI;
- any other source (``file:``, ``s3:``, ``mlflow-artifacts:`` …): the source itself.

An absent manifest is evidence (``attached: false``, a gate failure), not an error; a
registry or artifact store that cannot be reached is a :class:`RegistryError` (exit 2).

The command-line side (version references, the tracking URI, MLflow's HTTP bounds, a
manifest file) is :mod:`mlgate.references`; its names are importable from here too.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import EvidenceChangedError as EvidenceChangedError
from .errors import InputError, MlgateError, RegistryError, one_line
from .evalrun import read_evaluation
from .facts import DIGEST_TAG, MANIFEST_ARTIFACT, sha256_hex
from .gate_input import Evidence as Evidence
from .gate_input import build_gate_input as build_gate_input
from .gate_input import enforcement_for
from .models import Decision, GateInput, TargetKind
from .policydata import PolicySettings
from .references import DEFAULT_REGISTRY_TIMEOUT as DEFAULT_REGISTRY_TIMEOUT
from .references import DEFAULT_TRACKING_URI as DEFAULT_TRACKING_URI
from .references import HTTP_BOUNDS as HTTP_BOUNDS
from .references import REGISTRY_RETRIES as REGISTRY_RETRIES
from .references import VersionRef as VersionRef
from .references import answer_deadline as answer_deadline
from .references import configure_cli_environment as configure_cli_environment
from .references import http_bounds as http_bounds
from .references import load_manifest_file as load_manifest_file
from .references import parse_version_ref as parse_version_ref
from .references import resolve_tracking_uri as resolve_tracking_uri
from .sharedartifacts import refuse_shared
from .targets import validate_alias as validate_alias
from .uris import mask_password, sqlite_path

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.store.artifact.artifact_repo import ArtifactRepository
    from mlflow.tracking import MlflowClient

MANIFEST_DIR, MANIFEST_FILE = MANIFEST_ARTIFACT.rsplit("/", 1)

DECISION_TAG = "mlgate.decision"
DECISION_ID_TAG = "mlgate.decision_id"
POLICY_REVISION_TAG = "mlgate.policy_revision"
CHECKED_AT_TAG = "mlgate.checked_at"

_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[^/@]+)/*$")
_REGISTERED_SOURCE = re.compile(r"^models:/([^/]+)/(\d+)/*$")


@contextmanager
def global_mlflow_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-global tracking and registry URI at ``uri``, then restore.

    mlgate passes URIs to its own client, but some MLflow code paths only read the
    globals: ``mlflow.pyfunc.log_model``, the sqlite registry store looking up a logged
    model (with a default ``MlflowClient()``) when a version is created from it, and
    ``models:/`` artifact URIs. ``set_tracking_uri`` also exports ``MLFLOW_TRACKING_URI``;
    that is put back too.
    """
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    saved = tracking_utils._tracking_uri, registry_utils._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        tracking_utils._tracking_uri, registry_utils._registry_uri = saved
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------- evidence


def decision_tags(decision: Decision) -> dict[str, str]:
    """The four tags a decision leaves on the model version it was made for."""
    return {
        DECISION_TAG: "allowed" if decision.allowed else "blocked",
        DECISION_ID_TAG: decision.decision_id,
        POLICY_REVISION_TAG: decision.policy_revision,
        CHECKED_AT_TAG: decision.evaluated_at,
    }


# --------------------------------------------------------------------------- the registry


def _error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, str) else None


def frozen_holdings(mv: ModelVersion, config: PolicySettings) -> list[str]:
    """The protected aliases and stage ``mv`` holds, e.g. ``["alias 'production'"]``."""
    held = [
        f"alias {alias!r}"
        for alias in sorted(getattr(mv, "aliases", None) or [])
        if enforcement_for(alias, "alias", config) == "deny"
    ]
    stage = mv.current_stage or ""
    if stage and enforcement_for(stage, "stage", config) == "deny":
        held.append(f"stage {stage!r}")
    return held


def _bundled_settings() -> PolicySettings:
    """The bundled policy set's settings: its protected aliases and stages."""
    from .policy import load_policy_dir

    return load_policy_dir().config


def refuse_frozen(mv: ModelVersion, config: PolicySettings) -> None:
    """Exit 2, before anything is written, when ``mv``'s evidence is frozen; with the way
    to change it that works (the server refuses the digest tag of a frozen version)."""
    held = frozen_holdings(mv, config)
    if not held:
        return
    first = held[0].split(" ", 1)
    undo = (
        f"remove alias {first[1]} (MlflowClient().delete_registered_model_alias"
        f"({mv.name!r}, {first[1]}))"
        if first[0] == "alias"
        else "move it out of that stage"
    )
    raise InputError(
        f"model {mv.name!r} version {mv.version} holds {', '.join(held)}: its compliance "
        f"evidence is frozen and nothing was written. To replace its manifest, {undo}, "
        f"attach again, then promote it again (mlgate promote {mv.name} {mv.version} "
        "--alias ...); or attach the manifest to a new version registered from a new "
        "model artifact and promote that one"
    )


class Registry:
    """One MLflow tracking/registry connection and the operations mlgate needs on it.

        registry = Registry("sqlite:///mlruns.db")
        evidence = registry.read(VersionRef("chatbot", version="3"))
        gate_input = build_gate_input(evidence, target="production", kind="alias",
                                      config=policy_set.config)

    Every MLflow failure leaves as :class:`RegistryError` with one line naming the
    registry; a version that does not exist says so.
    """

    def __init__(
        self,
        tracking_uri: str | None = None,
        registry_uri: str | None = None,
        *,
        create: bool = False,
    ) -> None:
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        self.registry_uri = (registry_uri or "").strip() or None
        self.create = create  # may a sqlite registry that does not exist yet be created?
        self._client: MlflowClient | None = None
        # Policy data's attestation.trusted_keys: when set, every read checks the
        # version's attestation and hashes its model files (mlgate.attestation.observe).
        self.trusted_keys: tuple[tuple[str, str], ...] = ()

    @property
    def where(self) -> str:
        """The registry as the user named it (password masked)."""
        uri = self.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or self.tracking_uri
        return mask_password(uri)

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            if not self.create:
                self._require_databases()
            with self.calling("connect"):
                from mlflow.tracking import MlflowClient

                self._client = MlflowClient(
                    tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
                )
        return self._client

    def _require_databases(self) -> None:
        """A sqlite URI naming a missing file: say so instead of creating an empty registry."""
        for uri in (self.tracking_uri, self.registry_uri):
            path = sqlite_path(uri) if uri else None
            if path is not None and not os.path.exists(path):
                raise RegistryError(
                    f"no MLflow registry at {uri}: {path} does not exist "
                    "(give --tracking-uri or set MLFLOW_TRACKING_URI)"
                )

    @contextmanager
    def calling(self, what: str) -> Iterator[None]:
        """Map whatever MLflow, SQLAlchemy or requests raise to one RegistryError line.

        Public for callers that talk to :attr:`client` directly (the batched reads of
        :mod:`mlgate.audit`): ``with registry.calling("search model versions"): ...``.
        """
        try:
            yield
        except MlgateError:
            raise
        except Exception as exc:  # noqa: BLE001 - any registry failure is exit 2
            raise self._registry_error(what, exc) from exc

    def _registry_error(self, what: str, exc: Exception) -> RegistryError:
        code = _error_code(exc)
        text = one_line(str(exc))
        # The sqlite store reports an unknown alias as INVALID_PARAMETER_VALUE "... not found".
        if code == "RESOURCE_DOES_NOT_EXIST" or (
            code == "INVALID_PARAMETER_VALUE" and "not found" in text
        ):
            return RegistryError(f"{what}: not found in registry {self.where}")
        if "timed out" in text.lower():  # read or connect timeout: the server is hung
            return RegistryError(
                f"registry {self.where}: no answer within {answer_deadline()} s ({what}); "
                "raise --registry-timeout (MLGATE_REGISTRY_TIMEOUT) if it is only slow"
            )
        if "Max retries exceeded" in text or "Failed to establish" in text:
            retries = os.environ.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7")
            return RegistryError(
                f"cannot reach the MLflow registry at {self.where} ({what}; "
                f"connection failed after {retries} retries)"
            )
        if len(text) > 300:
            text = text[:297] + "..."
        reason = f"{code}: {text}" if code and not text.startswith(code) else text
        return RegistryError(
            f"registry {self.where}: {what} failed: {reason or type(exc).__name__}"
        )

    # ---- reading

    def model_version(self, ref: VersionRef) -> ModelVersion:
        if ref.alias is not None:
            with self.calling(f"model {ref.model!r} alias {ref.alias!r}"):
                return self.client.get_model_version_by_alias(ref.model, ref.alias)
        with self.calling(f"model {ref.model!r} version {ref.version}"):
            return self.client.get_model_version(ref.model, str(ref.version))

    def read(self, ref: VersionRef) -> Evidence:
        """The version's tags, aliases and manifest bytes, as they are now."""
        return self.evidence(self.model_version(ref))

    def evidence(self, mv: ModelVersion, aliases: list[str] | None = None) -> Evidence:
        """The evidence of a version entity, its manifest fetched now. ``aliases`` stands
        in for the entity's own when it came from a search, which carries none."""
        from .attestation import model_files, observe
        from .modelfiles import FilesOnce

        files = FilesOnce(lambda: model_files(self, mv))  # hashed only when asked for
        evidence = Evidence(
            model=mv.name,
            version=str(mv.version),
            source=mv.source or "",
            tags=dict(mv.tags or {}),
            aliases=list(mv.aliases or []) if aliases is None else list(aliases),
            manifest=self.manifest_bytes(mv),
            evaluation=read_evaluation(lambda: self.client, dict(mv.tags or {}), self.where),
            model_files=files,
        )
        if not self.trusted_keys:
            return evidence
        return replace(evidence, attestation=observe(self, mv, evidence, self.trusted_keys, files))

    def gate_input(
        self, ref: VersionRef, *, target: str, kind: TargetKind, config: PolicySettings
    ) -> tuple[Evidence, GateInput]:
        evidence = self.read(ref)
        return evidence, build_gate_input(evidence, target=target, kind=kind, config=config)

    def artifact_location(self, mv: ModelVersion) -> str:
        """Where the version's artifacts are, as ``models:/<name>/<version>`` resolves."""
        source = mv.source or ""
        what = f"model {mv.name!r} version {mv.version} source {source!r}"
        logged = _LOGGED_MODEL_SOURCE.match(source)
        if logged:
            with self.calling(f"logged model {logged.group(1)} of {what}"):
                return self.client.get_logged_model(logged.group(1)).artifact_location
        if _REGISTERED_SOURCE.match(source):
            with self.calling(f"download location of {what}"):
                return self.client.get_model_version_download_uri(mv.name, str(mv.version))
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/"):].partition("/")
            with self.calling(f"run {run_id} of {what}"):
                root = self.client.get_run(run_id).info.artifact_uri
            path = path.strip("/")
            return f"{root.rstrip('/')}/{path}" if path else root
        if not source:
            raise RegistryError(f"registry {self.where}: {what}: the version has no source")
        return source

    def _repository(self, location: str) -> ArtifactRepository:
        with self.calling(f"artifact store {mask_password(location)}"):
            from mlflow.store.artifact.artifact_repository_registry import (
                get_artifact_repository,
            )

            return get_artifact_repository(
                location, tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
            )

    def manifest_bytes(self, mv: ModelVersion) -> bytes | None:
        """The bytes of ``compliance/data_manifest.json``, or None when it is absent."""
        from .mlflowapi import download_artifact

        location = self.artifact_location(mv)
        repo = self._repository(location)
        with tempfile.TemporaryDirectory(prefix="mlgate-") as tmp:
            try:
                local = download_artifact(repo, MANIFEST_ARTIFACT, tmp)
            except Exception as exc:  # noqa: BLE001 - classified just below
                if self._manifest_absent(repo, exc):
                    return None
                what = (
                    f"download {MANIFEST_ARTIFACT} of model {mv.name!r} version {mv.version} "
                    f"from {mask_password(location)}"
                )
                raise self._registry_error(what, exc) from exc
            path = Path(local)
            return path.read_bytes() if path.is_file() else None

    def _manifest_absent(self, repo: ArtifactRepository, exc: Exception) -> bool:
        """Absent (a gate failure) rather than unreachable (an error)?

        Local stores say RESOURCE_DOES_NOT_EXIST; an HTTP artifact proxy wraps its 404 in a
        generic error, so ask for the listing: if the store answers and the file is not in
        it, the manifest is absent; if the store does not answer, it is an error.
        """
        if _error_code(exc) == "RESOURCE_DOES_NOT_EXIST":
            return True
        try:
            listing = repo.list_artifacts(MANIFEST_DIR)
        except Exception:  # noqa: BLE001 - the store is not answering: an error
            return False
        return not any(
            not item.is_dir and item.path.rstrip("/").endswith(MANIFEST_ARTIFACT)
            for item in listing
        )

    # ---- writing

    def write_decision_tags(self, decision: Decision) -> None:
        """Set ``mlgate.decision``, ``.decision_id``, ``.policy_revision``, ``.checked_at``."""
        for key, value in decision_tags(decision).items():
            with self.calling(
                f"set tag {key} on model {decision.model!r} version {decision.version}"
            ):
                self.client.set_model_version_tag(decision.model, decision.version, key, value)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        with self.calling(f"set alias {alias!r} of model {model!r} to version {version}"):
            self.client.set_registered_model_alias(model, alias, version)

    def attach_manifest(
        self, ref: VersionRef, path: str | Path, config: PolicySettings | None = None
    ) -> tuple[Evidence, str]:
        """Validate ``path``, log it as the version's manifest, check it, tag its digest.

        Nothing is written when the file is invalid, or when the version holds a protected
        alias or stage (``config``'s, default the bundled ones): its evidence is frozen,
        and uploading first would overwrite the approved manifest before the digest tag
        is refused. Nor when another version sharing the artifact location carries other
        evidence (:func:`mlgate.sharedartifacts.refuse_shared`). The digest tag is set
        only after the uploaded artifact has been read back through the same path ``check``
        reads it, so a tag never vouches for an artifact that is not there.
        """
        content = load_manifest_file(path)
        digest = sha256_hex(content)
        mv = self.model_version(ref)
        refuse_frozen(mv, config or _bundled_settings())
        refuse_shared(self, mv, content)
        with tempfile.TemporaryDirectory(prefix="mlgate-") as tmp:
            local = Path(tmp) / MANIFEST_FILE
            local.write_bytes(content)
            self._upload_manifest(mv, str(local))
        stored = self.manifest_bytes(mv)
        if stored is None or sha256_hex(stored) != digest:
            raise RegistryError(
                f"registry {self.where}: {MANIFEST_ARTIFACT} of model {mv.name!r} version "
                f"{mv.version} does not read back as written; digest tag not set"
            )
        with self.calling(f"set tag {DIGEST_TAG} on model {mv.name!r} version {mv.version}"):
            self.client.set_model_version_tag(mv.name, str(mv.version), DIGEST_TAG, digest)
        return self.read(VersionRef(mv.name, version=str(mv.version))), digest

    def _upload_manifest(self, mv: ModelVersion, local: str) -> None:
        from .mlflowapi import log_artifact

        source = mv.source or ""
        what = f"upload {MANIFEST_ARTIFACT} to model {mv.name!r} version {mv.version}"
        logged = _LOGGED_MODEL_SOURCE.match(source)
        if logged:
            with self.calling(f"{what} (logged model {logged.group(1)})"):
                self.client.log_model_artifact(logged.group(1), local, MANIFEST_DIR)
            return
        if _REGISTERED_SOURCE.match(source):
            raise InputError(
                f"model {mv.name!r} version {mv.version} was registered from {source}; "
                "attach the manifest to that version instead (they share artifacts)"
            )
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/"):].partition("/")
            path = path.strip("/")
            with self.calling(f"{what} (run {run_id})"):
                self.client.log_artifact(
                    run_id, local, f"{path}/{MANIFEST_DIR}" if path else MANIFEST_DIR
                )
            return
        if not source:
            raise RegistryError(f"registry {self.where}: {what}: the version has no source")
        repo = self._repository(source)
        with self.calling(f"{what} ({mask_password(source)})"):
            log_artifact(repo, local, MANIFEST_DIR)
