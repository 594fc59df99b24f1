"""Docs are tested: every command has help with an example, is in the README, and the
generated command reference is current."""

from __future__ import annotations

import re
from pathlib import Path

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


def test_readme_gate_table_and_counts_are_current() -> None:
    """The README's gate table and counts are what the policy set generates."""
    from mlgate.docgen import main as docgen

    assert docgen(["--check", str(ROOT / "README.md")]) == 0, "run: python -m mlgate.docgen"
    for name in ("codes", "tests", "scenarios"):
        assert f"<!-- mlgate:count {name} -->" in README, f"README lost its {name} count"


def test_docgen_counts_are_the_policy_sets() -> None:
    """Oracle apart from the generator: code literals, test_ rules and corpus cases."""
    from helpers import POLICIES, SCENARIOS
    from mlgate.docgen import counts, scenario_count
    from mlgate.policy import load_policy_dir

    policy_set = load_policy_dir(POLICIES)
    modules = [p for p in POLICIES.rglob("*.rego") if not p.name.endswith("_test.rego")]
    tests = [p for p in POLICIES.rglob("*_test.rego")]
    literal = re.compile(r'"code":\s*"([a-z_]+\.[a-z_]+)"')
    codes = {c for p in modules for c in literal.findall(p.read_text())}
    rules = sum(len(re.findall(r"^test_\w+", p.read_text(), re.MULTILINE)) for p in tests)
    cases = [p for p in SCENARIOS.iterdir() if (p / "scenario.json").is_file()]
    assert counts(policy_set) == {
        "gates": len(list((POLICIES / "gates").iterdir())),
        "codes": len(codes),
        "tests": rules,
        "scenarios": len(cases),
    }
    assert scenario_count(policy_set) == len(cases)


def test_docgen_rewrites_a_stale_readme(tmp_path: Path) -> None:
    from helpers import POLICIES
    from mlgate.docgen import main as docgen

    stale = README.replace("<!-- mlgate:count codes -->", "<!-- mlgate:count codes -->9", 1)
    stale = stale.replace("| `filing` |", "| `filing_old` |", 1)
    path = tmp_path / "README.md"
    path.write_text(stale, encoding="utf-8")
    assert docgen(["--check", str(path), "--policies", str(POLICIES)]) == 1
    assert docgen([str(path), "--policies", str(POLICIES)]) == 0
    assert path.read_text(encoding="utf-8") == README


def test_docgen_follows_a_new_gate(tmp_path: Path) -> None:
    import shutil

    from helpers import POLICIES
    from mlgate.docgen import gate_table
    from mlgate.policy import load_policy_dir
    from test_policygates import add_complaints

    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    add_complaints(root)
    table = gate_table(load_policy_dir(root))
    assert table.startswith(f"{len(load_policy_dir(POLICIES).gate_ids) + 1} gates,")
    rows = [line.split("|")[1].strip() for line in table.splitlines() if line.startswith("| `")]
    assert rows == ["`scope`", "`filing`", "`complaints`", "`assessment`", "`labeling`",
                    "`data_manifest`", "`evaluation`", "`service`", "`attestation`"]
    assert "| `complaints` | Complaints channel (Art. 15) | Art. 15 | 1 |" in table


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("no block here", "no <!-- mlgate:gates -->"),
        ("<!-- mlgate:gates -->\n<!-- /mlgate:gates -->\n<!-- mlgate:count cats -->1"
         "<!-- /mlgate:count -->", "unknown count 'cats'"),
    ],
)
def test_docgen_refuses_a_readme_without_its_markers(
    tmp_path: Path, text: str, error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from mlgate.docgen import main as docgen

    path = tmp_path / "README.md"
    path.write_text(text, encoding="utf-8")
    assert docgen(["--check", str(path)]) == 2
    assert error in capsys.readouterr().err


def test_the_authoring_guide_names_commands_and_files_that_exist() -> None:
    """docs/authoring.md points compliance at commands and paths: each must be real."""
    guide = (ROOT / "docs" / "authoring.md").read_text(encoding="utf-8")
    for path in re.findall(r"`((?:policies|tests|\.github)/[\w./-]+)`", guide):
        if "<" not in path:
            assert (ROOT / path).exists(), f"docs/authoring.md names {path}, which does not exist"
    for command in sorted(set(re.findall(r"`mlgate ((?:policy )?[a-z]+(?: [a-z]+)?)", guide))):
        words = [w for w in command.split() if not w.startswith("-")]
        run = mlgate(*words, "--help")
        assert run.exit_code == 0, f"docs/authoring.md: mlgate {command}: {run.stderr}"
