"""The store URI scheme: ``mlgate+<backend>://...``. Import-free, so the entry module,
the store and the page all read it without importing one another."""

from __future__ import annotations

PREFIX = "mlgate+"
BACKENDS: tuple[str, ...] = ("sqlite", "postgresql", "mysql", "mssql")
