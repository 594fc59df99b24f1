"""``mlgate audit`` on real sqlite registries: the four reasons, each triggered for real
(promotions through ``mlgate promote``), holdings set outside mlgate, stage Production,
every format, and no progress bar when stderr is not a terminal."""

from __future__ import annotations

import importlib.util
import json
import os
import pty
import select
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from fixtures_mlflow import (
    RegistryHelper,
    closed_port_url,
    compliant_tags,
    example_manifest,
    out_of_scope_tags,
)
from helpers import (
    POLICIES,
    ROOT,
    Run,
    edit_config,
    git,
    mlgate,
    one_error_line,
    policy_repo,
    write_waivers,
)
from mlgate.decisionlog import DecisionLog
from mlgate.evidence import Registry, VersionRef, build_gate_input
from mlgate.policy import load_policy_dir
from mlgate.runner import attach_waivers, evaluate, make_engine, now_rfc3339

TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _today_at_test_start() -> None:
    """Dates are relative to the day each test starts, not the day the suite was
    collected: a CI run crossing midnight UTC compared yesterday's dates with today's
    clock (test_versions_expiring_within_n_days, 2026-12-01 00:2x)."""
    global TODAY
    TODAY = datetime.now(UTC).date()
REASONS = (
    "evidence changed since promotion",
    "waiver expired since promotion",
    "waiver no longer applies since promotion",
    "assessment aged since promotion",
    "policy changed since promotion",
    "no allowed promotion on record",
)


# --------------------------------------------------------------------------- helpers


def log_url(registry: RegistryHelper) -> str:
    return f"sqlite:///{registry.root / 'decisions.db'}"


def audit(registry: RegistryHelper, *args: str, env: dict[str, str] | None = None) -> Run:
    """``mlgate audit`` with the registry's decision log (created empty when absent)."""
    DecisionLog(log_url(registry)).close()
    return mlgate("audit", *registry.args, "--decision-log", log_url(registry), *args, env=env)


def promote(
    registry: RegistryHelper, model: str, version: str, alias: str = "production", *args: str
) -> None:
    run = mlgate(
        "promote",
        model,
        version,
        "--alias",
        alias,
        *registry.args,
        "--decision-log",
        log_url(registry),
        *args,
    )
    assert run.exit_code == 0, run.stdout + run.stderr


def compliant(registry: RegistryHelper, name: str = "chat", **tags: str) -> str:
    mv = registry.create_version(name, compliant_tags(**tags), manifest=example_manifest())
    return str(mv.version)


def decisions(run: Run) -> dict[tuple[str, str, str], dict[str, Any]]:
    """``(model, version, target) -> decision document`` of a ``--format json`` run."""
    return {(d["model"], d["version"], d["target"]): d for d in run.json()}


def reasons(
    run: Run, model: str = "chat", version: str = "1", target: str = "production"
) -> list[str]:
    """The audit reasons on one decision (the waiver module's own warnings left out)."""
    warnings = decisions(run)[(model, version, target)]["warnings"]
    return [w for w in warnings if w.startswith(REASONS)]


def waiver(expires: date, **overrides: Any) -> dict[str, Any]:
    entry = {
        "id": "W-7",
        "model": "chat",
        "versions": ["1"],
        "codes": ["filing.not_completed"],
        "justification": "filing submitted, acknowledgement pending",
        "approver": "compliance@example.com",
        "ticket": "COMP-7",
        "granted": (expires - timedelta(days=30)).isoformat(),
        "expires": expires.isoformat(),
    }
    entry.update(overrides)
    return entry


# --------------------------------------------------------------------------- allowed


def test_every_holding_allowed_exits_0(registry: RegistryHelper) -> None:
    compliant(registry)
    promote(registry, "chat", "1")
    run = audit(registry)
    assert run.exit_code == 0, run.stdout + run.stderr
    assert run.stderr == ""  # no progress bar: stderr is not a terminal
    assert run.stdout.startswith("audit: 1 protected holding in 1 model version(s) of ")
    assert run.stdout.endswith(": 0 blocked, 1 allowed\n")
    assert "BLOCKED" not in run.stdout


def test_json_lists_allowed_holdings_too(registry: RegistryHelper) -> None:
    compliant(registry)
    compliant(registry, "search")
    promote(registry, "chat", "1")
    promote(registry, "search", "1", "champion")
    run = audit(registry, "--format", "json")
    assert run.exit_code == 0, run.stderr
    found = decisions(run)
    assert set(found) == {("chat", "1", "production"), ("search", "1", "champion")}
    assert all(d["allowed"] and d["warnings"] == [] for d in found.values())
    assert run.stderr.startswith("mlgate: audit: 2 protected holdings")


def test_no_holdings_exits_0(registry: RegistryHelper) -> None:
    compliant(registry)  # never promoted
    registry.client.set_registered_model_alias("chat", "staging", "1")  # not protected
    run = audit(registry, "--format", "json")
    assert run.exit_code == 0
    assert run.json() == []
    assert "0 protected holdings in 1 model version(s)" in run.stderr


def test_audit_writes_nothing(registry: RegistryHelper) -> None:
    compliant(registry)
    promote(registry, "chat", "1")
    registry.client.set_model_version_tag("chat", "1", "compliance.filing.status", "pending")
    tags, aliases = registry.tags("chat", "1"), registry.aliases("chat")
    with DecisionLog(log_url(registry)) as log:
        before = log.entries()
    assert audit(registry).exit_code == 1
    assert (registry.tags("chat", "1"), registry.aliases("chat")) == (tags, aliases)
    with DecisionLog(log_url(registry)) as log:
        assert log.entries() == before


# --------------------------------------------------------------------------- the four reasons


def test_evidence_changed_names_the_tag(registry: RegistryHelper) -> None:
    compliant(registry)
    promote(registry, "chat", "1")
    registry.client.set_model_version_tag("chat", "1", "compliance.filing.status", "pending")
    run = audit(registry, "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason.startswith("evidence changed since promotion ")
    assert reason.endswith(": tag compliance.filing.status ('completed' -> 'pending')")
    decision = decisions(run)[("chat", "1", "production")]
    assert not decision["allowed"]


def test_evidence_changed_names_the_manifest(registry: RegistryHelper) -> None:
    compliant(registry)
    promote(registry, "chat", "1")
    tampered = example_manifest()
    tampered["datasets"][0]["ip_cleared"] = False
    registry.overwrite_manifest("chat", "1", json.dumps(tampered).encode())
    run = audit(registry, "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason.startswith("evidence changed since promotion ")
    # Only the artifact changed: no tag is named, the digest tag included.
    assert "artifact compliance/data_manifest.json (sha256 " in reason
    assert " tag " not in reason


def test_policy_changed_in_a_new_commit(registry: RegistryHelper, tmp_path: Path) -> None:
    repo = policy_repo(tmp_path)
    policies = repo / "policies"
    compliant(registry)  # assessed 30 days ago
    promote(registry, "chat", "1", "production", "--policies", str(policies))
    base = git(repo, "rev-parse", "HEAD").strip()
    edit_config(policies, assessment={"max_age_days": 10})
    git(repo, "commit", "-q", "-am", "assessments expire after 10 days")
    head = git(repo, "rev-parse", "HEAD").strip()

    run = audit(registry, "--policies", str(policies), "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason.startswith("policy changed since promotion ")
    assert f"(policy revision {base} -> {head})" in reason
    assert reason.endswith("blocked under the current policies by assessment.expired")


def test_waiver_expired(registry: RegistryHelper, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    write_waivers(policies, waiver(TODAY + timedelta(days=30)))
    compliant(registry, **{"filing.status": "pending"})  # blocked but for the waiver
    promote(registry, "chat", "1", "production", "--policies", str(policies))

    expired = TODAY - timedelta(days=1)
    write_waivers(policies, waiver(expired))
    run = audit(registry, "--policies", str(policies), "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason.startswith("waiver expired since promotion ")
    assert reason.endswith(
        f": W-7 (ticket COMP-7) expired on {expired}; it waived filing.not_completed, "
        "which fail again"
    )
    # The waiver module's own warning is there too.
    warnings = decisions(run)[("chat", "1", "production")]["warnings"]
    assert any(w.startswith("waiver W-7 expired on") for w in warnings)


def test_waiver_removed(registry: RegistryHelper, tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    write_waivers(policies, waiver(TODAY + timedelta(days=30)))
    compliant(registry, **{"filing.status": "pending"})
    promote(registry, "chat", "1", "production", "--policies", str(policies))
    write_waivers(policies)
    run = audit(registry, "--policies", str(policies), "--format", "json")
    [reason] = reasons(run)
    assert "W-7 is not in the policy waivers any more" in reason


def test_assessment_aged(registry: RegistryHelper, tmp_path: Path) -> None:
    """Passed 300 days before a promotion logged 100 days ago: 400 days old now, under
    policies of its own that allow 365 days (whatever the shipped number)."""
    policies = tmp_path / "policies"
    shutil.copytree(POLICIES, policies)
    edit_config(policies, assessment={"max_age_days": 365})
    assessed = (TODAY - timedelta(days=400)).isoformat()
    compliant(registry, **{"assessment.date": assessed})
    policy_set = load_policy_dir(policies)
    evidence = Registry(registry.tracking_uri).read(VersionRef("chat", version="1"))
    then = now_rfc3339(datetime.now(UTC) - timedelta(days=100))
    gate_input, warnings = attach_waivers(
        build_gate_input(
            evidence, target="production", kind="alias", config=policy_set.config, now=then
        ),
        policy_set,
    )
    decision = evaluate(
        gate_input, make_engine("embedded", policy_set), policy_set, warnings=warnings
    )
    assert decision.allowed
    with DecisionLog(log_url(registry)) as log:
        log.append(decision, gate_input, actor="release-bot", source="cli")
    registry.client.set_registered_model_alias("chat", "production", "1")

    run = audit(registry, "--policies", str(policies), "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason == (
        f"assessment aged since promotion {decision.decision_id} on {then[0][:10]}: "
        f"the security assessment of {assessed} was 300 days old then and is 400 days "
        "old now, past the 365-day limit"
    )


def test_several_reasons_at_once(registry: RegistryHelper, tmp_path: Path) -> None:
    repo = policy_repo(tmp_path)
    policies = repo / "policies"
    compliant(registry)
    promote(registry, "chat", "1", "production", "--policies", str(policies))
    edit_config(policies, assessment={"max_age_days": 10})
    git(repo, "commit", "-q", "-am", "stricter")
    registry.client.set_model_version_tag("chat", "1", "compliance.labeling.implicit", "false")
    run = audit(registry, "--policies", str(policies), "--format", "json")
    found = reasons(run)
    assert [r.split(" since ")[0] for r in found] == ["evidence changed", "policy changed"]
    assert "tag compliance.labeling.implicit ('true' -> 'false')" in found[0]
    # The replay is of the evidence as promoted: the labeling change is not the policy's.
    assert found[1].endswith("by assessment.expired")


# --------------------------------------------------------------------------- holdings


def test_alias_set_outside_mlgate(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())  # no manifest
    registry.client.set_registered_model_alias("chat", "production", "1")
    run = audit(registry, "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    assert reason.startswith("no allowed promotion on record: the decision log sqlite:///")
    assert reason.endswith(
        "has no allowed decision promoting chat v1 to production; alias 'production' was "
        "set outside mlgate or before it logged decisions; blocked now by "
        "data_manifest.missing"
    )


def test_no_decision_log_at_the_default_location(
    registry: RegistryHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    registry.create_version("chat", compliant_tags())
    registry.client.set_registered_model_alias("chat", "production", "1")
    run = mlgate("audit", *registry.args, "--format", "json")
    assert run.exit_code == 1
    [reason] = reasons(run)
    default = registry.root / "mlgate-decisions.db"
    assert reason.startswith(
        f"no allowed promotion on record: no decision log at sqlite:///{default} "
        "(give --decision-log); "
    )
    assert not default.exists()  # audit is a read: it creates no log


def test_a_named_decision_log_must_exist(registry: RegistryHelper, tmp_path: Path) -> None:
    compliant(registry)
    missing = tmp_path / "nowhere.db"
    line = one_error_line(mlgate("audit", *registry.args, "--decision-log", f"sqlite:///{missing}"))
    assert f"{missing} does not exist" in line
    assert not missing.exists()


def test_protected_aliases_compare_case_insensitively(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    registry.client.set_registered_model_alias("chat", "Champion", "1")
    registry.client.set_registered_model_alias("chat", "staging", "1")
    run = audit(registry, "--format", "json")
    assert set(decisions(run)) == {("chat", "1", "Champion")}
    assert decisions(run)[("chat", "1", "Champion")]["enforcement"] == "deny"


@pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated, still used
def test_stage_production_holdings(registry: RegistryHelper) -> None:
    """Stages are set outside mlgate here; several versions may be in Production at once."""
    compliant(registry)
    registry.create_version(
        "chat", compliant_tags(**{"filing.status": "none"}), manifest=example_manifest()
    )
    registry.create_version("research", out_of_scope_tags())
    registry.create_version("research", out_of_scope_tags())  # stays in stage None
    for name, version in (("chat", "1"), ("chat", "2"), ("research", "1")):
        registry.client.transition_model_version_stage(
            name, version, "Production", archive_existing_versions=False
        )
    run = audit(registry, "--format", "json")
    found = decisions(run)
    assert {k: d["allowed"] for k, d in found.items()} == {
        ("chat", "1", "Production"): True,
        ("chat", "2", "Production"): False,
        ("research", "1", "Production"): True,
    }
    assert all(d["enforcement"] == "deny" for d in found.values())
    [reason] = reasons(run, "chat", "2", "Production")
    assert "stage 'Production' was set outside mlgate" in reason
    assert reason.endswith("blocked now by filing.not_completed")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_stage_promotion_on_record(registry: RegistryHelper) -> None:
    """A logged promotion to stage Production is found for the stage holding."""
    compliant(registry)
    policy_set = load_policy_dir(None)
    _, gate_input = Registry(registry.tracking_uri).gate_input(
        VersionRef("chat", version="1"),
        target="Production",
        kind="stage",
        config=policy_set.config,
    )
    decision = evaluate(gate_input, make_engine("embedded", policy_set), policy_set)
    assert decision.allowed
    with DecisionLog(log_url(registry)) as log:
        log.append(decision, gate_input, actor="server-user", source="server")
    registry.client.transition_model_version_stage("chat", "1", "Production")
    registry.client.set_model_version_tag("chat", "1", "compliance.filing.id", "")
    run = audit(registry, "--format", "json")
    [reason] = reasons(run, "chat", "1", "Production")
    assert reason.startswith(f"evidence changed since promotion {decision.decision_id} ")
    assert reason.endswith("tag compliance.filing.id ('Beijing-WXSuanFa-20240001' -> '')")


# --------------------------------------------------------------------------- formats


@pytest.fixture
def one_blocked(registry: RegistryHelper) -> RegistryHelper:
    """chat v1 (production): evidence changed; search v1 (champion): allowed."""
    compliant(registry)
    compliant(registry, "search")
    promote(registry, "chat", "1")
    promote(registry, "search", "1", "champion")
    registry.client.set_model_version_tag("chat", "1", "compliance.filing.status", "pending")
    return registry


def test_table_shows_blocked_holdings_their_reasons_and_a_summary(
    one_blocked: RegistryHelper,
) -> None:
    run = audit(one_blocked)
    assert run.exit_code == 1
    lines = run.stdout.splitlines()
    assert lines[0] == "chat v1 -> production: BLOCKED (enforcement deny)"
    reason = next(ln for ln in lines if ln.startswith("warning: evidence changed since"))
    assert reason.endswith("tag compliance.filing.status ('completed' -> 'pending')")
    assert "search v1" not in run.stdout
    assert lines[-1].startswith("audit: 2 protected holdings in 2 model version(s) of ")
    assert lines[-1].endswith(": 1 blocked, 1 allowed")


def test_markdown_shows_reasons(one_blocked: RegistryHelper) -> None:
    run = audit(one_blocked, "--format", "markdown")
    assert run.exit_code == 1
    assert run.stdout.startswith("## mlgate audit: 2 protected holdings")
    assert "### mlgate: chat v1 -\\> production: BLOCKED" in run.stdout
    assert "> **Warning:** evidence changed since promotion" in run.stdout
    assert "search v1" not in run.stdout


def test_github_annotates_and_writes_the_step_summary(
    one_blocked: RegistryHelper, tmp_path: Path
) -> None:
    summary = tmp_path / "summary.md"
    run = audit(one_blocked, "--format", "github", env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.exit_code == 1
    assert any(
        ln.startswith("::error title=") and "filing.not_completed" in ln
        for ln in run.stdout.splitlines()
    )
    assert any(
        ln.startswith("::warning ")
        and "::chat v1 -> production: evidence changed since promotion" in ln
        for ln in run.stdout.splitlines()
    )
    assert run.stdout.splitlines()[-1].startswith("mlgate: audit: 2 protected holdings")
    text = summary.read_text()
    assert text.startswith("## mlgate audit: 2 protected holdings")
    assert "evidence changed since promotion" in text


def test_junit_and_sarif_carry_every_holding(one_blocked: RegistryHelper) -> None:
    run = audit(one_blocked, "--format", "junit")
    assert run.exit_code == 1
    suites = ET.fromstring(run.stdout).findall("testsuite")
    assert sorted(s.get("name") for s in suites) == [
        "chat v1 -> production",
        "search v1 -> champion",
    ]
    run = audit(one_blocked, "--format", "sarif")
    assert run.exit_code == 1
    document = json.loads(run.stdout)
    # One run per model and target (GitHub's category), each with its decisions.
    summaries = [d for r in document["runs"] for d in r["properties"]["decisions"]]
    assert {(d["model"], d["allowed"]) for d in summaries} == {("chat", False), ("search", True)}
    blocked = next(d for d in summaries if d["model"] == "chat")
    assert any(w.startswith("evidence changed") for w in blocked["warnings"])


def test_output_file_and_timings(one_blocked: RegistryHelper, tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    run = audit(one_blocked, "--format", "json", "--output", str(out), "--timings")
    assert run.exit_code == 1
    assert run.stdout == ""
    assert len(json.loads(out.read_text())) == 2
    lines = run.stderr.splitlines()
    assert lines[0].startswith("mlgate: audit: 2 protected holdings")
    assert lines[1].startswith("mlgate: audit timings: registry reads ")
    for phase in ("manifest downloads", "evaluation", "decision log", "total"):
        assert f"{phase} " in lines[1]


# --------------------------------------------------------------------------- concurrency, server


def _verdicts(run: Run) -> dict[tuple[str, str, str], tuple[bool, list[str]]]:
    return {
        k: (d["allowed"], [w.split(" since ")[0].split(":")[0] for w in d["warnings"]])
        for k, d in decisions(run).items()
    }


def test_concurrent_manifest_fetches_decide_the_same(registry: RegistryHelper) -> None:
    for index in range(6):
        tags = {"filing.status": "pending"} if index % 3 == 0 else {}
        mv = registry.create_version(
            f"m{index}",
            compliant_tags(**tags),
            manifest=example_manifest(),
            source=("logged_model", "run", "uri")[index % 3],
        )
        registry.client.set_registered_model_alias(f"m{index}", "production", str(mv.version))
    one = audit(registry, "--format", "json", "--workers", "1")
    four = audit(registry, "--format", "json", "--workers", "4")
    assert one.exit_code == four.exit_code == 1
    assert _verdicts(one) == _verdicts(four)
    assert sum(1 for allowed, _ in _verdicts(one).values() if not allowed) == 2


def test_audit_on_the_server(server_registry: RegistryHelper) -> None:
    """Over HTTP (fetches on the thread pool). The server's registry is shared by the
    session, so only this test's models are looked at."""
    kept, changed, outside = (server_registry.unique(n) for n in ("kept", "changed", "outside"))
    for name in (kept, changed):
        compliant(server_registry, name)
        promote(server_registry, name, "1")
    server_registry.client.set_model_version_tag(
        changed, "1", "compliance.labeling.explicit", "false"
    )
    server_registry.create_version(outside, compliant_tags(), source="run")
    server_registry.client.set_registered_model_alias(outside, "public", "1")
    run = audit(server_registry, "--format", "json")
    assert run.exit_code == 1, run.stderr
    mine = {k: v for k, v in _verdicts(run).items() if k[0] in (kept, changed, outside)}
    assert mine == {
        (kept, "1", "production"): (True, []),
        (changed, "1", "production"): (False, ["evidence changed"]),
        (outside, "1", "public"): (False, ["no allowed promotion on record"]),
    }
    [reason] = reasons(run, changed)
    assert reason.endswith("tag compliance.labeling.explicit ('true' -> 'false')")


def test_the_opa_engine_decides_the_same(
    one_blocked: RegistryHelper, opa_url: str, opa_token: str | None
) -> None:
    embedded = audit(one_blocked, "--format", "json")
    opa_args = ["--engine", "opa", "--opa-url", opa_url]
    if opa_token:
        opa_args += ["--opa-token", opa_token]
    opa = audit(one_blocked, "--format", "json", *opa_args)
    assert opa.exit_code == embedded.exit_code == 1, opa.stderr
    assert _verdicts(opa) == _verdicts(embedded)
    assert {d["engine"] for d in opa.json()} == {"opa"}


def test_engine_trouble_fails_closed(one_blocked: RegistryHelper, opa_double: Any) -> None:
    opa_double.fail_with(500, "internal_error", "storage is on fire")
    line = one_error_line(audit(one_blocked, "--engine", "opa", "--opa-url", opa_double.url))
    assert "storage is on fire" in line


# --------------------------------------------------------------------------- errors


def test_unreachable_registry_exit_2() -> None:
    line = one_error_line(mlgate("audit", "--tracking-uri", closed_port_url()))
    assert "cannot reach the MLflow registry" in line


def test_missing_sqlite_registry_exit_2(tmp_path: Path) -> None:
    line = one_error_line(mlgate("audit", "--tracking-uri", f"sqlite:///{tmp_path}/no.db"))
    assert "does not exist" in line


# --------------------------------------------------------------------------- progress bar


def test_progress_bar_on_a_terminal(registry: RegistryHelper) -> None:
    """stderr a pseudo-terminal: the bar is drawn there, and stdout is the report."""
    compliant(registry)
    promote(registry, "chat", "1")
    controller, terminal = pty.openpty()
    env = {**os.environ, "TERM": "xterm", "COLUMNS": "100"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlgate"),
            "audit",
            *registry.args,
            "--decision-log",
            log_url(registry),
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    os.close(terminal)
    drawn = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    stdout = proc.communicate(timeout=60)[0].decode()
    os.close(controller)
    assert proc.returncode == 0, drawn.decode(errors="replace")
    assert b"audit" in drawn and b"1/1" in drawn
    assert stdout.startswith("audit: 1 protected holding")


# --------------------------------------------------------------------------- the benchmark


def test_the_benchmark_fills_a_real_registry(tmp_path: Path) -> None:
    """benchmarks/bench_audit.py's bulk fill, small: what audit reads is what it wrote."""
    spec = importlib.util.spec_from_file_location(
        "bench_audit", ROOT / "benchmarks" / "bench_audit.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    uri, aged = bench.fill(tmp_path, 3, aged_every=2)
    bench.verify(uri, 3)
    url = bench.log_promotions(uri, tmp_path, aged)
    run = mlgate("audit", "--tracking-uri", uri, "--decision-log", url, "--format", "json")
    assert run.exit_code == 1
    found = run.json()
    assert len(found) == 6
    assert {(d["model"], d["version"]) for d in found if not d["allowed"]} == set(aged)
    for d in found:
        if not d["allowed"]:
            assert [w.split(" since ")[0] for w in d["warnings"]] == ["assessment aged"]
