"""The bundled policies and schemas work from an installed wheel, run from elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("mlgate-*.whl")
    return built


def test_wheel_ships_policies_schemas_and_entry_points(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlgate/_bundled/policies/data.json" in names
    assert "mlgate/_bundled/policies/gates/scope/scope.rego" in names
    assert "mlgate/_bundled/schemas/gate_input.schema.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mlgate = mlgate.cli:main" in text


def test_installed_wheel_checks_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mlgate.policy as p; print(p.bundled_dir('policies'));"
            "from mlgate.cli import main; main()",
            "check",
            "--input",
            str(EXAMPLES / "gate_input_blocked.json"),
            "--format",
            "json",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    where, _, report = done.stdout.partition("\n")
    assert where.startswith(str(target)), where  # the wheel's copy, not the checkout's
    decision = json.loads(report)
    assert decision["allowed"] is False
    assert decision["policy_revision"] == ""  # not in a git work tree
