"""The README's ``mlflow server`` commands, run as written.

Each ``sh`` block of the README's "Enforce on the MLflow server" section that starts a
server is run by bash in an empty directory (``pip install`` lines apart: the package is
installed already), on a free port given through ``MLFLOW_PORT`` (MLflow's own variable
for ``--port``) and with MLflow's default 4 workers. The basic-auth block must start on
the installed MLflow, serve the page behind the same login, and refuse a non-compliant
promotion with 403.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from fixtures_mlflow import _stop, _wait_healthy, free_port
from fixtures_server import entry_point_shim
from helpers import ROOT, mlgate

SECTION = "## Enforce on the MLflow server"


def server_blocks() -> dict[str, str]:
    """The section's ``sh`` blocks that run ``mlflow server``, by their ``--app-name``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    found = {}
    for block in blocks:
        app = re.search(r"--app-name (\S+)", block)
        if "mlflow server" in block and app:
            found[app.group(1)] = block
    return found


def start(block: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    script = "\n".join(
        line for line in block.splitlines() if not line.startswith("pip install")
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MLGATE_", "MLFLOW_TRACKING_", "MLFLOW_AUTH_"))}
    env.update(entry_point_shim(root))
    env.update({
        "MLFLOW_PORT": str(port),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    })
    log = root / "server.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            ["bash", "-euc", script], cwd=root, env=env, stdout=out,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log, timeout=180)
    except BaseException:
        _stop(proc)
        raise
    return proc, url


def test_the_readme_has_both_server_commands() -> None:
    assert set(server_blocks()) == {"mlgate-basic-auth", "mlgate"}


def test_basic_auth_command_serves_the_page_and_gates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    from mlflow.exceptions import RestException
    from mlflow.tracking import MlflowClient

    block = server_blocks()["mlgate-basic-auth"]
    password = re.search(r"MLFLOW_AUTH_ADMIN_PASSWORD='([^']+)'", block)
    assert password, "the README must show the admin password variable"
    proc, url = start(block, tmp_path)
    try:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{url}/mlgate/", timeout=30)
        assert info.value.code == 401
        request = urllib.request.Request(f"{url}/mlgate/")
        token = base64.b64encode(f"admin:{password.group(1)}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200

        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password.group(1))
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        monkeypatch.chdir(tmp_path)
        client = MlflowClient(url)
        client.create_registered_model("readme-chat")
        run = client.create_run(client.create_experiment("readme"))
        client.log_text(run.info.run_id, "flavors: {}\n", "model/MLmodel")
        mv = client.create_model_version(
            "readme-chat", f"runs:/{run.info.run_id}/model", run_id=run.info.run_id,
            tags={"compliance.audience": "public", "compliance.regions": "CN"},
        )
        with pytest.raises(RestException) as refused:
            client.set_registered_model_alias("readme-chat", "production", mv.version)
        assert refused.value.error_code == "PERMISSION_DENIED"
        log = mlgate("log", "--blocked", "--tracking-uri", url)
        assert log.exit_code == 0, log.stderr
        assert "BLOCKED  readme-chat v1 -> production" in log.stdout
        assert "who admin" in log.stdout
    finally:
        _stop(proc)


def test_unauthenticated_command_serves_the_gated_page(tmp_path: Path) -> None:
    proc, url = start(server_blocks()["mlgate"], tmp_path)
    try:
        with urllib.request.urlopen(f"{url}/mlgate/api/status", timeout=30) as response:
            assert b'"gated":true' in response.read().replace(b" ", b"")
    finally:
        _stop(proc)
