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
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from .errors import (  # noqa: F401 - EvidenceChangedError: re-exported
    EvidenceChangedError,
    InputError,
    MlgateError,
    RegistryError,
    one_line,
)
from .facts import (
    DIGEST_TAG,
    MANIFEST_ARTIFACT,
    manifest_errors,
    sha256_hex,
)
from .gate_input import (  # noqa: F401 - Evidence and build_gate_input: re-exported
    Evidence,
    build_gate_input,
    enforcement_for,
)
from .jsondoc import describe, loads
from .models import Decision, GateInput
from .policydata import PolicySettings
from .sharedartifacts import refuse_shared
from .targets import validate_alias  # noqa: F401 - re-exported for the commands

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.store.artifact.artifact_repo import ArtifactRepository
    from mlflow.tracking import MlflowClient

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"

MANIFEST_DIR, MANIFEST_FILE = MANIFEST_ARTIFACT.rsplit("/", 1)

DECISION_TAG = "mlgate.decision"
DECISION_ID_TAG = "mlgate.decision_id"
POLICY_REVISION_TAG = "mlgate.policy_revision"
CHECKED_AT_TAG = "mlgate.checked_at"

# MLflow's HTTP client retries 7 times with exponential backoff and waits 120 s per
# attempt by default: minutes before an unreachable or hung registry is reported. A gate
# in a CI job must say so within seconds (``--registry-timeout``, default 15 s, retries
# included). Set for the CLI process only, and only where the user has not chosen values
# (names from mlflow/environment_variables.py; MLflow parses the timeout and the backoff
# factor as integers).
DEFAULT_REGISTRY_TIMEOUT = 15
REGISTRY_RETRIES = 1  # one retry for a dropped connection or a 503; urllib3 makes it at once


def http_bounds(timeout: int = DEFAULT_REGISTRY_TIMEOUT) -> dict[str, str]:
    """MLflow HTTP settings under which a request gives up within ``timeout`` seconds."""
    retries = REGISTRY_RETRIES if timeout >= 2 else 0
    return {
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(retries),
        # urllib3 2 does not wait before the first retry; the factor only matters to
        # users who raise the retries themselves.
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, timeout // (retries + 1))),
    }


HTTP_BOUNDS: dict[str, str] = http_bounds()


def answer_deadline(environ: MutableMapping[str, str] | None = None) -> int:
    """Seconds a hung server is waited for under the current settings, retries included."""
    env = os.environ if environ is None else environ
    try:
        per_attempt = int(env.get("MLFLOW_HTTP_REQUEST_TIMEOUT", "120"))
        retries = int(env.get("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "7"))
    except ValueError:
        return 0
    return per_attempt * (retries + 1)


_LOGGED_MODEL_SOURCE = re.compile(r"^models:/(m-[^/@]+)/*$")
_REGISTERED_SOURCE = re.compile(r"^models:/([^/]+)/(\d+)/*$")
_VERSION = re.compile(r"^[1-9][0-9]*$")


def configure_cli_environment(
    environ: MutableMapping[str, str] | None = None,
    *,
    timeout: int = DEFAULT_REGISTRY_TIMEOUT,
) -> None:
    """Bound MLflow's HTTP waits to ``timeout`` s and quiet its INFO logging, unless the
    user set them.

    Call before the first MLflow import in a CLI process; library callers (the server
    plugin) keep MLflow's own settings.
    """
    env = os.environ if environ is None else environ
    for name, value in http_bounds(timeout).items():
        if not env.get(name, "").strip():  # unset or empty: MLflow cannot parse ""
            env[name] = value
    # "Creating initial MLflow database tables..." and friends are noise on a report.
    env.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``."""
    if tracking_uri and tracking_uri.strip():
        return tracking_uri.strip()
    from_env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return from_env or DEFAULT_TRACKING_URI


def display_uri(uri: str) -> str:
    """A URI fit for an error line: no password or token in the user-info part."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None and not (parts.username and "@" in parts.netloc):
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ""
    return urlunsplit(parts._replace(netloc=user + host))


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


# --------------------------------------------------------------------------- references


@dataclass(frozen=True)
class VersionRef:
    """``MODEL VERSION`` or ``MODEL@ALIAS`` as the user wrote it."""

    model: str
    version: str | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.alias is not None:
            return f"{self.model}@{self.alias}"
        return f"{self.model} version {self.version}"


def parse_version_ref(model: str, version: str | None) -> VersionRef:
    """``MODEL VERSION`` (two arguments) or ``MODEL@ALIAS`` (one); else :class:`InputError`."""
    if version is not None:
        if not model.strip():
            raise InputError("MODEL: the registered model name is empty")
        if not _VERSION.match(version.strip()):
            raise InputError(
                f"VERSION {version!r}: expected a model version number such as 3 "
                "(or write MODEL@ALIAS as one argument)"
            )
        return VersionRef(model=model, version=version.strip())
    name, at, alias = model.partition("@")
    if not at:
        raise InputError(
            f"{model!r}: give MODEL VERSION (e.g. chatbot 3) or MODEL@ALIAS (e.g. chatbot@champion)"
        )
    if not name.strip() or not alias or "@" in alias:
        raise InputError(
            f"{model!r}: malformed MODEL@ALIAS; expected one model name, one '@' and one "
            "alias, e.g. chatbot@champion"
        )
    return VersionRef(model=name, alias=validate_alias(alias, what=f"{model!r}: alias"))


# --------------------------------------------------------------------------- manifests


def load_manifest_file(path: str | Path) -> bytes:
    """The bytes of a valid manifest file; :class:`InputError` naming file and field."""
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        document = loads(content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from exc
    except json.JSONDecodeError as exc:  # jsondoc.DocumentError too: duplicate key, depth
        raise InputError(f"{path}:{describe(exc)}") from exc
    errors = manifest_errors(document)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InputError(
            f"{path}: field {errors[0]}; expected a data manifest "
            f"(schemas/data_manifest.schema.json){more}"
        )
    return content


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


def _sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` (or ``mlgate+sqlite:///``) URI, if any."""
    if uri.startswith("mlgate+"):
        uri = uri[len("mlgate+"):]
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return None if path in ("", ":memory:") else path


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

    @property
    def where(self) -> str:
        """The registry as the user named it (password masked)."""
        uri = self.registry_uri or os.environ.get("MLFLOW_REGISTRY_URI") or self.tracking_uri
        return display_uri(uri)

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
            path = _sqlite_path(uri) if uri else None
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
        return Evidence(
            model=mv.name,
            version=str(mv.version),
            source=mv.source or "",
            tags=dict(mv.tags or {}),
            aliases=list(mv.aliases or []) if aliases is None else list(aliases),
            manifest=self.manifest_bytes(mv),
        )

    def gate_input(
        self, ref: VersionRef, *, target: str, kind: str, config: PolicySettings
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
        with self.calling(f"artifact store {display_uri(location)}"):
            from mlflow.store.artifact.artifact_repository_registry import (
                get_artifact_repository,
            )

            return get_artifact_repository(
                location, tracking_uri=self.tracking_uri, registry_uri=self.registry_uri
            )

    def manifest_bytes(self, mv: ModelVersion) -> bytes | None:
        """The bytes of ``compliance/data_manifest.json``, or None when it is absent."""
        location = self.artifact_location(mv)
        repo = self._repository(location)
        with tempfile.TemporaryDirectory(prefix="mlgate-") as tmp:
            try:
                local = repo.download_artifacts(MANIFEST_ARTIFACT, dst_path=tmp)
            except Exception as exc:  # noqa: BLE001 - classified just below
                if self._manifest_absent(repo, exc):
                    return None
                what = (
                    f"download {MANIFEST_ARTIFACT} of model {mv.name!r} version {mv.version} "
                    f"from {display_uri(location)}"
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
        with self.calling(f"{what} ({display_uri(source)})"):
            repo.log_artifact(local, MANIFEST_DIR)
