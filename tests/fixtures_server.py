"""Fixtures: real ``mlflow server`` processes with the mlgate registry plugin and page.

``gated_servers`` (session) starts a server the first time a test asks for a backend and
variant, and keeps it for the rest of the session:

    server = gated_servers.get("sqlite")                       # plugin, embedded engine
    server = gated_servers.get("postgresql", database_url=url)  # a fresh database on url
    server = gated_servers.get("sqlite", "opa-down")           # engine opa, closed port

``server_for(request, gated_servers, backend)`` does the second with the session's
``postgres_url`` / ``mysql_url`` fixture, which skips when its variable is unset.

Each is ``mlflow server --registry-store-uri mlgate+<backend>://... --app-name mlgate`` on
127.0.0.1 (a free port, one uvicorn worker, no job runner, proxied artifacts in a tmp dir),
waited for on ``/health`` and stopped by its process group at the end. PostgreSQL and
MariaDB servers get a fresh database, dropped afterwards.

The decision log is in the registry's own database: for sqlite the very same file (set
with ``MLGATE_DECISION_LOG``, the hardest case: MLflow and the log write one file), for
PostgreSQL and MariaDB by ``default_log_url``'s rule (no setting). The ``opa-down``
variant uses the default sqlite rule (``mlgate-decisions.db`` beside the database).

The ``basic-auth`` variant runs MLflow's authentication app instead of the page (a
server runs one app); its admin is :data:`AUTH_ADMIN`.

The ``custom-policies`` variant runs a copy of the bundled policies with prompt gating on
(``prompts.gated``) and the waiver :data:`LEGACY_WAIVER` (``filing.*`` for ``legacy-*``).

The registry URIs cover both spellings users write: ``mlgate+postgresql://`` (no driver:
the store picks the installed one) and ``mlgate+mysql+pymysql://`` (driver given).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from fixtures_mlflow import (
    RegistryHelper,
    _new_helper,
    _stop,
    closed_port_url,
    start_mlflow_server,
)

if TYPE_CHECKING:
    from mlgate.decisionlog import DecisionLog, LogEntry

BACKENDS: tuple[str, ...] = ("sqlite", "postgresql", "mysql")
_DB_URL_FIXTURE = {"postgresql": "postgres_url", "mysql": "mysql_url"}


@dataclass
class GatedServer:
    """One running server: its URL, databases, and its decision log."""

    url: str
    backend: str
    variant: str
    store_uri: str  # the plain SQLAlchemy URL of the tracking/registry database
    registry_uri: str  # what --registry-store-uri says (mlgate+...)
    log_url: str  # where the plugin appends decisions
    root: Path
    pid: int
    _log: DecisionLog | None = field(default=None, repr=False)

    @property
    def server_log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")

    def helper(self, tmp_path: Path) -> RegistryHelper:
        """A scratch experiment on this server, through the plain MLflow client."""
        return _new_helper(self.url, tmp_path, None)

    @property
    def decision_log(self) -> DecisionLog:
        from mlgate.decisionlog import DecisionLog

        if self._log is None:
            self._log = DecisionLog(self.log_url)
        return self._log

    def decisions(self, model: str) -> list[LogEntry]:
        """Every logged decision for ``model``, oldest first."""
        entries = self.decision_log.entries(model=model, limit=10_000)
        return sorted(entries, key=lambda e: e.id)

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


# --------------------------------------------------------------------------- databases


def _admin_engine(base: str) -> sa.engine.Engine:
    return sa.create_engine(base, isolation_level="AUTOCOMMIT")


def create_database(backend: str, base: str, root: Path) -> str:
    """A fresh, empty database for one server; its URL."""
    if backend == "sqlite":
        return f"sqlite:///{root / 'mlflow.db'}"
    name = f"mlgate_srv_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine(base)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(sa.text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
    finally:
        admin.dispose()
    return sa.engine.make_url(base).set(database=name).render_as_string(hide_password=False)


def drop_database(backend: str, base: str, url: str) -> None:
    if backend == "sqlite":
        return
    name = sa.engine.make_url(url).database
    admin = _admin_engine(base)
    try:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(sa.text(f"DROP DATABASE IF EXISTS `{name}`"))
    finally:
        admin.dispose()


def registry_uri_for(backend: str, store_uri: str) -> str:
    """``mlgate+`` and the store URI; PostgreSQL without its driver (the plugin picks it)."""
    if backend == "postgresql":
        url = sa.engine.make_url(store_uri).set(drivername="postgresql")
        return "mlgate+" + url.render_as_string(hide_password=False)
    return "mlgate+" + store_uri


# --------------------------------------------------------------------------- servers


VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    # The opa engine on a port where nothing listens: every gated call must refuse.
    "opa-down": {"MLGATE_ENGINE": "opa", "MLGATE_OPA_TIMEOUT": "2"},
    # MLflow's own authentication (--app-name basic-auth) in front of the registry plugin.
    "basic-auth": {},
    # A policy copy: prompts gated, and LEGACY_WAIVER.
    "custom-policies": {},
    # The bundled policies with the evaluation gate switched on (tests/test_evaluation.py).
    "evaluation": {},
    # basic-auth with the page inside it (--app-name mlgate-basic-auth), MLflow's default
    # 4 workers: the CLI reads the server's record through it.
    "page-basic-auth": {},
    # mlgate-basic-auth (every user MANAGE) with a policy copy naming the evidence writers
    # (AUTHORITY_WRITERS) and four eyes on.
    "authority": {},
}
AUTHORITY_WRITERS = ["officer"]
LEGACY_WAIVER_MODELS = "legacy-*"


def legacy_waiver() -> dict[str, Any]:
    """A waiver of every filing code for any version of a ``legacy-*`` model."""
    today = datetime.now(UTC).date()
    return {
        "id": "W-LEGACY",
        "model": LEGACY_WAIVER_MODELS,
        "versions": "*",
        "codes": ["filing.*"],
        "justification": "legacy models, filing migrated separately",
        "approver": "compliance@example.com",
        "ticket": "COMP-9",
        "granted": (today - timedelta(days=10)).isoformat(),
        "expires": (today + timedelta(days=30)).isoformat(),
    }


def custom_policies(root: Path) -> Path:
    """A copy of the bundled policies with ``prompts.gated`` and :func:`legacy_waiver`."""
    from mlgate.policy import bundled_dir

    target = root / "policies"
    shutil.copytree(bundled_dir("policies"), target)
    data = json.loads((target / "data.json").read_text())
    data["mlgate"]["config"].setdefault("prompts", {})["gated"] = True
    (target / "data.json").write_text(json.dumps(data, indent=2))
    (target / "waivers.json").write_text(json.dumps({"waivers": [legacy_waiver()]}))
    return target


def _policies_with(root: Path, **sections: dict[str, Any]) -> Path:
    """A copy of the bundled policies with these ``mlgate.config`` sections updated."""
    from mlgate.policy import bundled_dir

    target = root / "policies"
    shutil.copytree(bundled_dir("policies"), target)
    data = json.loads((target / "data.json").read_text())
    for section, values in sections.items():
        data["mlgate"]["config"].setdefault(section, {}).update(values)
    (target / "data.json").write_text(json.dumps(data, indent=2))
    return target


def authority_policies(root: Path) -> Path:
    """A copy of the bundled policies with ``evidence.writers`` and ``promotion.four_eyes``."""
    return _policies_with(
        root, evidence={"writers": AUTHORITY_WRITERS}, promotion={"four_eyes": True}
    )


def evaluation_policies(root: Path) -> Path:
    """A copy of the bundled policies with the evaluation gate on (evaluation.required)."""
    return _policies_with(root, evaluation={"required": True})


APP_NAMES = {
    "basic-auth": "basic-auth", "page-basic-auth": "mlgate-basic-auth",
    "authority": "mlgate-basic-auth",
}
WORKERS = {"page-basic-auth": 4}


def entry_point_shim(root: Path) -> dict[str, str]:
    """``PYTHONPATH`` for a server that must see this checkout's ``mlflow.app`` entry points.

    The shared development venv holds mlgate's metadata from when it was installed; an
    entry point added since (``mlgate-basic-auth``) is not in it. A minimal dist-info
    naming this checkout's apps puts it there for the server process only. Installed from
    this checkout (``.ci/run``), nothing is needed and nothing is added.
    """
    from importlib.metadata import entry_points

    names = {e.name for e in entry_points(group="mlflow.app")}
    if "mlgate-basic-auth" in names:
        return {}
    shim = root / "entry-point-shim"
    info = shim / "mlgate_checkout_apps-0.0.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mlgate-checkout-apps\nVersion: 0.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "[mlflow.app]\nmlgate-basic-auth = mlgate.registry.app:create_auth_app\n",
        encoding="utf-8",
    )
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (path, str(shim)) if p)}


AUTH_ADMIN = ("admin", "mlgate-test-admin-password-1")


def _basic_auth_env(root: Path, default_permission: str = "READ") -> dict[str, str]:
    ini = root / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\n"
        f"default_permission = {default_permission}\n"
        f"database_uri = sqlite:///{root / 'auth.db'}\n"
        f"admin_username = {AUTH_ADMIN[0]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        encoding="utf-8",
    )
    return {
        "MLFLOW_AUTH_CONFIG_PATH": str(ini),
        "MLFLOW_AUTH_ADMIN_PASSWORD": AUTH_ADMIN[1],
        "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex,
    }


class ServerPool:
    """Servers by (backend, variant), started on first use, stopped at session end."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self._factory = factory
        self._servers: dict[tuple[str, str], GatedServer] = {}
        self._cleanup: list[Any] = []

    def get(self, backend: str, variant: str = "default", *, database_url: str = "") -> GatedServer:
        key = (backend, variant)
        if key not in self._servers:
            if backend != "sqlite" and not database_url:
                raise ValueError(f"a {backend} server needs the database_url to create it on")
            self._servers[key] = self._start(backend, variant, database_url)
        return self._servers[key]

    def _start(self, backend: str, variant: str, base: str) -> GatedServer:
        root = self._factory.mktemp(f"server-{backend}-{variant}")
        store_uri = create_database(backend, base, root)
        self._cleanup.append(lambda: drop_database(backend, base, store_uri))
        registry_uri = registry_uri_for(backend, store_uri)
        env = dict(VARIANTS[variant])
        if variant == "opa-down":
            env["MLGATE_OPA_URL"] = closed_port_url()
        if variant == "custom-policies":
            env["MLGATE_POLICIES"] = str(custom_policies(root))
        if variant == "evaluation":
            env["MLGATE_POLICIES"] = str(evaluation_policies(root))
        if backend == "sqlite" and variant == "default":
            env["MLGATE_DECISION_LOG"] = store_uri
            log_url = store_uri
        else:
            from mlgate.decisionlog import default_log_url

            saved = os.environ.pop("MLGATE_DECISION_LOG", None)
            try:
                log_url = default_log_url(registry_uri)
            finally:
                if saved is not None:
                    os.environ["MLGATE_DECISION_LOG"] = saved
        app_name = APP_NAMES.get(variant, "mlgate")
        if variant == "authority":
            env["MLGATE_POLICIES"] = str(authority_policies(root))
        if variant in APP_NAMES:
            env.update(_basic_auth_env(root, "MANAGE" if variant == "authority" else "READ"))
        env.update(entry_point_shim(root))
        proc, url = start_mlflow_server(
            root,
            backend_store_uri=store_uri,
            registry_store_uri=registry_uri,
            env=env,
            app_name=app_name,
            workers=WORKERS.get(variant, 1),
        )
        self._cleanup.append(lambda: _stop(proc))
        server = GatedServer(
            url=url,
            backend=backend,
            variant=variant,
            store_uri=store_uri,
            registry_uri=registry_uri,
            log_url=log_url,
            root=root,
            pid=proc.pid,
        )
        self._cleanup.append(server.close)
        return server

    def close(self) -> None:
        errors: list[BaseException] = []
        for step in reversed(self._cleanup):  # stop servers before dropping databases
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - clean up the rest, then report
                errors.append(exc)
        self._cleanup.clear()
        if errors:
            raise errors[0]


def server_for(
    request: pytest.FixtureRequest, pool: ServerPool, backend: str, variant: str = "default"
) -> GatedServer:
    """The pool's server for ``backend``; skips when that database is not configured."""
    base = "" if backend == "sqlite" else request.getfixturevalue(_DB_URL_FIXTURE[backend])
    return pool.get(backend, variant, database_url=base)


@pytest.fixture(scope="module")
def sqlite_server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    """The pool's gated server on SQLite (the tests that need no other backend)."""
    return server_for(request, gated_servers, "sqlite")


@pytest.fixture(scope="session")
def gated_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerPool]:
    pool = ServerPool(tmp_path_factory)
    try:
        yield pool
    finally:
        pool.close()
