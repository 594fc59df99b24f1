"""What a command is given before the registry is read: where the registry is, how long to
wait for it, which version, which manifest file.

``MODEL VERSION`` / ``MODEL@ALIAS`` references, the tracking URI (``--tracking-uri``, else
``MLFLOW_TRACKING_URI``, else ``sqlite:///mlruns.db``), the bounds on MLflow's HTTP waits,
and a manifest file checked before anything is written. No MLflow import here:
:mod:`mlgate.evidence` reads the registry these name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .facts import manifest_errors
from .jsondoc import describe, loads
from .targets import validate_alias

DEFAULT_TRACKING_URI = "sqlite:///mlruns.db"


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
