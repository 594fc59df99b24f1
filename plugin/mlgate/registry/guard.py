"""Artifact writes through the server: a protected version's evidence stays as approved.

The manifest a decision read is an artifact (``compliance/data_manifest.json``); only its
digest tag is frozen by the registry store. A server started with ``--serve-artifacts``
writes and deletes artifacts for its clients through one repository, the one
``mlflow.server.handlers._get_artifact_repo_mlflow_artifacts`` returns (the Flask routes
``PUT``/``DELETE /api/2.0/mlflow-artifacts/artifacts/<path>``, the multipart-upload routes,
and the FastAPI ``PUT`` route that takes precedence under uvicorn all use it).
:func:`install` swaps that repository's class for a guarded subclass of it, and connects a Flask
``request_started`` receiver for the UI's run-artifact upload
(``/ajax-api/2.0/mlflow/upload-artifact``). Both refuse with ``PERMISSION_DENIED`` (403) a
write under ``compliance/`` of a version holding a protected alias or stage, and a delete
of it or of a folder above it (:func:`mlgate.registry.freeze.artifact_refusal`).

This module is imported while ``mlflow.server.handlers`` is still being imported (the
store entry point), before MLflow's apps exist, so it needs neither ``--app-name`` nor the
Flask app object, and imports nothing heavy until a request comes.

Not covered: writes that bypass the server (direct access to the artifact store: the
``--artifacts-destination`` directory or bucket, or a run whose artifacts are not proxied).
"""

from __future__ import annotations

import os
import posixpath
import sys
from typing import Any

_PROXY_PREFIX = "mlflow-artifacts:/"
_RUN_UPLOAD_ROUTE = "/mlflow/upload-artifact"


def _refuse(location: str, method: str) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import PERMISSION_DENIED

    from .freeze import artifact_refusal

    message = artifact_refusal(location, method)
    if message:
        raise MlflowException(message, error_code=PERMISSION_DENIED)


def _proxied(path: str | None, local_file: str | None = None) -> str:
    relative = (path or "").strip("/")
    if local_file is not None:
        relative = posixpath.join(relative, os.path.basename(local_file))
    return _PROXY_PREFIX + relative


class _Guarded:
    """Mixed in front of the server's artifact repository class: every write and delete
    is checked first. A subclass of the repository's own class, so MLflow's ``isinstance``
    checks (streaming, multipart uploads) see what they saw before."""

    @property
    def _mlgate_unguarded(self) -> Any:
        """The repository class's own methods: the next class in the MRO (``super()``
        inside this mixin, whose type the checker cannot know)."""
        return super()

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> Any:
        _refuse(_proxied(artifact_path, local_file), "PUT")
        return self._mlgate_unguarded.log_artifact(local_file, artifact_path)

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> Any:
        _refuse(_proxied(artifact_path), "DELETE")  # may overwrite anything below it
        return self._mlgate_unguarded.log_artifacts(local_dir, artifact_path)

    def delete_artifacts(self, artifact_path: str | None = None) -> Any:
        _refuse(_proxied(artifact_path), "DELETE")
        return self._mlgate_unguarded.delete_artifacts(artifact_path)

    def log_artifact_from_stream(
        self, stream: Any, artifact_file_name: str, artifact_path: str | None = None
    ) -> Any:
        _refuse(_proxied(artifact_path, artifact_file_name), "PUT")
        return self._mlgate_unguarded.log_artifact_from_stream(
            stream, artifact_file_name, artifact_path
        )

    async def log_artifact_from_async_stream(
        self, chunks: Any, artifact_file_name: str, artifact_path: str | None = None
    ) -> Any:
        import asyncio

        await asyncio.to_thread(_refuse, _proxied(artifact_path, artifact_file_name), "PUT")
        return await self._mlgate_unguarded.log_artifact_from_async_stream(
            chunks, artifact_file_name, artifact_path
        )

    def create_multipart_upload(
        self, local_file: str, num_parts: int = 1, artifact_path: str | None = None
    ) -> Any:
        _refuse(_proxied(artifact_path, local_file), "PUT")
        return self._mlgate_unguarded.create_multipart_upload(
            local_file, num_parts, artifact_path
        )

    def complete_multipart_upload(
        self, local_file: str, upload_id: str, parts: Any = None,
        artifact_path: str | None = None,
    ) -> Any:
        _refuse(_proxied(artifact_path, local_file), "PUT")
        return self._mlgate_unguarded.complete_multipart_upload(
            local_file, upload_id, parts, artifact_path
        )


def guard(repository: Any) -> Any:
    """``repository`` with its class swapped for a guarded subclass of it (idempotent)."""
    cls = type(repository)
    if not isinstance(repository, _Guarded):
        repository.__class__ = type(f"Guarded{cls.__name__}", (_Guarded, cls), {})
    return repository


def _run_upload_receiver(sender: Any, **_: Any) -> None:
    """Flask ``request_started``: the UI's upload into a run's artifacts."""
    from flask import request

    if request.method != "POST" or not request.path.endswith(_RUN_UPLOAD_ROUTE):
        return
    from flask import Response, abort

    from .freeze import artifact_refusal, run_upload_location

    try:
        location = run_upload_location(request.args)
    except Exception:  # noqa: BLE001 - an unknown run is MLflow's to answer
        return
    message = artifact_refusal(location, "PUT")
    if message:
        import json

        body = json.dumps({"error_code": "PERMISSION_DENIED", "message": message})
        abort(Response(body, status=403, mimetype="application/json"))


def _guard_proxy_repository() -> None:
    """Create the repository ``mlflow.server.handlers`` caches for ``--serve-artifacts``
    (it would create it on first use) and guard it."""
    handlers: Any = sys.modules.get("mlflow.server.handlers")
    destination = os.environ.get("_MLFLOW_SERVER_ARTIFACT_DESTINATION", "")
    if handlers is None or not hasattr(handlers, "_artifact_repo") or not destination:
        return
    if os.environ.get("_MLFLOW_SERVER_SERVE_ARTIFACTS") != "true":
        return
    if handlers._artifact_repo is None:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        try:
            handlers._artifact_repo = get_artifact_repository(destination)
        except Exception:  # noqa: BLE001 - MLflow's own first use fails the same way
            import logging

            logging.getLogger("mlgate.registry").warning(
                "mlgate: the artifact destination cannot be opened yet; guarding it when "
                "the registry store is built", exc_info=True,
            )
            return
    guard(handlers._artifact_repo)


def install() -> None:
    """Guard the server's artifact repository and the UI's run upload (idempotent)."""
    _guard_proxy_repository()
    try:
        from flask import request_started
    except ImportError:  # pragma: no cover - flask comes with mlflow
        return
    request_started.connect(_run_upload_receiver, weak=False)
