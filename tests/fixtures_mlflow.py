"""Fixtures: a real MLflow registry on sqlite per test, and one real ``mlflow server``.

- ``registry``: a fresh sqlite registry in ``tmp_path`` (artifacts under it too). The
  schema migration runs once per session on a template database that each test copies,
  so a fresh registry costs milliseconds, not a second.
- ``mlflow_server``: a real ``mlflow server`` process on 127.0.0.1 (a free port, sqlite
  backend, proxied artifacts under a tmp dir), started once per session, waited for on
  ``/health`` and stopped by its process id at the end.
- ``server_registry``: a fresh experiment on that server, for one test; model names must
  be unique per test there (:meth:`RegistryHelper.unique`).

Versions are created through the real client: an MLflow 3 logged model (source
``models:/m-<id>``, as ``mlflow.register_model`` leaves it, with ``model_id`` unset), a
classic run (``runs:/<run>/model``), or a plain artifact URI.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from evidence_fixtures import (  # noqa: F401 - re-exported: the tests import them from here
    compliant_tags,
    example_manifest,
    out_of_scope_tags,
)
from mlgate.evidence import global_mlflow_uri

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

SourceKind = Literal["logged_model", "run", "uri"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("logged_model", "run", "uri")

# The CLI sets these for itself; the in-process tests set them once, up front, so that a
# test against a closed port fails in seconds whatever the order of the tests.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")


@dataclass
class RegistryHelper:
    """A registry (local sqlite or the session's server) and a scratch experiment in it."""

    tracking_uri: str
    root: Path
    experiment_id: str
    client: MlflowClient
    _sources: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def args(self) -> list[str]:
        """``--tracking-uri URI`` for the CLI."""
        return ["--tracking-uri", self.tracking_uri]

    def unique(self, base: str) -> str:
        return f"{base}-{uuid.uuid4().hex[:8]}"

    def _model_files(self) -> Path:
        folder = Path(tempfile.mkdtemp(dir=self.root, prefix="model-"))
        (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n", encoding="utf-8")
        return folder

    def create_version(
        self,
        name: str,
        tags: dict[str, str] | None = None,
        *,
        source: SourceKind = "logged_model",
        manifest: dict[str, Any] | bytes | None = None,
    ) -> ModelVersion:
        """Register a new version of ``name`` with ``tags``; attach ``manifest`` with mlgate."""
        files = self._model_files()
        if source == "logged_model":
            logged = self.client.create_logged_model(self.experiment_id, name=name)
            self.client.log_model_artifacts(logged.model_id, str(files))
            uri, run_id, model_id = f"models:/{logged.model_id}", None, logged.model_id
        else:
            run = self.client.create_run(self.experiment_id)
            run_id, model_id = run.info.run_id, None
            self.client.log_artifacts(run_id, str(files), "model")
            self.client.set_terminated(run_id)
            if source == "run":
                uri = f"runs:/{run_id}/model"
            else:
                uri = f"{run.info.artifact_uri.rstrip('/')}/model"
        try:
            self.client.get_registered_model(name)
        except Exception:  # noqa: BLE001 - MLflow raises RESOURCE_DOES_NOT_EXIST
            self.client.create_registered_model(name)
        with global_mlflow_uri(self.tracking_uri):
            mv = self.client.create_model_version(
                name, uri, run_id=run_id, tags=tags or {}, model_id=model_id
            )
        self._sources[(name, str(mv.version))] = uri
        if manifest is not None:
            self.attach(name, str(mv.version), manifest)
        return self.client.get_model_version(name, str(mv.version))

    def attach(self, name: str, version: str, manifest: dict[str, Any] | bytes) -> str:
        """``mlgate manifest attach`` through the library; returns the digest."""
        from mlgate.evidence import Registry, VersionRef

        path = self.write_file(manifest)
        _, digest = Registry(self.tracking_uri).attach_manifest(
            VersionRef(name, version=version), path
        )
        return digest

    def write_file(self, manifest: dict[str, Any] | bytes, name: str = "manifest.json") -> Path:
        folder = Path(tempfile.mkdtemp(dir=self.root, prefix="file-"))
        path = folder / name
        data = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        path.write_bytes(data)
        return path

    def overwrite_manifest(self, name: str, version: str, content: bytes) -> None:
        """Replace the manifest artifact behind mlgate's back (no digest tag change)."""
        from mlgate.evidence import Registry, VersionRef

        registry = Registry(self.tracking_uri)
        mv = registry.model_version(VersionRef(name, version=version))
        folder = Path(tempfile.mkdtemp(dir=self.root, prefix="tamper-"))
        (folder / "data_manifest.json").write_bytes(content)
        registry._upload_manifest(mv, str(folder / "data_manifest.json"))

    def download_manifest(self, name: str, version: str) -> bytes:
        """Read the manifest back through MLflow's own ``models:/`` URI resolution."""
        from mlflow.artifacts import download_artifacts

        with (
            global_mlflow_uri(self.tracking_uri),
            tempfile.TemporaryDirectory(dir=self.root) as tmp,
        ):
            local = download_artifacts(
                f"models:/{name}/{version}/compliance/data_manifest.json",
                dst_path=tmp,
                tracking_uri=self.tracking_uri,
            )
            return Path(local).read_bytes()

    def tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(name, version).tags)

    def aliases(self, name: str) -> dict[str, str]:
        return {k: str(v) for k, v in self.client.get_registered_model(name).aliases.items()}


def _new_helper(tracking_uri: str, root: Path, artifact_location: str | None) -> RegistryHelper:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = client.create_experiment(
        f"mlgate-tests-{uuid.uuid4().hex[:8]}", artifact_location=artifact_location
    )
    return RegistryHelper(tracking_uri, root, experiment_id, client)


@pytest.fixture(scope="session")
def _mlflow_template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty MLflow sqlite database (the migration takes about a second)."""
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-template") / "mlruns.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{path}")
    client.search_experiments()
    client.search_registered_models()
    return path


@pytest.fixture
def registry(tmp_path: Path, _mlflow_template_db: Path) -> RegistryHelper:
    """A fresh local sqlite registry in ``tmp_path``; artifacts under ``tmp_path/artifacts``."""
    db = tmp_path / "mlruns.db"
    shutil.copyfile(_mlflow_template_db, db)
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    return _new_helper(f"sqlite:///{db}", tmp_path, artifacts.as_uri())


# --------------------------------------------------------------------------- the server


@dataclass(frozen=True)
class MlflowServer:
    url: str
    root: Path
    pid: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def closed_port_url() -> str:
    """An http URL on loopback where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(
                f"mlflow server exited with {proc.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    raise RuntimeError(f"mlflow server not healthy after {timeout}s:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the server's process group (it is the leader: uvicorn is its child)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def start_mlflow_server(
    root: Path,
    *,
    backend_store_uri: str | None = None,
    registry_store_uri: str | None = None,
    env: dict[str, str] | None = None,
    app_name: str | None = None,
    workers: int = 1,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a real ``mlflow server`` on 127.0.0.1 in its own process group and wait for
    ``/health``; stop it with :func:`_stop`. The tests' and benchmarks' one launcher."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = root / "server.log"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_")}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        full_env.pop(key, None)
    full_env.update(
        {
            # No background job runner (huey consumers we do not need).
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            **(env or {}),
        }
    )
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--workers", str(workers),
        "--backend-store-uri", backend_store_uri or f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination", str(root / "artifacts"),
    ]  # fmt: skip
    if registry_store_uri:
        command += ["--registry-store-uri", registry_store_uri]
    if app_name:
        command += ["--app-name", app_name]
    with log.open("ab") as out:
        proc = subprocess.Popen(
            command,
            cwd=root,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # uvicorn is its child: stopped as one group
        )
    try:
        _wait_healthy(url, proc, log, timeout=120)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` on 127.0.0.1, shared by the session."""
    root = tmp_path_factory.mktemp("mlflow-server")
    proc, url = start_mlflow_server(root)
    try:
        yield MlflowServer(url=url, root=root, pid=proc.pid)
    finally:
        _stop(proc)


@pytest.fixture
def server_registry(mlflow_server: MlflowServer, tmp_path: Path) -> RegistryHelper:
    """A scratch experiment on the session's server (artifacts proxied by the server)."""
    return _new_helper(mlflow_server.url, tmp_path, None)
