"""The GitHub workflows cannot run here: lint them with actionlint (from PyPI)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _actionlint() -> str:
    found = shutil.which("actionlint") or str(Path(sys.executable).parent / "actionlint")
    assert Path(found).exists(), "actionlint is not installed (pip install -e '.[test]')"
    return found


def test_there_are_workflows() -> None:
    names = {w.name for w in WORKFLOWS}
    assert "ci.yml" in names


def test_workflows_pass_actionlint() -> None:
    done = subprocess.run(
        [_actionlint(), "-no-color", *map(str, WORKFLOWS)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
