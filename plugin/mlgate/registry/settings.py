"""The gated store's configuration: the ``mlgate+`` store URI, the server's environment,
and the policy set read once when ``mlflow server`` starts (handed to its workers).

Configuration, from the server's environment, read once per process: ``MLGATE_ENGINE``
(``embedded``), ``MLGATE_OPA_URL``, ``MLGATE_OPA_TOKEN``, ``MLGATE_OPA_TIMEOUT`` (5 s),
``MLGATE_POLICIES`` (the bundled policies), ``MLGATE_DECISION_LOG`` (default: by
:func:`mlgate.decisionlog.default_log_url` for the registry database).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from ..errors import PolicyError
from ..uris import BACKENDS, PREFIX, mask_password, strip_prefix
from ..uris import with_installed_driver_text as with_installed_driver_text

if TYPE_CHECKING:
    from ..policy import PolicySet

_logger = logging.getLogger("mlgate.registry")

# Set by `mlflow server` for its workers (mlflow/server/constants.py).
SERVER_BACKEND_ENV = "_MLFLOW_SERVER_FILE_STORE"
SERVER_REGISTRY_ENV = "_MLFLOW_SERVER_REGISTRY_STORE"
# The policy set the server started with, for its workers (see the module doc).
_POLICY_SNAPSHOT_ENV = "_MLGATE_SERVER_POLICY_SET"
_SNAPSHOT_LIMIT = 96_000  # an environment variable holds at most 128 KiB on Linux


def inner_uri(store_uri: str) -> str:
    """``mlgate+postgresql://...`` -> ``postgresql://...``; anything else is refused."""
    if not store_uri.startswith(PREFIX):
        raise MlflowException(
            f"mlgate registry store: {mask_password(store_uri)!r} does not start with "
            f"{PREFIX!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    uri = strip_prefix(store_uri)
    backend = uri.split(":", 1)[0].split("+", 1)[0].lower()
    if backend not in BACKENDS:
        raise MlflowException(
            f"mlgate registry store: unsupported backend {backend!r} in "
            f"{mask_password(store_uri)!r}; "
            f"expected mlgate+ followed by one of {', '.join(BACKENDS)}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    # A driverless URI with the driver that is installed (as the decision log does):
    # SQLAlchemy 2.1 maps postgresql:// to psycopg 3 and mysql:// to MySQLdb; most MLflow
    # installs have psycopg2 or PyMySQL instead.
    return with_installed_driver_text(uri)


def in_server() -> bool:
    """True in an ``mlflow server`` process (the CLI and its uvicorn workers)."""
    return bool(os.environ.get(SERVER_BACKEND_ENV) or os.environ.get(SERVER_REGISTRY_ENV))


def in_server_cli() -> bool:
    """True in the ``mlflow server`` command's own process (it checks the stores once)."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    return program in ("mlflow", "__main__.py") and sys.argv[1:2] == ["server"]


def starting_server() -> bool:
    """True in the ``mlflow server`` command itself, before it starts its workers."""
    try:
        import click
    except ImportError:  # pragma: no cover - mlflow's CLI is click
        return False
    context = click.get_current_context(silent=True)
    return context is not None and context.info_name == "server"


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
        plain = strip_prefix(registry_uri)
        return cls(
            registry_uri=plain,
            # In a server the tracking store is the --backend-store-uri, whatever
            # MLFLOW_TRACKING_URI says.
            tracking_uri=env.get(SERVER_BACKEND_ENV) or tracking_uri or plain,
            engine=(env.get("MLGATE_ENGINE", "").strip() or "embedded").lower(),
            opa_url=env.get("MLGATE_OPA_URL", "").strip() or None,
            opa_token=env.get("MLGATE_OPA_TOKEN", "").strip() or None,
            opa_timeout=timeout,
            policies=env.get("MLGATE_POLICIES", "").strip() or None,
            decision_log=default_log_url(plain),
        )


def server_registry_uri() -> str | None:
    """The registry store URI ``mlflow server`` was started with (None outside a server)."""
    return os.environ.get(SERVER_REGISTRY_ENV) or os.environ.get(SERVER_BACKEND_ENV) or None


# --------------------------------------------------------------------------- policy set


def _policy_files(root: Path) -> dict[str, str]:
    """The files :func:`mlgate.policy.load_policy_dir` reads, as texts (the snapshot)."""
    from ..policy import wanted_files

    files: dict[str, str] = {}
    for path in wanted_files(root):
        if path.is_file():
            try:
                files[path.relative_to(root).as_posix()] = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise PolicyError(f"{path}: cannot read: {exc}") from exc
    return files


def _encode_snapshot(document: dict[str, Any]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(document).encode(), 9)).decode()


def _decode_snapshot(text: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(zlib.decompress(base64.b64decode(text)))
    return document


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
    if not starting_server():
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

