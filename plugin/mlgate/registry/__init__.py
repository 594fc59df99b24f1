"""The MLflow server plugins: the gated model-registry store and the release managers' page.

Entry points (``pyproject.toml``)::

    [project.entry-points."mlflow.model_registry_store"]
    "mlgate+sqlite" = "mlgate.registry:make_store"       # also +postgresql, +mysql, +mssql

    [project.entry-points."mlflow.app"]
    mlgate = "mlgate.registry.app:create_app"

This module must stay import-light: MLflow loads the ``mlflow.model_registry_store`` entry
points while it may still be importing itself, so importing the real store here (which
imports MLflow's SQL store) can fail with a circular import. The factory imports it lazily.
"""

from __future__ import annotations

import os
from typing import Any

from ..uris import BACKENDS, PREFIX  # noqa: F401 - the package's names since 0.1


def make_store(store_uri: str, tracking_uri: str | None = None) -> Any:
    """Build the gated registry store for ``mlgate+<backend>://...`` (MLflow calls this)."""
    from .settings import in_server
    from .store import build_store

    if in_server():
        from .guard import install

        install()  # again: in case MLflow's handlers were imported after this package
    return build_store(store_uri, tracking_uri)


def _guard_artifact_writes() -> None:
    """In a gated server worker, refuse artifact writes under ``compliance/`` of protected
    versions (:mod:`mlgate.registry.guard`). Runs when MLflow loads the entry point, which
    is before any request; building the store installs it again, should this fail."""
    uri = os.environ.get("_MLFLOW_SERVER_REGISTRY_STORE") or os.environ.get(
        "_MLFLOW_SERVER_FILE_STORE", ""
    )
    if not uri.startswith(PREFIX):
        return
    try:
        from .guard import install

        install()
    except Exception:  # noqa: BLE001 - never break MLflow's import; the store retries
        import logging

        logging.getLogger("mlgate.registry").warning(
            "mlgate: could not guard artifact writes yet", exc_info=True
        )


_guard_artifact_writes()
