"""Test configuration. Fixtures live in per-area plugin modules so that each area
(OPA REST test server, MLflow registry and server, databases) keeps its own file."""

from __future__ import annotations

pytest_plugins = ["fixtures_opa", "fixtures_mlflow", "fixtures_db", "fixtures_server"]
