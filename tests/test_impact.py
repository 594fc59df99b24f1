"""``mlgate policy impact``: a throwaway git repository with two commits of the policies,
a real sqlite registry with versions that flip both ways and versions that do not."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import (
    Run,
    decide,
    edit_config,
    git,
    mlgate,
    one_error_line,
    policy_repo,
    write_waivers,
)
from mlgate.audit import Flip, ImpactResult
from mlgate.output.audit import render_impact_markdown

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
    assert document["base"] == {"ref": repo.base, "revision": repo.base}
    assert document["head"] == {"ref": "HEAD", "revision": repo.head}
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
        f"policy impact: {repo.policies} at {repo.base} ({repo.base[:12]}) -> HEAD "
        f"({repo.head[:12]}) on {versions.tracking_uri}"
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


def test_the_working_tree_is_untouched(versions: RegistryHelper, repo: Repo) -> None:
    data = repo.policies / "data.json"
    edited = data.read_text().replace('"max_age_days": 20', '"max_age_days": 400')
    data.write_text(edited)  # an uncommitted local edit
    (repo.policies / "draft.rego").write_text("package draft\n")  # an untracked file
    git(repo.path, "add", "policies/draft.rego")  # staged, so the index matters too
    state = [
        git(repo.path, *a)
        for a in (["status", "--porcelain"], ["diff"], ["diff", "--cached"], ["stash", "list"])
    ]
    head = repo.rev("HEAD")

    run = impact(versions, repo, "--format", "json")
    assert run.exit_code == 0
    # HEAD's policies, not the edited ones: the 20-day limit flips chat.
    assert set(flips(run)) == {"chat", "textgen"}
    assert [
        git(repo.path, *a)
        for a in (["status", "--porcelain"], ["diff"], ["diff", "--cached"], ["stash", "list"])
    ] == state
    assert data.read_text() == edited and repo.rev("HEAD") == head


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
        (["--base", "no-such-branch"], "--base/--head: unknown git revision 'no-such-branch'"),
        (["--base", "HEAD", "--head", "v9"], "unknown git revision 'v9'"),
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
