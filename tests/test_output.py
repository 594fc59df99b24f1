"""Report formats: golden files per format, structure checks, escaping, and the CLI.

Golden files live in ``tests/golden/<format>/<case>.<ext>``. After an intended change to
a format, regenerate them and review the diff::

    MLGATE_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_output.py

The decisions are built here directly, with fixed ids and timestamps, so every render is
deterministic and independent of the policies and the engine.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import mlgate
from helpers import EXAMPLES
from helpers import mlgate as run_mlgate
from mlgate.errors import InputError
from mlgate.models import Decision, GateResult, Violation
from mlgate.output import FORMATS, github, markdown, render, table
from mlgate.output.sarif import RuleSource, SourceLocation
from report_consumers import github_problems, junit_errors, sarif_schema_errors

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE_GOLDEN = os.environ.get("MLGATE_UPDATE_GOLDEN") == "1"
EXTENSIONS = {
    "table": "txt",
    "junit": "xml",
    "sarif": "sarif.json",
    "markdown": "md",
    "github": "txt",
}
BLOCKED_INPUT = str(EXAMPLES / "gate_input_blocked.json")
ANSI = re.compile(r"\033\[[0-9;]*m")

# --------------------------------------------------------------------------- decisions

REFS = {
    "scope": ["Interim Measures for Generative AI Services, Art. 2"],
    "filing": ["Interim Measures for Generative AI Services, Art. 17"],
    "assessment": ["Interim Measures for Generative AI Services, Art. 17"],
    "labeling": [
        "Interim Measures for Generative AI Services, Art. 12",
        "Measures for Labeling AI-Generated Synthetic Content",
    ],
    "data_manifest": ["Interim Measures for Generative AI Services, Art. 7"],
}
TITLES = {
    "scope": "Public-facing service in mainland China",
    "filing": "Algorithm filing completed",
    "assessment": "Security assessment passed",
    "labeling": "Generated-content labeling enabled",
    "data_manifest": "Training-data manifest attached and sound",
}
FIX_FILING = "Complete the algorithm record-filing, then set compliance.filing.status=completed."
FIX_LABELING = "Embed watermark labels, then set compliance.labeling.implicit=true."
FILING_DESCRIPTION = "The algorithm record-filing is pending or was never made."
FILING_SOLUTION = "Complete the algorithm record-filing with the CAC before launch."
# What the CLI passes the sarif renderer: one code located at its rule (as when the
# policies are in the caller's repository), the others at the anchor.
SARIF_OPTIONS: dict[str, Any] = {
    "rules": {
        "filing.not_completed": RuleSource(
            SourceLocation("policies/gates/filing/filing.rego", 55),
            FILING_DESCRIPTION,
            FILING_SOLUTION,
        )
    },
    "anchor": SourceLocation(".github/workflows/release.yml", 12),
}
RENDER_OPTIONS: dict[str, dict[str, Any]] = {"sarif": SARIF_OPTIONS}


def gate(gate_id: str, status: str, *violations: Violation, remediation: str = "") -> GateResult:
    return GateResult(
        id=gate_id,
        title=TITLES[gate_id],
        status=status,  # type: ignore[arg-type]
        violations=list(violations),
        references=REFS[gate_id],
        remediation=remediation,
    )


def violation(code: str, message: str, severity: str, waived_by: str | None = None) -> Violation:
    return Violation(code=code, message=message, severity=severity, waived_by=waived_by)  # type: ignore[arg-type]


def decision(
    number: int,
    gates: list[GateResult],
    *,
    model: str = "image-generator",
    target: str = "production",
    in_scope: bool | None = True,
    enforcement: str = "deny",
) -> Decision:
    passing = all(g.status in ("pass", "waived", "not_applicable") for g in gates)
    waivers = sorted({v.waived_by for g in gates for v in g.violations if v.waived_by})
    return Decision(
        decision_id=f"00000000-0000-4000-8000-{number:012d}",
        model=model,
        version=str(number),
        target=target,
        allowed=passing or enforcement == "warn",
        in_scope=in_scope,
        enforcement=enforcement,  # type: ignore[arg-type]
        gates=gates,
        waivers_applied=waivers,
        policy_revision="0ce45f7def556d898080b26e3ff1392ac6b02068",
        engine="embedded",
        input_sha256="fa68eaeaeb56b15bec8e3d91e955e3f4d080053d4d56a62a5cc6f7134d25e343",
        evaluated_at="2026-11-29T12:00:00Z",
    )


def failing_gates() -> list[GateResult]:
    """filing fails (critical); labeling fails with one live and one waived violation;
    the data manifest fails with a low-severity finding."""
    return [
        gate("scope", "pass"),
        gate(
            "filing",
            "fail",
            violation("filing.not_completed", "The record-filing is 'pending'", "critical"),
            remediation=FIX_FILING,
        ),
        gate("assessment", "pass"),
        gate(
            "labeling",
            "fail",
            violation("labeling.explicit_disabled", "Explicit labels are off", "medium", "WV-2"),
            violation("labeling.implicit_disabled", "Implicit labels are off for image", "high"),
            remediation=FIX_LABELING,
        ),
        gate(
            "data_manifest",
            "fail",
            violation("data_manifest.no_quality_measures", "quality_measures is empty", "low"),
            remediation="List the quality measures in the manifest.",
        ),
    ]


def blocked() -> Decision:
    return decision(3, failing_gates())


def allowed() -> Decision:
    """In scope, everything passes except an assessment finding covered by a waiver."""
    stale = violation("assessment.stale", "The assessment is 400 days old", "medium", "WV-1")
    gates = [
        gate("scope", "pass"),
        gate("filing", "pass"),
        gate("assessment", "waived", stale),
        gate("labeling", "pass"),
        gate("data_manifest", "pass"),
    ]
    return decision(4, gates, model="public-chatbot")


def out_of_scope() -> Decision:
    gates = [gate("scope", "pass")] + [
        gate(g, "not_applicable") for g in ("filing", "assessment", "labeling", "data_manifest")
    ]
    return decision(5, gates, model="internal-summarizer", in_scope=False)


def warned() -> Decision:
    """The same failures as ``blocked``, evaluated for an unprotected alias."""
    return decision(6, failing_gates(), target="staging", enforcement="warn")


CASES: dict[str, list[Decision]] = {
    "blocked": [blocked()],
    "allowed": [allowed()],
    "out_of_scope": [out_of_scope()],
    "warned": [warned()],
    "audit": [blocked(), allowed(), out_of_scope(), warned()],
}


def test_the_cases_are_what_their_names_say() -> None:
    assert not blocked().allowed and blocked().enforcement == "deny"
    assert allowed().allowed and allowed().in_scope is True and allowed().waivers_applied
    assert out_of_scope().allowed and out_of_scope().in_scope is False
    assert warned().allowed and warned().enforcement == "warn" and warned().blocking_gates


# --------------------------------------------------------------------------- goldens


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("fmt", sorted(EXTENSIONS))
def test_golden(fmt: str, case: str) -> None:
    text = render(fmt, CASES[case], **RENDER_OPTIONS.get(fmt, {}))
    path = GOLDEN / fmt / f"{case}.{EXTENSIONS[fmt]}"
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with MLGATE_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_every_registered_format_but_json_has_goldens() -> None:
    assert set(FORMATS) - {"json"} == set(EXTENSIONS)


# --------------------------------------------------------------------------- table


def test_table_header_rows_and_fix_for_a_blocked_decision() -> None:
    text = table.render([blocked()])
    lines = text.splitlines()
    assert lines[0] == "image-generator v3 -> production: BLOCKED (enforcement deny)"
    assert lines[1] == "in scope: yes"
    assert "  FAIL  filing         Algorithm filing completed" in lines
    assert "  filing.not_completed  The record-filing is 'pending'" in lines
    assert f"  fix: {FIX_FILING}" in lines
    assert "  labeling.explicit_disabled  Explicit labels are off  [waived by WV-2]" in lines
    assert "input_sha256 fa68eaeaeb56" in lines[-1] and "fa68eaeaeb56b" not in text


def test_table_warn_mode_says_it_would_block_under_deny() -> None:
    text = table.render([warned()])
    assert text.startswith("image-generator v6 -> staging: ALLOWED (enforcement warn)\n")
    assert "warning: 3 gates failing; would be blocked under deny" in text


def test_table_audit_ends_with_a_count_line() -> None:
    text = table.render(CASES["audit"])
    assert text.splitlines()[-1] == (
        "4 decisions: 1 blocked, 3 allowed (1 would be blocked under deny)"
    )


def test_table_color_is_opt_in_and_only_adds_escape_codes() -> None:
    plain = table.render(CASES["audit"])
    colored = table.render(CASES["audit"], color=True)
    assert "\033[" not in plain and "\033[1;31mBLOCKED\033[0m" in colored
    assert ANSI.sub("", colored) == plain


class _Stream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("tty", "no_color", "expected"),
    [(True, None, True), (True, "", True), (True, "1", False), (False, None, False)],
)
def test_wants_color_only_on_a_tty_without_no_color(
    monkeypatch: pytest.MonkeyPatch, tty: bool, no_color: str | None, expected: bool
) -> None:
    if no_color is None:
        monkeypatch.delenv("NO_COLOR", raising=False)
    else:
        monkeypatch.setenv("NO_COLOR", no_color)
    assert table.wants_color(_Stream(tty)) is expected  # type: ignore[arg-type]


# --------------------------------------------------------------------------- junit


def test_junit_parses_with_one_suite_per_decision_and_one_case_per_gate() -> None:
    root = ET.fromstring(render("junit", CASES["audit"]))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "image-generator v3 -> production",
        "public-chatbot v4 -> production",
        "internal-summarizer v5 -> production",
        "image-generator v6 -> staging",
    ]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("20", "6", "0")
    # junit-10.xsd allows no `skipped` on <testsuites>; each suite counts its own.
    assert root.get("skipped") is None
    assert [s.get("skipped") for s in suites] == ["0", "0", "4", "0"]
    for suite in suites:
        cases = suite.findall("testcase")
        assert [c.get("classname") for c in cases] == [
            "mlgate.scope",
            "mlgate.filing",
            "mlgate.assessment",
            "mlgate.labeling",
            "mlgate.data_manifest",
        ]
        assert suite.get("failures") == str(len(suite.findall("testcase/failure")))


def test_junit_failure_names_codes_messages_and_fix_and_waivers_pass() -> None:
    blocked_suite, allowed_suite, out_suite, _ = ET.fromstring(render("junit", CASES["audit"]))
    labeling = blocked_suite.find("testcase[@classname='mlgate.labeling']")
    assert labeling is not None and labeling.get("name") == TITLES["labeling"]
    failure = labeling.find("failure")
    assert failure is not None
    assert failure.get("message") == "labeling.implicit_disabled: Implicit labels are off for image"
    assert FIX_LABELING in (failure.text or "")
    assert "labeling.explicit_disabled (medium): Explicit labels are off [waived by WV-2]" in (
        failure.text or ""
    )
    waived = allowed_suite.find("testcase[@classname='mlgate.assessment']")
    assert waived is not None and waived.find("failure") is None
    assert "waived by WV-1" in (waived.findtext("system-out") or "")
    skipped = out_suite.find("testcase[@classname='mlgate.filing']/skipped")
    assert skipped is not None and skipped.get("message") == "not applicable: out of scope"


def test_junit_survives_characters_xml_cannot_carry() -> None:
    d = blocked()
    d.gates[1].violations[0].message = 'bad \x01 byte & <tag> "quoted"'
    root = ET.fromstring(render("junit", [d]))
    failure = root.find(".//testcase[@classname='mlgate.filing']/failure")
    assert failure is not None
    assert failure.get("message") == 'filing.not_completed: bad \ufffd byte & <tag> "quoted"'


# --------------------------------------------------------------------------- sarif


def sarif_document(decisions: list[Decision], **options: Any) -> dict[str, Any]:
    """The SARIF for ``decisions``, checked against the official schema and GitHub's rules."""
    document = json.loads(render("sarif", decisions, **{**SARIF_OPTIONS, **options}))
    assert sarif_schema_errors(document) == []
    assert github_problems(document) == []
    return document


def sarif_run(decisions: list[Decision], **options: Any) -> dict[str, Any]:
    (run,) = sarif_document(decisions, **options)["runs"]
    return run


def test_sarif_has_one_run_per_model_and_target_with_its_automation_id() -> None:
    runs = sarif_document(CASES["audit"])["runs"]
    assert [r["automationDetails"]["id"] for r in runs] == [
        "mlgate/image-generator/production/",
        "mlgate/public-chatbot/production/",
        "mlgate/internal-summarizer/production/",
        "mlgate/image-generator/staging/",
    ]
    for run, decision in zip(runs, CASES["audit"], strict=True):
        assert run["tool"]["driver"]["version"] == mlgate.__version__
        live = [v.code for g in decision.gates for v in g.violations if not v.waived_by]
        assert [r["ruleId"] for r in run["results"]] == live
        assert [r["id"] for r in run["tool"]["driver"]["rules"]] == list(dict.fromkeys(live))
        assert [d["decision_id"] for d in run["properties"]["decisions"]] == [
            decision.decision_id
        ]


def test_sarif_result_is_located_at_its_rule_else_at_the_anchor() -> None:
    run = sarif_run([blocked()])
    located = {
        r["ruleId"]: r["locations"][0]["physicalLocation"] for r in run["results"]
    }
    assert located["filing.not_completed"] == {
        "artifactLocation": {"uri": "policies/gates/filing/filing.rego"},
        "region": {"startLine": 55},
    }
    assert located["labeling.implicit_disabled"] == {
        "artifactLocation": {"uri": ".github/workflows/release.yml"},
        "region": {"startLine": 12},
    }
    for result in run["results"]:
        assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == (
            "models:/image-generator/3"
        )
        assert result["message"]["text"].startswith("models:/image-generator/3 -> production: ")
        assert result["properties"]["decision_id"] == blocked().decision_id


def test_sarif_levels_follow_severity_and_rules_carry_description_fix_and_references() -> None:
    run = sarif_run([blocked()])
    levels = {r["ruleId"]: r.get("level") for r in run["results"]}
    assert levels == {
        "filing.not_completed": "error",
        "labeling.implicit_disabled": "error",
        "data_manifest.no_quality_measures": "note",
    }
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    filing = rules["filing.not_completed"]
    assert filing["fullDescription"]["text"] == FILING_DESCRIPTION
    assert filing["help"]["text"].startswith(FILING_SOLUTION)
    assert "Interim Measures for Generative AI Services, Art. 17" in filing["help"]["text"]
    # Without METADATA for a code, the description and fix come from the decision.
    labeling = rules["labeling.implicit_disabled"]
    assert labeling["fullDescription"]["text"]
    assert labeling["help"]["text"].startswith(FIX_LABELING)


def test_sarif_waived_violations_are_left_out_unless_asked_for() -> None:
    run = sarif_run([allowed()])
    assert run["results"] == [] and run["tool"]["driver"]["rules"] == []
    (result,) = sarif_run([allowed()], include_waived=True)["results"]
    assert result["kind"] == "pass" and result["level"] == "none"
    assert result["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "waiver WV-1"}
    ]
    # A waived gate has no remediation, but the rule still has help text.
    assert sarif_run([allowed()], include_waived=True)["tool"]["driver"]["rules"][0]["help"]


def test_sarif_fingerprints_follow_model_target_and_code_not_the_run() -> None:
    def prints(d: Decision) -> dict[str, str]:
        run = sarif_run([d])
        return {r["ruleId"]: r["partialFingerprints"]["mlgateFinding/v1"] for r in run["results"]}

    base = prints(blocked())
    later = blocked().model_copy(update={"version": "9", "decision_id": "another-id"})
    assert prints(later) == base, "the same finding on a later version is the same alert"
    other_model = blocked().model_copy(update={"model": "image-generator-2"})
    other_target = blocked().model_copy(update={"target": "public"})
    for other in (other_model, other_target):
        assert set(prints(other).values()).isdisjoint(base.values())
    assert len(set(base.values())) == len(base)


def test_sarif_a_repeated_code_gets_its_own_fingerprint() -> None:
    d = blocked()
    d.gates[1].violations.append(violation("filing.not_completed", "Second finding", "critical"))
    results = sarif_run([d])["results"]
    prints = [r["partialFingerprints"] for r in results if r["ruleId"] == "filing.not_completed"]
    assert len(prints) == 2 and prints[0] != prints[1]


def test_sarif_with_no_violations_is_a_run_without_results() -> None:
    run = sarif_run([out_of_scope()])
    assert run["tool"]["driver"]["rules"] == [] and run["results"] == []
    assert run["automationDetails"]["id"] == "mlgate/internal-summarizer/production/"
    assert run["properties"]["decisions"][0]["in_scope"] is False


def test_sarif_automation_id_keeps_one_category_per_model_and_target() -> None:
    d = blocked().model_copy(update={"model": "team/vision model"})
    run = sarif_run([d])
    assert run["automationDetails"]["id"] == "mlgate/team%2Fvision%20model/production/"


def test_sarif_without_a_file_to_point_at_is_an_input_error() -> None:
    with pytest.raises(InputError, match="give --sarif-anchor PATH"):
        render("sarif", [blocked()])
    # Nothing to locate, nothing missing.
    assert json.loads(render("sarif", [out_of_scope()]))["runs"][0]["results"] == []


# --------------------------------------------------------------------------- markdown

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def test_markdown_heading_table_and_fix() -> None:
    text = markdown.render([blocked()])
    assert text.startswith("### mlgate: image-generator v3 -\\> production: BLOCKED\n")
    assert "| Gate | Status | Codes |" in text
    assert "| Algorithm filing completed (`filing`) | **FAIL** | `filing.not_completed` |" in text
    assert f"**Fix:** {FIX_FILING}" in text.replace("\\_", "_")


def test_markdown_escapes_pipes_and_newlines_in_user_values() -> None:
    d = blocked()
    d.model = "evil|model\nname"
    d.gates[1].title = "Filing | done"
    d.gates[1].violations[0].message = "status 'a|b'\n| injected | row |"
    text = markdown.render([d])
    rows = [line for line in text.splitlines() if line.startswith("|")]
    assert len(rows) == 2 + len(d.gates)
    assert all(len(UNESCAPED_PIPE.findall(row)) == 4 for row in rows)
    assert "evil\\|model name" in text.splitlines()[0]
    assert "status 'a\\|b' \\| injected \\| row \\|" in text


def test_markdown_audit_starts_with_the_count() -> None:
    assert markdown.render(CASES["audit"]).startswith(
        "## mlgate: 4 decisions: 1 blocked, 3 allowed (1 would be blocked under deny)\n"
    )


# --------------------------------------------------------------------------- github


def test_github_escapes_data_and_properties() -> None:
    d = blocked()
    d.gates[1].title = "Filing: done, 100%"
    d.gates[1].violations[0].message = "50% done: a, b\nline 2\r"
    d.gates[1].remediation = "Fix it"
    line = github.render([d]).splitlines()[0]
    assert line == (
        "::error title=Filing%3A done%2C 100%25 (filing.not_completed)::"
        "50%25 done: a, b%0Aline 2%0D — fix: Fix it"
    )


def test_github_a_message_cannot_inject_a_command() -> None:
    d = blocked()
    d.model = "m\n::warning::forged"
    d.gates[1].violations[0].message = "x\n::set-output name=a::b"
    lines = github.render([d]).splitlines()
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == 4 and len(lines) == 5  # one per violation, then the summary
    assert all("forged" not in c and "set-output name" not in c.split("::")[1] for c in commands)


def test_github_command_per_violation_by_enforcement_and_waiver() -> None:
    text = github.render(CASES["audit"])
    kinds = [line.split(" ", 1)[0] for line in text.splitlines() if line.startswith("::")]
    assert kinds == [
        *("::error", "::notice", "::error", "::error"),  # blocked, one violation waived
        "::notice",  # allowed: its only violation is waived
        *("::warning", "::notice", "::warning", "::warning"),  # warned
    ]
    assert (
        "::notice title=Security assessment passed (assessment.stale)::public-chatbot v4 -> "
        "production: The assessment is 400 days old — waived by WV-1" in text
    )
    assert text.splitlines()[-1] == (
        "mlgate: 4 decisions: 1 blocked, 3 allowed (1 would be blocked under deny)"
    )


def test_the_verdict_says_why_it_is_allowed() -> None:
    passing = blocked().model_copy(update={"allowed": True, "gates": [
        g.model_copy(update={"status": "pass", "violations": []}) for g in blocked().gates
    ]})
    assert table.render([passing], color=False).startswith(
        "image-generator v3 -> production: ALLOWED: every gate passed\n"
    )
    assert github.render([passing]).endswith("production: ALLOWED: every gate passed\n")
    assert markdown.render([passing]).startswith(
        "### mlgate: image-generator v3 -\\> production: ALLOWED: every gate passed\n"
    )


def test_github_single_decision_ends_with_one_summary_line() -> None:
    lines = github.render([blocked()]).splitlines()
    assert lines[-1] == (
        "mlgate: image-generator v3 -> production: BLOCKED (enforcement deny); "
        "failing: filing, labeling, data_manifest"
    )
    # Not "ALLOWED (enforcement deny)", which reads as a contradiction.
    assert github.render([out_of_scope()]) == (
        "mlgate: internal-summarizer v5 -> production: ALLOWED: every gate passed or does "
        "not apply\n"
    )


def test_write_step_summary_appends_markdown(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    github.write_step_summary([blocked()])
    assert summary.read_text(encoding="utf-8") == "earlier step\n" + markdown.render([blocked()])


def test_write_step_summary_does_nothing_when_unset(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.chdir(tmp_path)
    github.write_step_summary([blocked()])
    assert list(tmp_path.iterdir()) == []


def test_write_step_summary_unwritable_is_an_input_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(tmp_path))  # a directory
    with pytest.raises(InputError, match="GITHUB_STEP_SUMMARY="):
        github.write_step_summary([blocked()])


# --------------------------------------------------------------------------- CLI


def assert_blocked_report(fmt: str, text: str) -> None:
    """What each format must say about examples/gate_input_blocked.json."""
    if fmt == "table":
        assert text.startswith("image-generator v3 -> production: BLOCKED (enforcement deny)\n")
        assert "  filing.not_completed  " in text
    elif fmt == "json":
        assert json.loads(text)["allowed"] is False
    elif fmt == "junit":
        assert ET.fromstring(text).get("failures") == "2"
        assert junit_errors(text) == []
    elif fmt == "sarif":
        document = json.loads(text)
        assert sarif_schema_errors(document) == [] and github_problems(document) == []
        assert {r["ruleId"] for r in document["runs"][0]["results"]} == {
            "filing.not_completed",
            "labeling.implicit_disabled",
        }
    elif fmt == "markdown":
        assert text.startswith("### mlgate: image-generator v3 -\\> production: BLOCKED\n")
    elif fmt == "github":
        assert text.startswith("::error title=Algorithm filing completed (filing.not_completed)::")
    else:
        raise AssertionError(f"no check for format {fmt}")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cli_format_on_the_blocked_example(
    fmt: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    summary = tmp_path / "step_summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    run = run_mlgate("check", "--input", BLOCKED_INPUT, "--format", fmt)
    assert run.exit_code == 1, run.stderr
    assert_blocked_report(fmt, run.stdout)
    # Only the github format writes the step summary.
    assert summary.exists() is (fmt == "github")
    if fmt == "github":
        assert summary.read_text().startswith("### mlgate: image-generator v3 -\\> production")


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_cli_output_file_gets_the_report_and_stdout_stays_empty(
    fmt: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    out = tmp_path / f"report.{fmt}"
    run = run_mlgate("check", "--input", BLOCKED_INPUT, "-f", fmt, "--output", str(out))
    assert run.exit_code == 1, run.stderr
    assert run.stdout == ""
    assert_blocked_report(fmt, out.read_text(encoding="utf-8"))


def test_an_error_gate_is_reported_as_failing_everywhere() -> None:
    gates = failing_gates()
    gates[1] = gate("filing", "error")
    d = decision(7, gates)
    assert "  ERROR  filing" in table.render([d])
    text = render("junit", [d])
    assert junit_errors(text) == []
    root = ET.fromstring(text)
    error = root.find(".//testcase[@classname='mlgate.filing']/")
    assert error is not None and error.tag == "error" and error.get("type") == "error"
    assert error.get("message") == "gate filing: error"
    # Counted as an error, not a failure, in the suite and in the total.
    for element in (root, root.find("testsuite")):
        assert element is not None
        assert (element.get("failures"), element.get("errors")) == ("2", "1")
    assert "| Algorithm filing completed (`filing`) | **ERROR** |  |" in markdown.render([d])
    assert "failing: filing, labeling, data_manifest" in github.render([d])


@pytest.mark.parametrize("fmt", ["table", "markdown", "github"])
def test_waiver_warnings_are_shown(fmt: str) -> None:
    from mlgate.output import render

    warned_decision = allowed().model_copy(
        update={"warnings": ["waiver W-9 expired on 2026-11-01 and no longer applies"]}
    )
    text = render(fmt, [warned_decision])
    assert "waiver W-9 expired on 2026-11-01" in text
    assert "waiver W-9" not in render(fmt, [allowed()])
