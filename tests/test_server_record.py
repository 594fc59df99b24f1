"""One record: against a server running the mlgate store, ``mlgate promote``, ``log``,
``audit`` and the page all use the server's decision log, never a local file.

The server is ``mlflow server --app-name mlgate-basic-auth`` (MLflow's basic-auth with the
page inside it) with MLflow's default 4 workers; the CLI authenticates as MLflow's client
does (``MLFLOW_TRACKING_USERNAME``/``PASSWORD``). A plain server without the plugin is
named as such.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from fixtures_mlflow import MlflowServer, compliant_tags, example_manifest
from fixtures_server import AUTH_ADMIN, GatedServer, ServerPool, server_for
from helpers import POLICIES, edit_config, mlgate

BARE_TAGS = {"compliance.audience": "public", "compliance.regions": "CN"}


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    return server_for(request, gated_servers, "sqlite", "page-basic-auth")


@pytest.fixture
def as_admin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """MLflow's credentials in the environment; the working directory an empty tmp dir
    (a stray mlgate-decisions.db would appear there)."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", AUTH_ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", AUTH_ADMIN[1])
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def api(server: GatedServer, route: str, *, auth: tuple[str, str] | None = AUTH_ADMIN) -> Any:
    request = urllib.request.Request(f"{server.url}{route}")
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_promote_log_audit_and_page_share_the_servers_record(
    server: GatedServer, as_admin: Path, tmp_path: Path
) -> None:
    reg = server.helper(tmp_path)
    name = reg.unique("chat")
    bad = reg.create_version(name, BARE_TAGS)
    good = reg.create_version(name, compliant_tags(), manifest=example_manifest())
    where = ["--tracking-uri", server.url]

    blocked = mlgate("promote", name, bad.version, "--alias", "production", *where,
                     "--format", "json")
    allowed = mlgate("promote", name, good.version, "--alias", "production", *where,
                     "--format", "json")

    assert blocked.exit_code == 1, blocked.stderr
    assert allowed.exit_code == 0, allowed.stderr
    assert reg.aliases(name) == {"production": good.version}
    # One decision per request, made and logged by the server, read back by the CLI.
    entries = server.decisions(name)
    assert [(e.version, e.allowed, e.source, e.actor) for e in entries] == [
        (bad.version, False, "server", AUTH_ADMIN[0]),
        (good.version, True, "server", AUTH_ADMIN[0]),
    ]
    assert [blocked.json()["decision_id"], allowed.json()["decision_id"]] == [
        e.decision_id for e in entries
    ]
    assert not list(as_admin.glob("*.db"))  # no stray local log

    log = mlgate("log", "--blocked", "--model", name, *where)
    assert log.exit_code == 0, log.stderr
    assert f"BLOCKED  {name} v{bad.version} -> production" in log.stdout
    assert "source server" in log.stdout and entries[0].decision_id in log.stdout

    page = api(server, f"/mlgate/api/decisions?model={name}")
    assert [d["decision_id"] for d in page["decisions"]] == [e.decision_id for e in entries]

    # Under stricter policies the promoted version is blocked now: audit explains it
    # against the server's allowed decision, not "set outside mlgate".
    strict = tmp_path / "strict"
    shutil.copytree(POLICIES, strict)
    edit_config(strict, assessment={"max_age_days": 1})
    audit = mlgate("audit", *where, "--policies", str(strict), "--format", "json")
    [decision] = [d for d in audit.json() if d["model"] == name]
    reasons = " ".join(decision["warnings"])
    assert "outside mlgate" not in reasons
    assert f"promotion {entries[1].decision_id}" in reasons
    assert not list(as_admin.glob("*.db"))


def test_the_record_needs_mlflows_credentials(server: GatedServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        api(server, "/mlgate/api/decisions", auth=None)
    assert info.value.code == 401
    assert api(server, "/mlgate/api/status")["gated"] is True


def test_the_page_is_served_next_to_basic_auth(server: GatedServer) -> None:
    request = urllib.request.Request(f"{server.url}/mlgate/")
    token = base64.b64encode(f"{AUTH_ADMIN[0]}:{AUTH_ADMIN[1]}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        assert "mlgate" in response.read().decode()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{server.url}/mlgate/", timeout=30)
    assert info.value.code == 401


def test_a_server_without_the_plugin_is_named(
    mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    run = mlgate("log", "--tracking-uri", mlflow_server.url)
    assert run.exit_code == 2
    assert "serves no mlgate decision record" in run.stderr
    assert "MLGATE_DECISION_LOG" in run.stderr
    assert not list(tmp_path.glob("*.db"))

    # promote decides itself there, and says where this decision is logged instead.
    reg = _plain_helper(mlflow_server, tmp_path)
    name = reg.unique("plain")
    mv = reg.create_version(name, compliant_tags(), manifest=example_manifest())
    promote = mlgate("promote", name, mv.version, "--alias", "staging",
                     "--tracking-uri", mlflow_server.url)
    assert promote.exit_code == 0, promote.stderr
    assert "serves no mlgate decision record" in promote.stderr
    assert "this decision is logged to sqlite:///mlgate-decisions.db" in promote.stderr


def _plain_helper(server: MlflowServer, tmp_path: Path) -> Any:
    from fixtures_mlflow import _new_helper

    return _new_helper(server.url, tmp_path, None)


def test_each_user_sees_the_decisions_on_models_they_may_read(
    server: GatedServer, as_admin: Path, tmp_path: Path
) -> None:
    from mlflow.server.auth.client import AuthServiceClient

    reg = server.helper(tmp_path)
    hidden = reg.unique("hidden")
    mv = reg.create_version(hidden, BARE_TAGS)
    shown = reg.unique("shown")
    other = reg.create_version(shown, BARE_TAGS)
    for model, version in ((hidden, mv.version), (shown, other.version)):
        with pytest.raises(Exception, match="PERMISSION_DENIED"):
            reg.client.set_registered_model_alias(model, "production", version)
    auth = AuthServiceClient(server.url)
    user = ("bob-" + hidden[-8:], "bob-password-123456")
    auth.create_user(*user)
    auth.grant_user_permission(user[0], "registered_model", hidden, "DENY")

    route = f"/mlgate/api/decisions?model={hidden}"
    assert api(server, route)["count"] == 1  # the admin sees it
    assert api(server, route, auth=user)["count"] == 0  # bob may not read the model
    assert api(server, f"/mlgate/api/decisions?model={shown}", auth=user)["count"] == 1


def test_concurrent_cli_promotions_each_read_back_their_own_decision(
    server: GatedServer, as_admin: Path, tmp_path: Path
) -> None:
    """Eight ``mlgate promote`` processes at once against 4 workers: one logged decision per
    request (the CLI adds none), a refused one reports exactly its own decision (the
    refusal names it), an allowed one a logged allowed decision for its version and alias:
    identical concurrent requests cannot be told apart from the client (README, Limits)."""
    import os
    import subprocess
    import sys

    reg = server.helper(tmp_path)
    name = reg.unique("race")
    bad = reg.create_version(name, BARE_TAGS)
    good = reg.create_version(name, compliant_tags(), manifest=example_manifest())
    env = {**os.environ, "MLFLOW_TRACKING_USERNAME": AUTH_ADMIN[0],
           "MLFLOW_TRACKING_PASSWORD": AUTH_ADMIN[1]}
    env.pop("MLGATE_DECISION_LOG", None)
    requests = [(bad.version, "production")] * 4 + [(good.version, "champion")] * 4
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", "from mlgate.cli import main; main()", "promote", name,
             version, "--alias", alias, "--tracking-uri", server.url, "--format", "json"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for version, alias in requests
    ]
    reports = []
    for proc, (version, alias) in zip(procs, requests, strict=True):
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == (1 if alias == "production" else 0), err
        decision = json.loads(out)
        assert (decision["version"], decision["target"]) == (version, alias)
        reports.append(decision["decision_id"])

    logged = server.decisions(name)
    assert len(logged) == len(requests)  # one row per request, no second CLI decision
    refused, allowed = reports[:4], reports[4:]
    assert sorted(refused) == sorted(e.decision_id for e in logged if not e.allowed)
    assert set(allowed) <= {e.decision_id for e in logged if e.allowed}
    assert not list(tmp_path.glob("*.db"))
