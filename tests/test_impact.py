"""``mlgate policy impact``: a throwaway git repository with two commits of the policies
(and edits in its working tree), a real sqlite registry with versions that flip both
ways, versions that do not, and versions that time will block."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import (
    POLICIES,
    Run,
    decide,
    edit_config,
    git,
    mlgate,
    one_error_line,
    policy_repo,
    write_waivers,
)
from mlgate.impact import Flip, ImpactResult, data_diff
from mlgate.output.impact import render_impact_markdown
from mlgate.policy import PolicySet, load_policy_dir

TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _today_at_test_start() -> None:
    """Dates are relative to the day each test starts, not the day the suite was
    collected: a CI run crossing midnight UTC compared yesterday's dates with today's
    clock (test_versions_expiring_within_n_days, 2026-12-01 00:2x)."""
    global TODAY
    TODAY = datetime.now(UTC).date()


def days_ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


class Repo:
    """The policy repository: ``base`` allows 365-day-old assessments and needs both
    labels on text; ``head`` allows 20 days and needs only the explicit label."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = policy_repo(tmp_path)
        self.policies = self.path / "policies"
        self.base = self.rev("HEAD")
        edit_config(
            self.policies,
            assessment={"max_age_days": 20},
            labeling={"required": {"text": ["explicit"]}},
        )
        git(self.path, "commit", "-q", "-am", "shorter assessments, explicit text labels")
        self.head = self.rev("HEAD")

    def rev(self, ref: str) -> str:
        return git(self.path, "rev-parse", ref).strip()


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


@pytest.fixture
def versions(registry: RegistryHelper) -> RegistryHelper:
    """chat v1 flips allowed -> blocked (its assessment is 30 days old), textgen v1 flips
    blocked -> allowed (no implicit label), steady v1 is allowed and broken v1 blocked
    under both."""

    def create(name: str, **tags: str) -> None:
        registry.create_version(name, compliant_tags(**tags), manifest=example_manifest())

    create("chat", **{"assessment.date": days_ago(30)})
    create("textgen", **{"assessment.date": days_ago(5), "labeling.implicit": "false"})
    create("steady", **{"assessment.date": days_ago(5)})
    create("broken", **{"assessment.date": days_ago(5), "filing.status": "pending"})
    return registry


def impact(registry: RegistryHelper, repo: Repo, *args: str) -> Run:
    return mlgate(
        "policy",
        "impact",
        "--base",
        repo.base,
        "--policies",
        str(repo.policies),
        *registry.args,
        *args,
    )


def flips(run: Run) -> dict[str, dict[str, Any]]:
    return {f["model"]: f for f in run.json()["flips"]}


def codes(changes: list[dict[str, str]]) -> list[str]:
    return [c["code"] for c in changes]


def test_flips_both_ways_with_the_violations_that_differ(
    versions: RegistryHelper, repo: Repo
) -> None:
    run = impact(versions, repo, "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["base"] == {"ref": repo.base, "revision": repo.base, "working_tree": False}
    # The working tree by default: clean here, so its revision is the last commit.
    assert document["head"] == {"ref": None, "revision": repo.head, "working_tree": True}
    assert document["warnings"] == []
    assert (document["evaluated"], document["allowed_both"], document["blocked_both"]) == (4, 1, 1)
    assert (document["allowed_to_blocked"], document["blocked_to_allowed"]) == (1, 1)
    found = flips(run)
    assert set(found) == {"chat", "textgen"}
    chat, textgen = found["chat"], found["textgen"]
    assert (chat["direction"], chat["target"]) == ("allowed -> blocked", "production")
    assert codes(chat["added"]) == ["assessment.expired"] and chat["removed"] == []
    assert "at most 20 days" in chat["added"][0]["message"]
    assert textgen["direction"] == "blocked -> allowed"
    assert textgen["added"] == [] and codes(textgen["removed"]) == ["labeling.implicit_disabled"]
    assert (chat["base"]["allowed"], chat["head"]["allowed"]) == (True, False)
    assert chat["head"]["policy_revision"] == repo.head


def test_table(versions: RegistryHelper, repo: Repo) -> None:
    run = impact(versions, repo)
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert lines[0] == (
        f"policy impact: comparing the working tree of {repo.policies}/ (no uncommitted "
        f"changes) with {repo.base} ({repo.base[:12]}) on {versions.tracking_uri}"
    )
    assert lines[1] == (
        "4 decision(s) evaluated: 2 flip(s) (1 allowed -> blocked, 1 blocked -> allowed), "
        "1 allowed and 1 blocked under both"
    )
    assert "FLIP chat v1 -> production: allowed -> blocked" in lines
    assert "FLIP textgen v1 -> production: blocked -> allowed" in lines
    assert any(ln.startswith("  + assessment.expired  ") for ln in lines)
    assert any(ln.startswith("  - labeling.implicit_disabled  ") for ln in lines)


def test_markdown(versions: RegistryHelper, repo: Repo) -> None:
    run = impact(versions, repo, "--format", "markdown")
    assert run.exit_code == 0
    assert run.stdout.startswith("## mlgate policy impact: 2 flips\n")
    assert "| chat v1 -\\> production | **allowed -> blocked** | `assessment.expired` " in (
        run.stdout
    )


def test_markdown_escapes_what_comes_from_the_registry() -> None:
    before, _ = decide("allowed", model="a|b <img src=x>")
    after, _ = decide("blocked", model="a|b <img src=x>")
    result = ImpactResult(
        evaluated=1, flips=[Flip("a|b <img src=x>", "3", "production", before, after)]
    )
    text = render_impact_markdown(result, "policy impact: *x*")
    row = next(ln for ln in text.splitlines() if ln.startswith("| a"))
    assert row.startswith("| a\\|b \\<img src=x\\> v3 -\\> production | **allowed -> blocked** |")
    assert row.count(" | ") == 3  # four cells, whatever the model name holds
    assert "policy impact: \\*x\\*" in text


def test_fail_on_flip(versions: RegistryHelper, repo: Repo) -> None:
    assert impact(versions, repo, "--fail-on-flip").exit_code == 1
    # Nothing flips between a revision and itself.
    run = mlgate(
        "policy",
        "impact",
        "--base",
        repo.head,
        "--policies",
        str(repo.policies),
        *versions.args,
        "--fail-on-flip",
    )
    assert run.exit_code == 0, run.stdout + run.stderr
    assert "0 flip(s)" in run.stdout


def test_model_and_protected_selections(versions: RegistryHelper, repo: Repo) -> None:
    run = impact(versions, repo, "--model", "chat", "--format", "json")
    assert (run.json()["evaluated"], set(flips(run))) == (1, {"chat"})

    versions.client.set_registered_model_alias("textgen", "Champion", "1")
    versions.client.set_registered_model_alias("steady", "staging", "1")  # not protected
    run = impact(versions, repo, "--protected", "--format", "json")
    assert run.json()["evaluated"] == 1
    assert [(f["model"], f["target"]) for f in run.json()["flips"]] == [("textgen", "Champion")]


def test_each_side_uses_its_own_waivers(registry: RegistryHelper, repo: Repo) -> None:
    registry.create_version(
        "chat",
        compliant_tags(**{"assessment.date": days_ago(5), "filing.status": "pending"}),
        manifest=example_manifest(),
    )
    write_waivers(
        repo.policies,
        {
            "id": "W-1",
            "model": "chat",
            "versions": "*",
            "codes": ["filing.*"],
            "justification": "acknowledgement pending",
            "approver": "compliance@example.com",
            "ticket": "COMP-1",
            "expires": (TODAY + timedelta(days=30)).isoformat(),
        },
    )
    git(repo.path, "add", "policies")
    git(repo.path, "commit", "-q", "-m", "waiver W-1")
    run = mlgate(
        "policy",
        "impact",
        "--base",
        repo.head,
        "--policies",
        str(repo.policies),
        *registry.args,
        "--format",
        "json",
    )
    [flip] = run.json()["flips"]
    assert flip["direction"] == "blocked -> allowed"
    assert codes(flip["removed"]) == ["filing.not_completed"]
    assert flip["head"]["waivers_applied"] == ["W-1"]


def _git_state(repo: Repo) -> list[str]:
    return [
        git(repo.path, *a)
        for a in (["status", "--porcelain"], ["diff"], ["diff", "--cached"], ["stash", "list"])
    ]


def test_a_named_head_leaves_the_working_tree_untouched_and_warns(
    versions: RegistryHelper, repo: Repo
) -> None:
    data = repo.policies / "data.json"
    edited = data.read_text().replace('"max_age_days": 20', '"max_age_days": 400')
    data.write_text(edited)  # an uncommitted local edit
    (repo.policies / "draft.rego").write_text("package draft\n")  # an untracked file
    git(repo.path, "add", "policies/draft.rego")  # staged, so the index matters too
    state = _git_state(repo)
    head = repo.rev("HEAD")

    run = impact(versions, repo, "--head", "HEAD", "--format", "json")
    assert run.exit_code == 0
    # HEAD's policies, not the edited ones: the 20-day limit flips chat.
    assert set(flips(run)) == {"chat", "textgen"}
    warning = (
        f"warning: the working tree of {repo.policies}/ differs from HEAD: its uncommitted "
        "changes are not compared (omit --head to compare them)"
    )
    assert run.json()["warnings"] == [warning]
    assert f"mlgate: {warning}" in run.stderr
    assert run.json()["head"] == {"ref": "HEAD", "revision": repo.head, "working_tree": False}
    assert _git_state(repo) == state
    assert data.read_text() == edited and repo.rev("HEAD") == head


def test_base_head_against_itself_with_uncommitted_edits_warns(
    versions: RegistryHelper, repo: Repo
) -> None:
    edit_config(repo.policies, assessment={"max_age_days": 10})
    run = mlgate(
        "policy", "impact", "--base", "HEAD", "--head", "HEAD", "--policies",
        str(repo.policies), *versions.args,
    )
    assert run.exit_code == 0
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"policy impact: comparing {repo.policies}/ at HEAD (")
    assert lines[1].startswith(f"warning: the working tree of {repo.policies}/ differs from HEAD")
    assert "0 flip(s)" in lines[2]
    # Committed, the working tree is HEAD again: no warning.
    git(repo.path, "commit", "-q", "-am", "10 days")
    again = mlgate(
        "policy", "impact", "--base", "HEAD", "--head", "HEAD", "--policies",
        str(repo.policies), *versions.args,
    )
    assert "warning" not in again.stdout + again.stderr


def test_the_working_tree_is_compared_by_default(versions: RegistryHelper, repo: Repo) -> None:
    state = _git_state(repo)
    edit_config(repo.policies, assessment={"max_age_days": 400})  # uncommitted
    run = mlgate(
        "policy", "impact", "--policies", str(repo.policies), *versions.args, "--format", "json"
    )
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["base"]["ref"] == "HEAD"
    assert document["head"] == {
        "ref": None, "revision": repo.head + "+dirty", "working_tree": True
    }
    assert document["comparing"] == (
        f"comparing the working tree of {repo.policies}/ (uncommitted changes) with HEAD "
        f"({repo.head[:12]})"
    )
    # Under HEAD's 20 days chat (30 days old) is blocked; the edit's 400 days allow it.
    assert [(f["model"], f["direction"]) for f in document["flips"]] == [
        ("chat", "blocked -> allowed")
    ]
    assert document["data_changes"] == [
        {
            "key": "mlgate.config.assessment.max_age_days",
            "change": "changed",
            "base": 20,
            "head": 400,
        }
    ]
    assert _git_state(repo) != state  # the edit is there, and only it
    table = mlgate("policy", "impact", "--policies", str(repo.policies), *versions.args)
    assert table.stdout.splitlines()[0].startswith(
        f"policy impact: comparing the working tree of {repo.policies}/ (uncommitted changes) "
        "with HEAD ("
    )


def test_policy_data_diff(versions: RegistryHelper, repo: Repo) -> None:
    run = impact(versions, repo, "--format", "json")
    both = ["explicit", "implicit"]
    # The base is the shipped policy data: compliance tunes it without this test noticing.
    shipped = json.loads((POLICIES / "data.json").read_text())
    max_age = shipped["mlgate"]["config"]["assessment"]["max_age_days"]
    # The head's labeling.required holds text alone: the other modalities are removed.
    assert run.json()["data_changes"] == [
        {"key": "mlgate.config.assessment.max_age_days", "change": "changed",
         "base": max_age, "head": 20},
        *(
            {"key": f"mlgate.config.labeling.required.{m}", "change": "removed",
             "base": both, "head": None}
            for m in ("audio", "code", "image")
        ),
        {"key": "mlgate.config.labeling.required.text", "change": "changed",
         "base": both, "head": ["explicit"]},
        {"key": "mlgate.config.labeling.required.video", "change": "removed",
         "base": both, "head": None},
    ]
    table = impact(versions, repo).stdout.splitlines()
    assert "policy data: 6 change(s)" in table
    assert '  mlgate.config.labeling.required.audio: ["explicit", "implicit"] -> absent' in table
    assert f"  mlgate.config.assessment.max_age_days: {max_age} -> 20" in table
    assert '  mlgate.config.labeling.required.text: ["explicit", "implicit"] -> ["explicit"]' in (
        table
    )
    markdown = impact(versions, repo, "--format", "markdown").stdout
    assert f"| mlgate.config.assessment.max\\_age\\_days | {max_age} | 20 |" in markdown
    # Nothing changed, nothing listed.
    same = mlgate("policy", "impact", "--base", repo.head, "--policies", str(repo.policies),
                  *versions.args, "--format", "json")
    assert same.json()["data_changes"] == [] and same.json()["wording_changes"] == []


def _reword(policies: Path, old: str, new: str) -> None:
    path = policies / "gates" / "filing" / "filing.rego"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_wording_diff_changed_added_removed(versions: RegistryHelper, repo: Repo) -> None:
    _reword(
        repo.policies,
        "#   solution: Complete the algorithm record-filing with the CAC before launch, then "
        "set compliance.filing.status=completed.",
        "#   solution: File with the CAC first.",
    )
    _add_gate(repo.policies)  # a gate and its one code: added
    _remove_violation(repo.policies, "filing.id_missing")
    run = mlgate("policy", "impact", "--policies", str(repo.policies), *versions.args,
                 "--format", "json")
    assert run.exit_code == 0, run.stderr
    changes = {c["code"]: c for c in run.json()["wording_changes"]}
    assert set(changes) == {
        "filing.not_completed", "filing.id_missing", "gate:complaints",
        "complaints.channel_missing",
    }
    solution = changes["filing.not_completed"]
    assert solution["change"] == "changed" and list(solution["fields"]) == ["solution"]
    assert solution["fields"]["solution"]["head"] == "File with the CAC first."
    assert solution["fields"]["solution"]["base"].startswith("Complete the algorithm")
    removed = changes["filing.id_missing"]
    assert removed["change"] == "removed"
    assert removed["fields"]["title"] == {"base": "Filing number missing", "head": None}
    added = changes["complaints.channel_missing"]
    assert added["change"] == "added"
    assert added["fields"]["failure_msg"] == {
        "base": None, "head": "No complaints channel is on record"
    }
    table = mlgate("policy", "impact", "--policies", str(repo.policies), *versions.args)
    lines = table.stdout.splitlines()
    assert "wording: 4 change(s)" in lines
    assert "  filing.not_completed (changed)" in lines
    assert any(ln.startswith('    solution: "Complete the algorithm') and
               ln.endswith('-> "File with the CAC first."') for ln in lines)
    assert "  complaints.channel_missing (added)" in lines
    assert "  filing.id_missing (removed)" in lines


def _remove_violation(policies: Path, code: str) -> None:
    """Delete the METADATA block and rule of ``code`` from the filing gate."""
    path = policies / "gates" / "filing" / "filing.rego"
    blocks = path.read_text().split("\n\n")
    kept = [b for b in blocks if f'"code": "{code}"' not in b]
    assert len(kept) == len(blocks) - 1
    path.write_text("\n\n".join(kept))


COMPLAINTS_GATE = """# METADATA
# title: Complaints channel
# description: A channel for users' complaints is on record (Art. 15).
# custom:
#   short_name: complaints
#   failure_msg: No complaints channel is on record
#   solution: Set compliance.complaints.channel.
#   severity: high
package mlgate.gates.complaints

import data.mlgate.lib

default applies := false

applies if lib.gates_apply

# METADATA
# title: Complaints channel missing
# description: The compliance.complaints.channel tag is absent.
# custom:
#   short_name: channel_missing
#   failure_msg: No complaints channel is on record
#   solution: Set compliance.complaints.channel to where users complain.
#   severity: high
violations contains {"code": "complaints.channel_missing", "params": {}} if {
\tnot input.tags["compliance.complaints.channel"]
}

result := lib.gate_result(applies, violations)
"""


def _add_gate(policies: Path) -> None:
    """The trial's Art. 15 complaints gate, wired into main."""
    gate_dir = policies / "gates" / "complaints"
    gate_dir.mkdir()
    (gate_dir / "complaints.rego").write_text(COMPLAINTS_GATE)
    main = policies / "main" / "main.rego"
    wired = main.read_text().replace('"attestation"]', '"attestation", "complaints"]', 1)
    main.write_text(wired)


def _remove_gate(policies: Path, gate_id: str) -> None:
    """A gate's Rego removed and unwired from main.rego's required_gates. Its tag
    declarations, data schema and data stay: lib/wellformed.rego still reads the shipped
    gates' facts and settings (not yet generic), so they go only with that."""
    for path in (policies / "gates" / gate_id).glob("*.rego"):
        path.unlink()
    main = policies / "main" / "main.rego"
    main.write_text(main.read_text().replace(f', "{gate_id}"', "", 1))


@pytest.fixture
def complaints(registry: RegistryHelper) -> RegistryHelper:
    """open v1 lacks a complaints channel, heard v1 has one; both pass the five gates."""
    registry.create_version("open", compliant_tags(**{"assessment.date": days_ago(5)}),
                            manifest=example_manifest())
    registry.create_version(
        "heard",
        compliant_tags(**{"assessment.date": days_ago(5), "complaints.channel": "mailto:c@x"}),
        manifest=example_manifest(),
    )
    return registry


def test_impact_across_a_gate_addition(complaints: RegistryHelper, repo: Repo) -> None:
    _add_gate(repo.policies)  # the working tree adds the gate
    run = mlgate("policy", "impact", "--policies", str(repo.policies), *complaints.args,
                 "--format", "json")
    assert run.exit_code == 0, run.stderr
    [flip] = run.json()["flips"]
    assert (flip["model"], flip["direction"]) == ("open", "allowed -> blocked")
    assert codes(flip["added"]) == ["complaints.channel_missing"]
    assert [g["id"] for g in flip["base"]["gates"]] == [
        "scope", "filing", "assessment", "labeling", "data_manifest", "evaluation", "service",
        "attestation",
    ]
    assert "complaints" in [g["id"] for g in flip["head"]["gates"]]
    assert run.json()["allowed_both"] == 1  # heard v1


def test_impact_across_a_gate_removal_of_an_added_gate(
    complaints: RegistryHelper, repo: Repo
) -> None:
    _add_gate(repo.policies)
    git(repo.path, "add", "policies")
    git(repo.path, "commit", "-q", "-m", "complaints gate")
    _remove_gate(repo.policies, "complaints")  # the working tree takes it out again
    run = mlgate("policy", "impact", "--policies", str(repo.policies), *complaints.args,
                 "--format", "json")
    assert run.exit_code == 0, run.stderr
    [flip] = run.json()["flips"]
    assert (flip["model"], flip["direction"]) == ("open", "blocked -> allowed")
    assert codes(flip["removed"]) == ["complaints.channel_missing"]


def test_impact_across_the_removal_of_a_shipped_gate(
    versions: RegistryHelper, repo: Repo
) -> None:
    _remove_gate(repo.policies, "labeling")
    # Against the base revision, which still needs the implicit label textgen lacks (HEAD,
    # the head revision, needs only the explicit one: textgen is allowed there already).
    run = mlgate("policy", "impact", "--policies", str(repo.policies), "--base", repo.base,
                 *versions.args, "--format", "json")
    assert run.exit_code == 0, run.stderr
    textgen = flips(run)["textgen"]
    assert textgen["direction"] == "blocked -> allowed"
    assert codes(textgen["removed"]) == ["labeling.implicit_disabled"]
    assert "labeling" not in [g["id"] for g in textgen["head"]["gates"]]


def test_a_side_that_cannot_decide_is_named(versions: RegistryHelper, repo: Repo) -> None:
    gate = repo.policies / "gates" / "filing" / "filing.rego"
    gate.write_text(gate.read_text().replace(
        "result := lib.gate_result(applies, violations)",
        'result := {"status": "maybe", "violations": []}',
    ))
    run = mlgate("policy", "impact", "--policies", str(repo.policies), *versions.args,
                 "--model", "chat")
    line = one_error_line(run)
    assert (
        f"the head policies (the working tree of {repo.policies}, revision {repo.head[:12]}"
    ) in line
    assert "cannot decide chat v1 -> production: engine returned a malformed decision: gate " \
        "filing has status 'maybe'" in line
    # The same policies as the base: the message names the base and its revision.
    git(repo.path, "commit", "-q", "-am", "broken filing gate")
    broken = repo.rev("HEAD")
    run = mlgate("policy", "impact", "--base", "HEAD", "--head", repo.base, "--policies",
                 str(repo.policies), *versions.args, "--model", "chat")
    assert f"the base policies ({repo.policies} at HEAD, revision {broken[:12]})" in (
        one_error_line(run)
    )


def test_a_side_that_does_not_load_is_named(versions: RegistryHelper, repo: Repo) -> None:
    (repo.policies / "data.json").write_text("{")
    run = mlgate("policy", "impact", "--policies", str(repo.policies), *versions.args)
    line = one_error_line(run)
    assert f"the head policies (the working tree of {repo.policies}): " in line
    assert "data.json:1: not valid JSON" in line


def test_violations_changed_on_versions_blocked_under_both(
    versions: RegistryHelper, repo: Repo
) -> None:
    versions.create_version(
        "worse",
        compliant_tags(**{"assessment.date": days_ago(30), "filing.status": "pending"}),
        manifest=example_manifest(),
    )
    run = impact(versions, repo, "--format", "json")
    document = run.json()
    assert document["blocked_both"] == 2  # broken v1 (same codes) and worse v1
    [changed] = document["violations_changed"]
    assert (changed["model"], changed["direction"]) == ("worse", "blocked -> blocked")
    assert codes(changed["added"]) == ["assessment.expired"] and changed["removed"] == []
    lines = impact(versions, repo).stdout.splitlines()
    assert lines[2].startswith("1 blocked under both with different violations; ")
    assert "VIOLATIONS CHANGED worse v1 -> production: blocked -> blocked" in lines
    markdown = impact(versions, repo, "--format", "markdown").stdout
    assert "| worse v1 -\\> production | **blocked -> blocked** | `assessment.expired` " in (
        markdown
    )


def test_versions_expiring_within_n_days(registry: RegistryHelper, repo: Repo) -> None:
    """Under head (20 days) an assessment 10 days old blocks from day 11 (the day after
    date + 20), one a day old from day 20; a waiver that ends in 10 days (a version whose
    filing is pending) blocks from the day after its last day."""
    assessed = days_ago(10)
    registry.create_version("aging", compliant_tags(**{"assessment.date": assessed}),
                            manifest=example_manifest())
    registry.create_version(
        "waived",
        compliant_tags(**{"assessment.date": days_ago(1), "filing.status": "pending"}),
        manifest=example_manifest(),
    )
    registry.create_version("fresh", compliant_tags(**{"assessment.date": days_ago(1)}),
                            manifest=example_manifest())
    expires = TODAY + timedelta(days=10)
    write_waivers(repo.policies, {
        "id": "W-9", "model": "waived", "versions": "*", "codes": ["filing.*"],
        "justification": "acknowledgement pending", "approver": "compliance@example.com",
        "ticket": "COMP-9", "expires": expires.isoformat(),
    })
    run = mlgate("policy", "impact", "--base", repo.head, "--policies", str(repo.policies),
                 *registry.args, "--format", "json")
    assert run.exit_code == 0, run.stderr
    document = run.json()
    assert document["expiring_within_days"] == 30
    found = {e["model"]: e for e in document["expiring"]}
    assert set(found) == {"aging", "waived", "fresh"}
    fresh_from = TODAY - timedelta(days=1) + timedelta(days=20 + 1)
    assert found["fresh"]["blocked_from"] == fresh_from.isoformat()
    aging_from = datetime.fromisoformat(assessed).date() + timedelta(days=20 + 1)
    assert found["aging"]["blocked_from"] == aging_from.isoformat()
    assert codes(found["aging"]["added"]) == ["assessment.expired"]
    assert found["aging"]["decision"]["allowed"] is False
    assert found["waived"]["blocked_from"] == (expires + timedelta(days=1)).isoformat()
    assert codes(found["waived"]["added"]) == ["filing.not_completed"]

    lines = mlgate("policy", "impact", "--base", repo.head, "--policies", str(repo.policies),
                   *registry.args).stdout.splitlines()
    assert (
        f"EXPIRING aging v1 -> production: blocked from {aging_from.isoformat()} "
        "(within 30 days)"
    ) in lines

    def expiring(days: str) -> set[str]:
        run = mlgate("policy", "impact", "--base", repo.head, "--policies",
                     str(repo.policies), *registry.args, "--format", "json",
                     "--expiring-within", days)
        assert run.exit_code == 0, run.stderr
        return {e["model"] for e in run.json()["expiring"]}

    assert expiring("10") == set()  # aging blocks on day 11, the waiver ends on day 11
    assert expiring("11") == expiring("19") == {"aging", "waived"}
    assert expiring("20") == {"aging", "waived", "fresh"}
    assert expiring("0") == set()


def test_default_policy_directory_is_policies_in_the_current_directory(
    versions: RegistryHelper, repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(repo.path)
    monkeypatch.delenv("MLGATE_POLICIES", raising=False)
    run = mlgate("policy", "impact", "--base", "HEAD~1", *versions.args, "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["policies"] == "policies"
    assert set(flips(run)) == {"chat", "textgen"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "no-such-branch"], "--base: unknown git revision 'no-such-branch'"),
        (["--base", "HEAD", "--head", "v9"], "--head: unknown git revision 'v9'"),
        (["--base", "HEAD", "--protected", "--target", "public"], "--target applies to --all"),
        (["--base", "HEAD", "--target", "latest"], "--target 'latest'"),
    ],
)
def test_bad_input_exit_2(
    registry: RegistryHelper, repo: Repo, args: list[str], message: str
) -> None:
    run = mlgate("policy", "impact", *args, "--policies", str(repo.policies), *registry.args)
    assert message in one_error_line(run)


def test_policies_outside_git_exit_2(registry: RegistryHelper, tmp_path: Path) -> None:
    policies = tmp_path / "loose"
    policies.mkdir()
    run = mlgate("policy", "impact", "--base", "HEAD", "--policies", str(policies), *registry.args)
    assert "not inside a git repository" in one_error_line(run)


def test_a_revision_without_the_directory_exit_2(registry: RegistryHelper, repo: Repo) -> None:
    (repo.path / "README").write_text("policies live in policies/\n")
    git(repo.path, "add", "README")
    git(repo.path, "commit", "-q", "-m", "readme")
    empty = git(
        repo.path, "commit-tree", "-m", "empty", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
    ).strip()  # the empty tree
    run = mlgate(
        "policy", "impact", "--base", empty, "--policies", str(repo.policies), *registry.args
    )
    assert f"policies/ does not exist at {empty}" in one_error_line(run)


def test_impact_writes_the_report_to_a_file(
    versions: RegistryHelper, repo: Repo, tmp_path: Path
) -> None:
    out = tmp_path / "impact.json"
    run = impact(versions, repo, "--format", "json", "--output", str(out))
    assert run.exit_code == 0 and run.stdout == ""
    assert len(json.loads(out.read_text())["flips"]) == 2


# --------------------------------------------------------------------------- property


_KEYS = st.text(alphabet="abc_", min_size=1, max_size=3)
_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=3),
    st.lists(st.integers(0, 2), max_size=2), st.just({}),
)
_DATA = st.recursive(_LEAVES, lambda inner: st.dictionaries(_KEYS, inner, max_size=3),
                     max_leaves=8)



_SETTINGS = load_policy_dir(None).config  # any settings: data_diff reads data only

def _policy_set(data: Any) -> PolicySet:
    return PolicySet(root="p", modules={}, tests={}, data={"root": data}, config=_SETTINGS)


def _leaves(value: Any, prefix: str) -> dict[str, Any]:
    """The oracle's reading of the contract: a non-empty object is walked, anything else
    (a list, an empty object, a scalar, null) is one value at its dotted key."""
    if isinstance(value, dict) and value:
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found.update(_leaves(inner, f"{prefix}.{key}"))
        return found
    return {prefix: value}


@settings(max_examples=400, deadline=None)
@given(_DATA, _DATA)
@example({"a": 1}, {"a": True})
@example({"a": {"b": 1}}, {"a": 5})
def test_data_diff_takes_the_base_to_the_head(base: Any, head: Any) -> None:
    """Applying the changes to the base's values gives exactly the head's; keys are
    sorted and listed once; nothing is listed when the data are equal."""
    changes = data_diff(_policy_set(base), _policy_set(head))
    keys = [c.key for c in changes]
    assert keys == sorted(set(keys))
    values = _leaves(base, "root")
    for change in changes:
        if change.change == "removed":
            assert values.pop(change.key) == change.base
        elif change.change == "added":
            assert change.key not in values
            values[change.key] = change.head
        else:
            assert change.change == "changed" and values[change.key] == change.base
            assert json.dumps(change.base) != json.dumps(change.head)
            values[change.key] = change.head
    assert json.dumps(values, sort_keys=True) == json.dumps(_leaves(head, "root"), sort_keys=True)
    assert (changes == []) == (json.dumps(base, sort_keys=True) == json.dumps(head, sort_keys=True))
