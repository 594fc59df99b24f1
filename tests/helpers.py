"""Helpers shared by the tests: run the CLI in-process, paths of the checkout."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from mlgate.cli import EngineChoice, app, load_engine
from mlgate.models import Decision, GateInput, ModelRef
from mlgate.runner import evaluate, load_gate_input, retarget

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
SCHEMAS = ROOT / "schemas"
EXAMPLES = ROOT / "examples"
SCENARIOS = POLICIES / "scenarios"  # the conformance corpus lives with the policies
# The moment the corpus was written for (its cases were fixed documents then): tests that
# replay a case at a fixed time use it, the conformance test runs at the current time too.
CORPUS_NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


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


@cache
def _embedded() -> tuple[Any, Any]:
    return load_engine(None, EngineChoice.embedded, None, None, 5.0)


# The five gates of the first wave: on by default. Every other shipped gate (contract
# section 7) is switched off by default and so ``not_applicable`` in a default decision.
FIRST_WAVE = ("scope", "filing", "assessment", "labeling", "data_manifest")


def shipped_gate_ids() -> tuple[str, ...]:
    """The shipped policy set's gates, in ``required_gates`` order."""
    return tuple(_embedded()[0].gate_ids)


def switched_off_by_default() -> dict[str, str]:
    """``{gate: "not_applicable"}`` for each shipped gate beyond the first five."""
    return {g: "not_applicable" for g in shipped_gate_ids() if g not in FIRST_WAVE}


def decide(
    example: str,
    *,
    model: str | None = None,
    version: str | None = None,
    target: str | None = None,
    tags: dict[str, str] | None = None,
) -> tuple[Decision, GateInput]:
    """Evaluate ``examples/gate_input_<example>.json`` (``blocked`` or ``allowed``) with the
    embedded engine, optionally for another model, version, target or extra tags."""
    policy_set, engine = _embedded()
    gate_input = load_gate_input(EXAMPLES / f"gate_input_{example}.json")
    ref = ModelRef(name=model or gate_input.model.name, version=version or gate_input.model.version)
    gate_input = gate_input.model_copy(
        update={"model": ref, "tags": {**gate_input.tags, **(tags or {})}}
    )
    if target is not None:
        gate_input = retarget(gate_input, target, "alias", policy_set.config)
    return evaluate(gate_input, engine, policy_set), gate_input


def scenario_names() -> list[str]:
    from mlgate.scenarios import case_names

    return case_names(SCENARIOS)


@cache
def scenario(name: str) -> Any:
    from mlgate.scenarios import load_scenario

    return load_scenario(SCENARIOS, name)


@cache
def _scenario_base() -> dict[str, Any]:
    from mlgate.scenarios import load_base

    return load_base(SCENARIOS)


def scenario_document(name: str, now: datetime | None = CORPUS_NOW) -> dict[str, Any]:
    """The gate input document of corpus case ``name`` at ``now`` (None: this moment)."""
    from mlgate.scenarios import materialise

    return materialise(_scenario_base(), scenario(name), now)


def scenario_input(name: str, now: datetime | None = CORPUS_NOW) -> GateInput:
    return GateInput.model_validate(scenario_document(name, now))


def scenario_file(directory: Path, name: str, now: datetime | None = CORPUS_NOW) -> Path:
    """Case ``name``'s gate input written to ``directory/<name>.json`` (for --input)."""
    path = directory / f"{name}.json"
    path.write_text(json.dumps(scenario_document(name, now), indent=2), encoding="utf-8")
    return path


def one_error_line(run: Run) -> str:
    assert run.exit_code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("mlgate: error: ")
    return lines[0]


def policy_refusal(policies: Path) -> str:
    """The one error line a bad policy set gets from ``check --input`` and from ``policy
    check`` alike (both load it before anything else)."""
    lines = [
        one_error_line(mlgate(*args, "--policies", str(policies)))
        for args in (["check", "--input", str(EXAMPLES / "gate_input_blocked.json")],
                     ["policy", "check"])
    ]
    assert lines[0] == lines[1]
    return lines[0]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Compliance",
            "-c",
            "user.email=compliance@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def policy_repo(tmp_path: Path) -> Path:
    """A throwaway git repository with a copy of the bundled policies, committed."""
    repo = tmp_path / "repo"
    shutil.copytree(POLICIES, repo / "policies")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "policies")
    git(repo, "commit", "-q", "-m", "policies")
    return repo


def edit_config(policies: Path, **changes: Any) -> None:
    """Set ``mlgate.config.<section>.<key>`` values, e.g. assessment={"max_age_days": 10}."""
    path = policies / "data.json"
    data = json.loads(path.read_text())
    for section, values in changes.items():
        data["mlgate"]["config"][section].update(values)
    path.write_text(json.dumps(data, indent=2))


def write_waivers(policies: Path, *entries: dict[str, Any]) -> None:
    (policies / "waivers.json").write_text(json.dumps({"waivers": list(entries)}))
