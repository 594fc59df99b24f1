"""Every SARIF and JUnit report mlgate emits, checked against what consumes it: the
official SARIF 2.1.0 JSON Schema with format checking plus GitHub code scanning's
ingestion rules, and Jenkins' junit-10.xsd (tests/report_consumers.py, tests/vendored/).

Covered: the golden files, a report for every decision of the conformance corpus, a real
``mlgate audit`` and ``mlgate check``/``promote`` through the CLI; and how the CLI
anchors alerts (``--sarif-anchor``, the policies' own files inside the repository).
"""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import (
    CORPUS_NOW,
    EXAMPLES,
    POLICIES,
    ROOT,
    SCENARIOS,
    git,
    mlgate,
    scenario,
    scenario_file,
    scenario_names,
)
from mlgate.decisionlog import DecisionLog
from mlgate.models import Decision, Violation
from mlgate.output import render
from mlgate.output.sarif import SourceLocation, parse_anchor, repository_root, rule_sources
from mlgate.policy import PolicySet, load_policy_dir
from report_consumers import github_problems, junit_errors, sarif_schema_errors

GOLDEN = Path(__file__).resolve().parent / "golden"
SCENARIO_NAMES = scenario_names()
BLOCKED_INPUT = str(EXAMPLES / "gate_input_blocked.json")
ANCHOR = SourceLocation(".github/workflows/release.yml", 7)


def assert_sarif_accepted(document: dict[str, Any]) -> None:
    assert sarif_schema_errors(document) == []
    assert github_problems(document) == []


def rule_lines(policies: Path = POLICIES) -> dict[str, tuple[str, int]]:
    """Each code's rule file (relative to the policy directory) and METADATA line, read
    straight from the Rego: the `# METADATA` line above the rule holding the code."""
    found: dict[str, tuple[str, int]] = {}
    for path in sorted((policies / "gates").rglob("*.rego")):
        if path.name.endswith("_test.rego"):
            continue
        metadata_line = 0
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip() == "# METADATA":
                metadata_line = number
            elif '"code": "' in line:
                code = line.split('"code": "', 1)[1].split('"', 1)[0]
                found.setdefault(code, (path.relative_to(policies).as_posix(), metadata_line))
    return found


# --------------------------------------------------------------------------- validators


def test_the_validators_reject_what_github_and_jenkins_reject() -> None:
    """The control: the old reports' faults are caught, so a pass means something."""
    logical_only = {
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "mlgate", "rules": [{"id": "a.b"}]}},
                "results": [
                    {
                        "ruleId": "a.b",
                        "ruleIndex": 0,
                        "message": {"text": "x"},
                        "locations": [
                            {"logicalLocations": [{"fullyQualifiedName": "models:/m/1"}]}
                        ],
                    }
                ],
            }
        ],
    }
    assert sarif_schema_errors(logical_only) == []  # schema-valid, yet refused by GitHub
    problems = github_problems(logical_only)
    for expected in (
        "no automationDetails.id",
        "no fullDescription.text",
        "artifactLocation.uri '' is not repository-relative",
        "region.startLine None",
        "no partialFingerprints",
    ):
        assert any(expected in p for p in problems), (expected, problems)
    bad_uri = json.loads((GOLDEN / "sarif" / "blocked.sarif.json").read_text(encoding="utf-8"))
    bad_uri["runs"][0]["tool"]["driver"]["informationUri"] = "not a uri"
    assert sarif_schema_errors(bad_uri) == [
        "runs/0/tool/driver/informationUri: 'not a uri' is not a 'uri'"
    ]
    old_junit = '<testsuites name="m" tests="1" failures="0" errors="0" skipped="1"/>'
    assert junit_errors(old_junit) == ["/testsuites: 'skipped' attribute not allowed for element"]


# --------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("path", sorted((GOLDEN / "sarif").glob("*.sarif.json")), ids=str)
def test_golden_sarif_is_accepted(path: Path) -> None:
    assert_sarif_accepted(json.loads(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", sorted((GOLDEN / "junit").glob("*.xml")), ids=str)
def test_golden_junit_is_valid(path: Path) -> None:
    assert junit_errors(path.read_text(encoding="utf-8")) == []


# --------------------------------------------------------------------------- the corpus


@cache
def bundled() -> PolicySet:
    return load_policy_dir(POLICIES)


@cache
def scenario_decision(name: str) -> Decision:
    from mlgate.engine.embedded import EmbeddedEngine
    from mlgate.scenarios import EnginePool, decide, load_base

    return decide(load_base(SCENARIOS), scenario(name), bundled(), EnginePool(EmbeddedEngine),
                  CORPUS_NOW)


@pytest.mark.parametrize("name", SCENARIO_NAMES)
def test_every_scenario_decision_makes_reports_their_consumers_accept(name: str) -> None:
    decision = scenario_decision(name)
    located = rule_sources(bundled(), ROOT)  # the policies inside the repository
    unlocated = rule_sources(bundled(), None)  # outside it: the anchor
    for options in (
        {"rules": located},
        {"rules": located, "include_waived": True},
        {"rules": unlocated, "anchor": ANCHOR, "include_waived": True},
    ):
        document = json.loads(render("sarif", [decision], **options))
        assert_sarif_accepted(document)
        (run,) = document["runs"]
        waived = sum(1 for g in decision.gates for v in g.violations if v.waived_by)
        live = sum(1 for g in decision.gates for v in g.violations if not v.waived_by)
        assert len(run["results"]) == live + (waived if options.get("include_waived") else 0)
    assert junit_errors(render("junit", [decision])) == []


def test_the_corpus_as_one_report_is_accepted() -> None:
    """All scenario decisions in one report, as an audit would put them."""
    decisions = [scenario_decision(name) for name in SCENARIO_NAMES]
    document = json.loads(render("sarif", decisions, rules=rule_sources(bundled(), ROOT)))
    assert sarif_schema_errors(document) == []
    groups = {(d.model, d.target) for d in decisions}
    assert len(document["runs"]) == len(groups)
    if len(groups) <= 20:
        assert github_problems(document) == []
    assert junit_errors(render("junit", decisions)) == []


def test_results_point_at_the_rules_metadata_line() -> None:
    lines = rule_lines()
    sources = rule_sources(bundled(), ROOT)
    assert set(lines) <= set(sources)
    for code, (path, line) in lines.items():
        location = sources[code].location
        assert location == SourceLocation(f"policies/{path}", line), code
        assert sources[code].description, f"{code}: no METADATA description"
    for source in rule_sources(bundled(), None).values():
        assert source.location is None


def test_a_rule_without_metadata_is_located_at_its_gate() -> None:
    """A custom rule lacking its own METADATA still gets a file: its gate's package block
    (render must not fail after promote has set an alias)."""
    decision = scenario_decision("all_pass").model_copy(deep=True)
    gate = next(g for g in decision.gates if g.id == "filing")
    gate.status = "fail"
    gate.violations = [Violation(code="filing.custom_rule", message="custom", severity="high")]
    document = json.loads(render("sarif", [decision], rules=rule_sources(bundled(), ROOT)))
    assert_sarif_accepted(document)
    (result,) = document["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "policies/gates/filing/filing.rego"},
        "region": {"startLine": 1},
    }
    (rule,) = document["runs"][0]["tool"]["driver"]["rules"]
    assert rule["fullDescription"]["text"].startswith("Services with public-opinion attributes")


# --------------------------------------------------------------------------- the CLI


def test_check_in_the_repository_locates_at_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT / "plugin")  # anywhere inside the repository
    run = mlgate("check", "--input", BLOCKED_INPUT, "--format", "sarif")
    assert run.exit_code == 1, run.stderr
    document = json.loads(run.stdout)
    assert_sarif_accepted(document)
    lines = rule_lines()
    for result in document["runs"][0]["results"]:
        path, line = lines[result["ruleId"]]
        assert result["locations"][0]["physicalLocation"] == {
            "artifactLocation": {"uri": f"policies/{path}"},
            "region": {"startLine": line},
        }


def test_check_outside_the_repository_needs_an_anchor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # not a git repository: the bundled policies are elsewhere
    run = mlgate("check", "--input", BLOCKED_INPUT, "--format", "sarif")
    assert run.exit_code == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [
        "mlgate: error: --format sarif: no file to locate the alerts at: the policies are not "
        "in the current git repository; give --sarif-anchor PATH[:LINE], a file of your "
        "repository the alerts should point at"
    ]
    run = mlgate("check", "--input", BLOCKED_INPUT, "-f", "sarif", "--sarif-anchor", "ci.yml:3")
    assert run.exit_code == 1, run.stderr
    document = json.loads(run.stdout)
    assert_sarif_accepted(document)
    for result in document["runs"][0]["results"]:
        assert result["locations"][0]["physicalLocation"] == {
            "artifactLocation": {"uri": "ci.yml"},
            "region": {"startLine": 3},
        }
    # The other formats do not care where the policies are.
    assert mlgate("check", "--input", BLOCKED_INPUT, "-f", "junit").exit_code == 1


def test_caller_policies_in_a_repository_locate_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The gate workflow's case: the caller's checkout, its policies in it; the rule's file
    wins over the workflow's default anchor."""
    repo = tmp_path / "caller"
    shutil.copytree(POLICIES, repo / "compliance" / "policies")
    git(repo, "init", "-q")
    monkeypatch.chdir(repo)
    run = mlgate(
        "check", "--input", BLOCKED_INPUT, "-f", "sarif",
        "--policies", "compliance/policies", "--sarif-anchor", "ignored.yml",
    )
    assert run.exit_code == 1, run.stderr
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads(run.stdout)["runs"][0]["results"]
    }
    assert uris == {
        "compliance/policies/gates/filing/filing.rego",
        "compliance/policies/gates/labeling/labeling.rego",
    }


@pytest.mark.parametrize(
    ("anchor", "in_repo", "expected"),
    [
        # In a repository: relative to the current directory (plugin/ here).
        ("mlgate/cli.py", True, SourceLocation("plugin/mlgate/cli.py", 1)),
        ("mlgate/cli.py:12", True, SourceLocation("plugin/mlgate/cli.py", 12)),
        ("../README.md:3", True, SourceLocation("README.md", 3)),
        # Outside one (CI without a checkout): relative to the repository root.
        ("my dir/wf.yml:2", False, SourceLocation("my%20dir/wf.yml", 2)),
        ("C:name.yml", False, SourceLocation("C%3Aname.yml", 1)),
    ],
)
def test_parse_anchor(anchor: str, in_repo: bool, expected: SourceLocation) -> None:
    repo = repository_root(ROOT) if in_repo else None
    assert parse_anchor(anchor, ROOT / "plugin", repo) == expected


@pytest.mark.parametrize(
    ("anchor", "in_repo", "message"),
    [
        ("README.md:0", True, "expected PATH[:LINE] with LINE >= 1"),
        (":5", False, "expected PATH[:LINE] with LINE >= 1"),
        ("/etc/passwd", True, "not a file in the git repository"),
        ("../../..", True, "not a file in the git repository"),
        ("/abs/wf.yml", False, "must be a file relative to the repository root"),
        ("../wf.yml", False, "must be a file relative to the repository root"),
    ],
)
def test_a_bad_anchor_is_exit_2(
    anchor: str, in_repo: bool, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT / "plugin" if in_repo else tmp_path)
    run = mlgate("check", "--input", BLOCKED_INPUT, "-f", "sarif", "--sarif-anchor", anchor)
    assert run.exit_code == 2, run.stdout + run.stderr
    assert message in run.stderr and len(run.stderr.strip().splitlines()) == 1


def test_include_waived_through_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A corpus case with a waived finding.
    name = next(
        n for n in SCENARIO_NAMES
        if any(v.waived_by for g in scenario_decision(n).gates for v in g.violations)
    )
    path = str(scenario_file(tmp_path, name))
    monkeypatch.chdir(ROOT)
    plain = json.loads(mlgate("check", "--input", path, "-f", "sarif").stdout)
    full = json.loads(
        mlgate("check", "--input", path, "-f", "sarif", "--sarif-include-waived").stdout
    )
    assert not any("suppressions" in r for r in plain["runs"][0]["results"])
    suppressed = [r for r in full["runs"][0]["results"] if "suppressions" in r]
    assert suppressed and all(r["kind"] == "pass" for r in suppressed)
    assert_sarif_accepted(full)


def test_promote_with_sarif_and_no_anchor_sets_nothing(
    registry: RegistryHelper, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The anchor is checked before promote acts: exit 2 means nothing was set."""
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    monkeypatch.chdir(tmp_path)
    log = f"sqlite:///{tmp_path / 'decisions.db'}"
    run = mlgate(
        "promote", "chat", "1", "--alias", "production", *registry.args,
        "--decision-log", log, "-f", "sarif",
    )
    assert run.exit_code == 2 and "--sarif-anchor" in run.stderr
    assert registry.aliases("chat") == {}
    run = mlgate(
        "promote", "chat", "1", "--alias", "production", *registry.args,
        "--decision-log", log, "-f", "sarif", "--sarif-anchor", "deploy.yml:4",
    )
    assert run.exit_code == 0, run.stderr
    assert registry.aliases("chat") == {"production": "1"}
    document = json.loads(run.stdout)
    assert_sarif_accepted(document)
    assert document["runs"][0]["results"] == []
    assert document["runs"][0]["automationDetails"]["id"] == "mlgate/chat/production/"


def test_audit_reports_are_accepted(
    registry: RegistryHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real audit: one blocked and one allowed holding, several decisions in a report."""
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    registry.create_version(
        "images", compliant_tags(**{"filing.status": "pending"}),
        manifest=example_manifest(),
    )
    registry.client.set_registered_model_alias("chat", "production", "1")
    registry.client.set_registered_model_alias("images", "champion", "1")
    monkeypatch.chdir(ROOT)
    log = f"sqlite:///{registry.root / 'decisions.db'}"
    DecisionLog(log).close()  # an empty log: no promotion on record
    args = ("audit", *registry.args, "--decision-log", log)
    run = mlgate(*args, "--format", "sarif")
    assert run.exit_code == 1, run.stderr
    document = json.loads(run.stdout)
    assert_sarif_accepted(document)
    ids = sorted(r["automationDetails"]["id"] for r in document["runs"])
    assert ids == ["mlgate/chat/production/", "mlgate/images/champion/"]
    codes = {r["ruleId"] for run_ in document["runs"] for r in run_["results"]}
    assert codes == {"filing.not_completed"}
    run = mlgate(*args, "--format", "junit")
    assert run.exit_code == 1, run.stderr
    assert junit_errors(run.stdout) == []
    assert len(ET.fromstring(run.stdout).findall("testsuite")) == 2
