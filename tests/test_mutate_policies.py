"""benchmarks/mutate_policies.py, small: it finds a survivor, honours the equivalents list,
runs on a sample of the real policies, and the survivors issue 15 found stay killed."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from helpers import POLICIES, ROOT, SCENARIOS

PINS = Path(__file__).resolve().parent / "test_shipped_policy_data.py"


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    path = ROOT / "benchmarks" / "mutate_policies.py"
    spec = importlib.util.spec_from_file_location("mutate_policies", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


# A policy whose tests never look at input.y nor at the default: deleting either survives.
WEAK_POLICY = """package demo

default allow := false

allow if {
\tinput.x > 1
\tinput.y == true
}
"""

WEAK_TESTS = """package demo_test

import data.demo

test_allows if demo.allow with input as {"x": 2, "y": true}

test_denies_small_x if not demo.allow with input as {"x": 1, "y": true}
"""


@pytest.fixture
def weak(tmp_path: Path) -> Path:
    directory = tmp_path / "policies"
    directory.mkdir()
    (directory / "demo.rego").write_text(WEAK_POLICY)
    (directory / "demo_test.rego").write_text(WEAK_TESTS)
    shutil.copy(POLICIES / "data.json", directory / "data.json")
    for schema in POLICIES.rglob("data.schema.json"):  # what validates data.json
        target = directory / schema.relative_to(POLICIES)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(schema, target)
    return directory


def test_a_survivor_is_named_with_file_line_and_mutation(
    tool: ModuleType, weak: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    none = tmp_path / "none.json"
    code = tool.main(["--policies", str(weak), "--file", "demo.rego", "--equivalents", str(none)])
    out = capsys.readouterr().out
    assert code == 1
    # Every mutant of `input.x > 1`, and the negation and flip of `input.y == true`, die;
    # `not demo.allow` holds for undefined too, so the default is untested as well.
    survivors = [line for line in out.splitlines() if line.startswith("SURVIVED")]
    assert survivors == [
        "SURVIVED demo.rego:3: delete line in `default allow := false`",
        "SURVIVED demo.rego:7: delete line in `input.y == true`",
    ]
    row = next(line.split() for line in out.splitlines() if line.startswith("demo.rego "))
    generated, not_compiling, killed, equivalent, survived = map(int, row[1:])
    assert generated == not_compiling + killed + equivalent + survived
    assert survived == 2 and killed >= 5 and equivalent == 0


def test_a_listed_equivalent_is_not_a_survivor(
    tool: ModuleType, weak: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Find every survivor first, then list them all as equivalent.
    none = tmp_path / "none.json"
    tool.main(
        ["--policies", str(weak), "--file", "demo.rego", "--equivalents", str(none), "--json"]
    )
    survivors = [o for o in json.loads(capsys.readouterr().out) if o["status"] == "survived"]
    listed = tmp_path / "equivalents.json"
    entries = [
        {k: o[k] for k in ("file", "original", "mutation")} | {"reason": "demo"} for o in survivors
    ]
    listed.write_text(json.dumps({"equivalents": entries}))
    code = tool.main(["--policies", str(weak), "--file", "demo.rego", "--equivalents", str(listed)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SURVIVED" not in out
    assert f"{len(survivors)} known equivalent" in out


def test_some_and_every_swap_whole_blocks(tool: ModuleType) -> None:
    head = "package p\n\nr if {\n"
    source = head + "\tevery x in xs {\n\t\tx > 0\n\t}\n\tsome y in ys\n\ty == 1\n}\n"
    swaps = {m.mutation: m.text for m in tool.rego_mutants("p.rego", source) if "->" in m.mutation}
    assert (
        swaps["every -> some"] == head + "\tsome x in xs\n\t\tx > 0\n\tsome y in ys\n\ty == 1\n}\n"
    )
    assert swaps["some -> every"] == (
        head + "\tevery x in xs {\n\t\tx > 0\n\t}\n\tevery y in ys {\n\ty == 1\n\t}\n}\n"
    )


def test_data_mutants_drop_flip_and_shift(tool: ModuleType) -> None:
    text = '{"a": {"flag": true, "n": 3, "names": ["x", "y"]}}\n'
    found = {(m.original, m.mutation) for m in tool.data_mutants("data.json", text)}
    assert found == {
        ("a.flag", "true -> false"),
        ("a.n", "3 -> 4"),
        ("a.n", "3 -> 2"),
        ("a.names", 'drop "x"'),
        ("a.names", 'drop "y"'),
    }


def test_a_sample_of_the_shipped_policies_leaves_no_survivor(
    tool: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    code = tool.main(["--sample", "2", "--corpus", str(SCENARIOS), "--pins", str(PINS)])
    out = capsys.readouterr().out
    assert code == 0, out
    for name in ("main/main.rego", "lib/lib.rego", "gates/labeling/labeling.rego", "data.json"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name
    assert "score: " in out


# The survivors of the mutation run reported in issue 15, each killed now (at least
# `count` mutants of that line and mutation exist).
ISSUE_15 = [
    # In date_in_future and expired: the only rules that still read it since the
    # merge of h7-record (date_missing and report_missing no longer do).
    ("gates/assessment/assessment.rego", "expects_evidence", "delete line", 2),
    ("gates/labeling/labeling.rego", 'needing.implicit != ""', "delete line", 2),
    ("main/main.rego", "every id in required_gates {", "every -> some", 2),
    ("main/main.rego", "some pattern in w.codes", "some -> every", 1),
    ("data.json", "mlgate.config.protected_aliases", 'drop "public"', 1),
    ("data.json", "mlgate.config.protected_aliases", 'drop "champion"', 1),
    ("data.json", "mlgate.config.protected_stages", 'drop "production"', 1),
    ("data.json", "mlgate.config.labeling.required.audio", 'drop "explicit"', 1),
    ("data.json", "mlgate.config.labeling.required.video", 'drop "implicit"', 1),
    ("data.json", "mlgate.config.labeling.required.code", 'drop "explicit"', 1),
    ("data.json", "mlgate.config.labeling.required.image", 'drop "implicit"', 1),
    ("data.json", "mlgate.config.data_manifest.min_datasets", "1 -> 2", 1),
    ("data.json", "mlgate.config.data_manifest.labeling_duties", 'drop "rules_documented"', 1),
    ("data.json", "mlgate.config.data_manifest.labeling_duties", 'drop "quality_assessment"', 1),
    ("data.json", "mlgate.config.data_manifest.labeling_duties", 'drop "labeler_training"', 1),
]


def test_the_survivors_of_issue_15_are_killed_by_the_rego_tests(tool: ModuleType) -> None:
    files, targets = tool.policy_files(POLICIES, None)
    by_key: dict[tuple[str, str, str], list[object]] = {}
    for mutant in tool.generate(files, targets):
        by_key.setdefault(mutant.key, []).append(mutant)
    # The Rego tests alone, as `mlgate policy test` runs them: no corpus, no pins.
    oracles = tool.Oracles(str(POLICIES), files)
    for file, original, mutation, count in ISSUE_15:
        mutants = by_key.get((file, original, mutation), [])
        assert len(mutants) >= count, (file, original, mutation)
        for mutant in mutants:
            status, by = oracles.judge(mutant)
            assert status == "killed", f"{file}:{mutant.line}: {mutation} in `{original}`"


def test_the_waiver_settings_are_killed_by_the_pins(tool: ModuleType) -> None:
    files, targets = tool.policy_files(POLICIES, None)
    waivers = [m for m in tool.generate(files, ["data.json"]) if ".waivers." in m.original]
    assert len(waivers) == 4  # max_validity_days and warn_within_days, each +-1
    oracles = tool.Oracles(str(POLICIES), files, pins=tool.load_pins(PINS))
    for mutant in waivers:
        status, by = oracles.judge(mutant)
        assert (status, by.split(":")[0]) == ("killed", f"pin {mutant.original}"), mutant.mutation
