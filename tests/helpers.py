"""Helpers shared by the tests: run the CLI in-process, paths of the checkout."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mlgate.cli import app

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def mlgate(*args: str, env: dict[str, str] | None = None) -> Run:
    """Invoke ``mlgate ARGS`` in-process and capture exit code, stdout and stderr."""
    result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)
