"""MLflow's functions mlgate calls, with their types (MLflow leaves them unannotated, so a
strict type checker would see every call as untyped). It imports MLflow: import it inside
the functions that need it, as every caller of MLflow does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlflow.entities.model_registry.model_version_stages import get_canonical_stage
from mlflow.utils import validation as _validation
from mlflow.utils.time import get_current_time_millis

validate_model_name: Callable[[str], None] = _validation._validate_model_name
validate_model_alias_name: Callable[[str], None] = _validation._validate_model_alias_name
validate_model_alias_name_reserved: Callable[[str], None] = (
    _validation._validate_model_alias_name_reserved
)
validate_model_renaming: Callable[[str], None] = _validation._validate_model_renaming
validate_model_version: Callable[[str], None] = _validation._validate_model_version
validate_model_version_tag: Callable[[str, str], None] = (
    _validation._validate_model_version_tag
)
validate_tag_name: Callable[[str], None] = _validation._validate_tag_name
canonical_stage: Callable[[str], str] = get_canonical_stage
now_millis: Callable[[], int] = get_current_time_millis


def run_artifact_uri(store: Any, run_id: str) -> str:
    """The artifact root of run ``run_id`` in tracking store (or client) ``store``."""
    get_run: Callable[[str], Any] = store.get_run
    return str(get_run(run_id).info.artifact_uri)


def workspaces_enabled() -> bool:
    """``MLFLOW_ENABLE_WORKSPACES``: MLflow's workspace-aware stores are on."""
    from mlflow.environment_variables import MLFLOW_ENABLE_WORKSPACES

    get: Callable[[], Any] = MLFLOW_ENABLE_WORKSPACES.get
    return bool(get())


def download_artifact(repo: Any, path: str, dst_path: str) -> str:
    """``repo.download_artifacts(path, dst_path=...)``: the local path it was written to."""
    download: Callable[..., Any] = repo.download_artifacts
    return str(download(path, dst_path=dst_path))


def log_artifact(repo: Any, local: str, artifact_path: str) -> None:
    """``repo.log_artifact(local, artifact_path)``."""
    upload: Callable[[str, str], None] = repo.log_artifact
    upload(local, artifact_path)


def http_get(tracking_uri: str, route: str, params: dict[str, str]) -> Any:
    """A GET of ``route`` on the tracking server, authenticated as MLflow's own client is
    (its credentials and TLS settings from the environment)."""
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request

    creds: Callable[[str], Any] = get_default_host_creds
    request: Callable[..., Any] = http_request
    return request(creds(tracking_uri), route, "GET", params=params)
