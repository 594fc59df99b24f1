"""A newcomer's first hour: help that reads right and start-up errors of one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from helpers import mlgate


def test_debug_shows_as_a_flag_in_help() -> None:
    run = mlgate("--help")
    [line] = [ln for ln in run.stdout.splitlines() if "--debug" in ln]
    assert "<bool>" not in line and "Show tracebacks" in line


def test_a_bad_policy_directory_stops_the_server_with_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_")}
    env["MLGATE_POLICIES"] = str(tmp_path / "no-such-policies")
    done = subprocess.run(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", "1",
         "--backend-store-uri", db, "--registry-store-uri", "mlgate+" + db],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    assert done.returncode != 0
    output = done.stdout + done.stderr
    assert "Traceback" not in output
    [line] = [ln for ln in output.splitlines() if "mlgate" in ln]
    assert line == (
        f"mlflow server: mlgate registry store: {tmp_path / 'no-such-policies'}: "
        "policy directory not found"
    )
