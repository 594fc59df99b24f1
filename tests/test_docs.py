"""Docs are tested: every command has help with an example, is in the README, and the
generated command reference is current."""

from __future__ import annotations

import re

import pytest

from helpers import ROOT, mlgate
from mlgate.clidoc import DEFAULT, commands, generate

README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = dict(commands())


def test_the_contract_commands_exist() -> None:
    for name in (
        "mlgate check",
        "mlgate promote",
        "mlgate manifest validate",
        "mlgate manifest attach",
        "mlgate policy test",
        "mlgate policy check",
        "mlgate log",
        "mlgate demo",
    ):
        assert name in COMMANDS, name


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_has_help_with_an_example(name: str) -> None:
    help_text = COMMANDS[name].help or ""
    assert len(help_text.strip()) > 20, name
    assert "Example" in help_text and name in help_text, f"{name}: no example in its help"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_is_in_the_readme(name: str) -> None:
    assert re.search(rf"`{re.escape(name)}\b", README), f"{name} is missing from README.md"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_runs(name: str) -> None:
    run = mlgate(*name.split()[1:], "--help")
    assert run.exit_code == 0 and "Usage" in run.stdout


def test_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    lines = [line.split("#")[0].strip() for line in first_block.strip().splitlines()]
    assert lines == ["make demo", "make test"]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_command_reference_is_current() -> None:
    assert DEFAULT.read_text(encoding="utf-8") == generate(), "run: python -m mlgate.clidoc"


def test_readme_counts_are_the_policy_sets() -> None:
    """The README's counts of codes, Rego tests and corpus cases are the real ones."""
    from helpers import POLICIES, scenario_names
    from mlgate.policy import load_policy_dir
    from mlgate.policytest import discover

    policy_set = load_policy_dir(POLICIES)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = {
        "codes": re.search(r"\(([\d,]+) of them\)", readme),
        "tests": re.search(r"every `test_\*` rule; ([\d,]+) tests", readme),
        "cases": re.search(r"the decisions of ([\d,]+) cases", readme),
    }
    want = {
        "codes": len(policy_set.violation_meta),
        "tests": len(discover(policy_set)),
        "cases": len(scenario_names()),
    }
    got = {k: int(m.group(1).replace(",", "")) if m else None for k, m in found.items()}
    assert got == want
