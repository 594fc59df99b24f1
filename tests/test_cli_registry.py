"""``mlgate check MODEL VERSION``, ``promote`` and ``manifest validate | attach`` on real
MLflow registries: a fresh local sqlite registry per test, and the session's server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures_mlflow import (
    SOURCE_KINDS,
    RegistryHelper,
    SourceKind,
    closed_port_url,
    compliant_tags,
    example_manifest,
    out_of_scope_tags,
)
from helpers import FIRST_WAVE, Run, mlgate, switched_off_by_default
from mlgate.cli import EngineChoice, load_engine
from mlgate.decisionlog import DecisionLog
from mlgate.errors import EvidenceChangedError
from mlgate.evidence import DECISION_TAG, Registry, VersionRef
from mlgate.facts import DIGEST_TAG
from mlgate.gate_input import Evidence
from mlgate.models import Decision

DECISION_TAGS = {
    "mlgate.decision",
    "mlgate.decision_id",
    "mlgate.policy_revision",
    "mlgate.checked_at",
}


def one_error_line(run: Run) -> str:
    """The run failed with exit 2 and exactly one ``mlgate: error:`` line, no traceback."""
    assert run.exit_code == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("mlgate: error: ")
    assert "Traceback" not in run.stderr
    return lines[0]


def failing_codes(run: Run) -> set[str]:
    document = run.json()
    return {v["code"] for g in document["gates"] for v in g["violations"]}


def allowed_version(registry: RegistryHelper, name: str = "chat", **kw: object) -> str:
    mv = registry.create_version(name, compliant_tags(), manifest=example_manifest(), **kw)
    return str(mv.version)


def log_url(registry: RegistryHelper) -> str:
    return f"sqlite:///{registry.root / 'decisions.db'}"


def log_rows(registry: RegistryHelper) -> list[object]:
    if not (registry.root / "decisions.db").exists():
        return []
    with DecisionLog(log_url(registry)) as log:
        return list(log.entries())


# --------------------------------------------------------------------------- check


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_check_allowed(registry: RegistryHelper, source: SourceKind) -> None:
    allowed_version(registry, source=source)
    run = mlgate("check", "chat", "1", *registry.args)
    assert run.exit_code == 0, run.stderr
    # The gates switched off by default do not apply: the verdict says so.
    assert run.stdout.startswith(
        "chat v1 -> production: ALLOWED: every gate passed or does not apply\n")
    statuses = {g["id"]: g["status"] for g in mlgate(
        "check", "chat", "1", *registry.args, "-f", "json").json()["gates"]}
    assert statuses == {**{g: "pass" for g in FIRST_WAVE}, **switched_off_by_default()}


def test_check_blocked_names_the_failing_codes(registry: RegistryHelper) -> None:
    registry.create_version(
        "imagegen",
        compliant_tags(**{"filing.status": "pending", "labeling.implicit": "false"}),
        manifest=example_manifest(),
    )
    run = mlgate("check", "imagegen", "1", *registry.args, "--format", "json")
    assert run.exit_code == 1
    assert failing_codes(run) == {"filing.not_completed", "labeling.implicit_disabled"}
    assert run.json()["target"] == "production"


def test_check_out_of_scope_is_allowed(registry: RegistryHelper) -> None:
    registry.create_version("research", out_of_scope_tags())
    run = mlgate("check", "research", "1", *registry.args, "-f", "json")
    assert run.exit_code == 0
    document = run.json()
    assert document["in_scope"] is False
    assert {g["id"]: g["status"] for g in document["gates"]} == {
        "scope": "pass",
        "filing": "not_applicable",
        "assessment": "not_applicable",
        "labeling": "not_applicable",
        "data_manifest": "not_applicable",
        **switched_off_by_default(),
    }


def test_check_by_alias(registry: RegistryHelper) -> None:
    registry.create_version("chat", out_of_scope_tags())
    allowed_version(registry)
    registry.client.set_registered_model_alias("chat", "champion", "2")
    run = mlgate("check", "chat@champion", *registry.args, "-f", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["version"] == "2"
    assert run.json()["in_scope"] is True


def test_check_for_an_unprotected_target_warns(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())  # no manifest: data_manifest fails
    run = mlgate("check", "chat", "1", *registry.args, "--target", "staging", "-f", "json")
    assert run.exit_code == 0
    assert run.json()["enforcement"] == "warn"
    assert failing_codes(run) == {"data_manifest.missing"}


def test_tracking_uri_from_the_environment(registry: RegistryHelper) -> None:
    allowed_version(registry)
    run = mlgate("check", "chat", "1", env={"MLFLOW_TRACKING_URI": registry.tracking_uri})
    assert run.exit_code == 0, run.stderr


def test_registry_uri_option(registry: RegistryHelper) -> None:
    allowed_version(registry)
    run = mlgate("check", "chat", "1", *registry.args, "--registry-uri", registry.tracking_uri)
    assert run.exit_code == 0, run.stderr


def test_check_is_a_read(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    before = registry.tags("chat", "1")
    env = {"MLGATE_DECISION_LOG": log_url(registry)}
    run = mlgate("check", "chat", "1", *registry.args, env=env)
    assert run.exit_code == 1
    assert registry.tags("chat", "1") == before
    assert registry.aliases("chat") == {}
    assert not (registry.root / "decisions.db").exists()


@pytest.mark.parametrize("fmt", ["table", "json", "junit", "sarif", "markdown", "github"])
def test_every_format_on_a_registry_version(
    registry: RegistryHelper, fmt: str, tmp_path: Path
) -> None:
    registry.create_version("imagegen", compliant_tags(**{"filing.status": "pending"}),
                            manifest=example_manifest())
    summary = tmp_path / "summary.md"
    run = mlgate("check", "imagegen", "1", *registry.args, "--format", fmt,
                 env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert run.exit_code == 1, run.stderr
    assert "filing.not_completed" in run.stdout
    if fmt in ("json", "sarif"):
        json.loads(run.stdout)
    if fmt == "junit":
        ET.fromstring(run.stdout)
    if fmt == "github":
        assert "filing.not_completed" in summary.read_text()


def test_check_on_the_server(server_registry: RegistryHelper) -> None:
    ok, blocked, out = (server_registry.unique(n) for n in ("chat", "imagegen", "research"))
    allowed_version(server_registry, ok)
    server_registry.create_version(blocked, compliant_tags(**{"filing.status": "none"}),
                                   manifest=example_manifest(), source="run")
    server_registry.create_version(out, out_of_scope_tags(), source="uri")
    server_registry.client.set_registered_model_alias(ok, "champion", "1")
    args = server_registry.args
    assert mlgate("check", ok, "1", *args).exit_code == 0
    assert mlgate("check", f"{ok}@champion", *args).exit_code == 0
    run = mlgate("check", blocked, "1", *args, "-f", "json")
    assert run.exit_code == 1
    assert failing_codes(run) == {"filing.not_completed"}
    run = mlgate("check", out, "1", *args, "-f", "json")
    assert run.exit_code == 0
    assert run.json()["in_scope"] is False


# --------------------------------------------------------------------------- check: bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check"], "give MODEL VERSION, MODEL@ALIAS or --input FILE"),
        (["check", "m@"], "malformed MODEL@ALIAS"),
        (["check", "@a"], "malformed MODEL@ALIAS"),
        (["check", "m@a@b"], "malformed MODEL@ALIAS"),
        (["check", "chat"], "give MODEL VERSION"),
        (["check", "chat", "one"], "VERSION 'one'"),
        (["check", "chat", "1", "--input", "x.json"], "not both"),
    ],
)
def test_bad_arguments_exit_2(registry: RegistryHelper, args: list[str], message: str) -> None:
    line = one_error_line(mlgate(*args, *registry.args))
    assert message in line


def test_missing_model_or_version_exit_2(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    line = one_error_line(mlgate("check", "chat", "7", *registry.args))
    assert line == (
        f"mlgate: error: model 'chat' version 7: not found in registry {registry.tracking_uri}"
    )
    line = one_error_line(mlgate("check", "ghost", "1", *registry.args))
    assert "model 'ghost' version 1: not found" in line
    line = one_error_line(mlgate("check", "chat@gone", *registry.args))
    assert "model 'chat' alias 'gone': not found" in line


def test_absent_sqlite_registry_exit_2(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'none.db'}"
    line = one_error_line(mlgate("check", "chat", "1", "--tracking-uri", uri))
    assert f"no MLflow registry at {uri}" in line
    assert not (tmp_path / "none.db").exists()


def test_unreachable_registry_exit_2() -> None:
    url = closed_port_url()
    line = one_error_line(mlgate("check", "chat", "1", "--tracking-uri", url))
    assert f"cannot reach the MLflow registry at {url}" in line


def test_debug_shows_the_traceback_for_a_registry_error(tmp_path: Path) -> None:
    run = mlgate("--debug", "check", "chat", "1", "--tracking-uri",
                 f"sqlite:///{tmp_path / 'none.db'}")
    assert run.exit_code == 2
    assert "Traceback" in run.stderr


# --------------------------------------------------------------------------- evidence problems


def test_manifest_missing(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    run = mlgate("check", "chat", "1", *registry.args, "-f", "json")
    assert run.exit_code == 1
    assert failing_codes(run) == {"data_manifest.missing"}


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"{not json", "data_manifest.not_json"),
        (json.dumps({"manifest_version": 1, "datasets": "none"}).encode(),
         "data_manifest.schema_invalid"),
    ],
)
@pytest.mark.parametrize("source", ["logged_model", "run"])
def test_corrupt_manifest_artifact(
    registry: RegistryHelper, source: SourceKind, content: bytes, code: str
) -> None:
    registry.create_version("chat", compliant_tags(), source=source)
    registry.overwrite_manifest("chat", "1", content)
    run = mlgate("check", "chat", "1", *registry.args, "-f", "json")
    assert run.exit_code == 1
    assert code in failing_codes(run)


@pytest.mark.parametrize("source", ["logged_model", "run"])
def test_tampered_manifest_is_a_digest_mismatch(
    registry: RegistryHelper, source: SourceKind
) -> None:
    registry.create_version("chat", compliant_tags(), source=source, manifest=example_manifest())
    # A valid manifest, but not the bytes whose digest was tagged.
    registry.overwrite_manifest("chat", "1", json.dumps(example_manifest(), indent=1).encode())
    run = mlgate("check", "chat", "1", *registry.args, "-f", "json")
    assert run.exit_code == 1
    assert failing_codes(run) == {"data_manifest.digest_mismatch"}


def test_invalid_tag_value_is_a_gate_failure(registry: RegistryHelper) -> None:
    registry.create_version(
        "chat", compliant_tags(**{"labeling.implicit": "yes"}), manifest=example_manifest()
    )
    run = mlgate("check", "chat", "1", *registry.args, "-f", "json")
    assert run.exit_code == 1
    assert failing_codes(run) == {"labeling.implicit_invalid"}


# --------------------------------------------------------------------------- promote


def promote(registry: RegistryHelper, *args: str) -> Run:
    return mlgate("promote", *args, *registry.args, "--decision-log", log_url(registry))


def test_promote_allowed_sets_alias_tags_and_logs(registry: RegistryHelper) -> None:
    allowed_version(registry)
    run = promote(registry, "chat", "1", "--alias", "production", "-f", "json")
    assert run.exit_code == 0, run.stderr
    decision = run.json()
    assert registry.aliases("chat") == {"production": "1"}
    tags = registry.tags("chat", "1")
    assert {k: v for k, v in tags.items() if k.startswith("mlgate.")} == {
        "mlgate.decision": "allowed",
        "mlgate.decision_id": decision["decision_id"],
        "mlgate.policy_revision": decision["policy_revision"],
        "mlgate.checked_at": decision["evaluated_at"],
    }
    [row] = log_rows(registry)
    assert (row.decision_id, row.allowed, row.source) == (decision["decision_id"], True, "cli")
    assert (row.model, row.version, row.target) == ("chat", "1", "production")


def test_promote_blocked_sets_no_alias_but_tags_and_logs(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())  # no manifest
    run = promote(registry, "chat", "1", "--alias", "production", "-f", "json")
    assert run.exit_code == 1
    assert registry.aliases("chat") == {}
    tags = registry.tags("chat", "1")
    assert tags[DECISION_TAG] == "blocked"
    assert tags.keys() >= DECISION_TAGS
    [row] = log_rows(registry)
    assert row.allowed is False
    assert row.failing_codes == ["data_manifest.missing"]


def test_promote_dry_run_writes_nothing(registry: RegistryHelper) -> None:
    allowed_version(registry)
    before = registry.tags("chat", "1")
    run = promote(registry, "chat", "1", "--alias", "production", "--dry-run")
    assert run.exit_code == 0
    assert "ALLOWED" in run.stdout
    assert registry.aliases("chat") == {}
    assert registry.tags("chat", "1") == before
    assert log_rows(registry) == []


def test_promote_to_an_unprotected_alias_warns_and_sets_it(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())  # data_manifest fails
    run = promote(registry, "chat", "1", "--alias", "staging", "-f", "json")
    assert run.exit_code == 0
    assert run.json()["enforcement"] == "warn"
    assert registry.aliases("chat") == {"staging": "1"}


def test_promote_moves_an_alias(registry: RegistryHelper) -> None:
    allowed_version(registry)
    allowed_version(registry)
    assert promote(registry, "chat", "1", "--alias", "champion").exit_code == 0
    assert promote(registry, "chat", "2", "--alias", "champion").exit_code == 0
    assert registry.aliases("chat") == {"champion": "2"}


class ChangedAfterTheDecision:
    """The real registry, with its evidence changed by ``change`` after promote's first
    read (the one decided on) and before its re-read (the one checked before the alias):
    the window between deciding and acting, which MLflow cannot close."""

    def __init__(self, registry: Registry, change: Callable[[], None]) -> None:
        self.registry, self.change, self.reads = registry, change, 0

    def read(self, ref: VersionRef) -> Evidence:
        self.reads += 1
        if self.reads == 2:
            self.change()
        return self.registry.read(ref)

    def set_alias(self, model: str, alias: str, version: str) -> None:
        self.registry.set_alias(model, alias, version)

    def write_decision_tags(self, decision: Decision) -> None:
        self.registry.write_decision_tags(decision)


def promote_while_changing(registry: RegistryHelper, change: Callable[[], None]) -> str:
    """``gate.promote`` of chat v1 to production (what ``mlgate promote`` runs) on
    :class:`ChangedAfterTheDecision`; the message of the EvidenceChangedError it raises."""
    from mlgate import gate

    policy_set, engine = load_engine(None, EngineChoice.embedded, None, None, 5.0)
    changing = ChangedAfterTheDecision(Registry(registry.tracking_uri), change)
    with pytest.raises(EvidenceChangedError) as raised:
        gate.promote(changing, VersionRef("chat", "1"), "production", engine, policy_set,
                     open_log=lambda: DecisionLog(log_url(registry)), actor=lambda: "tester")
    assert changing.reads == 2
    return str(raised.value)


def test_promote_refuses_when_evidence_changes_before_the_alias(
    registry: RegistryHelper,
) -> None:
    allowed_version(registry)

    def withdraw_filing() -> None:
        registry.client.set_model_version_tag("chat", "1", "compliance.filing.status", "pending")

    message = promote_while_changing(registry, withdraw_filing)
    assert "changed while it was being evaluated (compliance.filing.status)" in message
    assert "alias 'production' not set" in message
    assert registry.aliases("chat") == {}
    assert not DECISION_TAGS & registry.tags("chat", "1").keys()
    assert log_rows(registry) == []


def test_promote_refuses_when_the_manifest_is_replaced_before_the_alias(
    registry: RegistryHelper,
) -> None:
    allowed_version(registry)
    replacement = example_manifest()
    replacement["quality_measures"] = ["none"]

    def swap_manifest() -> None:
        registry.overwrite_manifest("chat", "1", json.dumps(replacement).encode())

    message = promote_while_changing(registry, swap_manifest)
    assert "(compliance/data_manifest.json)" in message
    assert registry.aliases("chat") == {}
    assert log_rows(registry) == []


def test_promote_sets_the_alias_when_nothing_changes_before_it(
    registry: RegistryHelper,
) -> None:
    # The same path with a change that touches no evidence: promoted, logged, tagged.
    from mlgate import gate

    allowed_version(registry)
    policy_set, engine = load_engine(None, EngineChoice.embedded, None, None, 5.0)

    def note() -> None:
        registry.client.set_model_version_tag("chat", "1", "team.note", "reviewed")

    changing = ChangedAfterTheDecision(Registry(registry.tracking_uri), note)
    promotion = gate.promote(
        changing, VersionRef("chat", "1"), "production", engine, policy_set,
        open_log=lambda: DecisionLog(log_url(registry)), actor=lambda: "tester",
    )
    assert promotion.alias_set and changing.reads == 2
    assert registry.aliases("chat") == {"production": "1"}
    assert registry.tags("chat", "1").keys() >= DECISION_TAGS
    [row] = log_rows(registry)
    assert (row.decision_id, row.actor) == (promotion.decision.decision_id, "tester")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["chat", "1", "--alias", "latest"], "reserved"),
        (["chat", "1", "--alias", "prod/1"], "--alias 'prod/1'"),
        (["chat", "x", "--alias", "production"], "VERSION 'x'"),
        (["chat", "9", "--alias", "production"], "model 'chat' version 9: not found"),
    ],
)
def test_promote_bad_input_exit_2(registry: RegistryHelper, args: list[str], message: str) -> None:
    registry.create_version("chat", compliant_tags())
    line = one_error_line(promote(registry, *args))
    assert message in line
    assert log_rows(registry) == []


def test_promote_unreachable_registry_exit_2(tmp_path: Path) -> None:
    url = closed_port_url()
    run = mlgate("promote", "chat", "1", "--alias", "production", "--tracking-uri", url,
                 "--decision-log", f"sqlite:///{tmp_path / 'd.db'}")
    assert "cannot reach the MLflow registry" in one_error_line(run)


def test_promote_on_the_server(server_registry: RegistryHelper) -> None:
    ok, blocked = server_registry.unique("chat"), server_registry.unique("imagegen")
    allowed_version(server_registry, ok, source="run")
    server_registry.create_version(blocked, compliant_tags(**{"labeling.implicit": "false"}),
                                   manifest=example_manifest())
    url = f"sqlite:///{server_registry.root / 'decisions.db'}"
    args = [*server_registry.args, "--decision-log", url]
    assert mlgate("promote", ok, "1", "--alias", "production", *args).exit_code == 0
    assert mlgate("promote", blocked, "1", "--alias", "production", *args).exit_code == 1
    assert server_registry.aliases(ok) == {"production": "1"}
    assert server_registry.aliases(blocked) == {}
    assert server_registry.tags(blocked, "1")[DECISION_TAG] == "blocked"
    with DecisionLog(url) as log:
        assert [(e.model, e.allowed) for e in log.entries()] == [(blocked, False), (ok, True)]


# --------------------------------------------------------------------------- manifest


def test_manifest_validate_valid(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(example_manifest()))
    run = mlgate("manifest", "validate", str(path))
    assert run.exit_code == 0
    assert run.stdout.startswith(f"{path}: valid data manifest (sha256 ")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{\n  nope", "m.json:2:3: not valid JSON"),
        (json.dumps({"manifest_version": 1, "datasets": [], "quality_measures": []}),
         "m.json: field labeling: Field required"),
    ],
)
def test_manifest_validate_invalid(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    assert message in one_error_line(mlgate("manifest", "validate", str(path)))


def test_manifest_validate_missing_file(tmp_path: Path) -> None:
    assert "cannot read" in one_error_line(
        mlgate("manifest", "validate", str(tmp_path / "absent.json"))
    )


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_manifest_attach(registry: RegistryHelper, source: SourceKind) -> None:
    registry.create_version("chat", compliant_tags(), source=source)
    path = registry.write_file(example_manifest())
    run = mlgate("manifest", "attach", "chat", "1", str(path), *registry.args)
    assert run.exit_code == 0, run.stderr
    digest = registry.tags("chat", "1")[DIGEST_TAG]
    assert run.stdout == f"attached {path} to model chat version 1 (sha256 {digest})\n"
    assert registry.download_manifest("chat", "1") == path.read_bytes()
    assert mlgate("check", "chat", "1", *registry.args).exit_code == 0


@pytest.mark.parametrize(
    "content", [b"not json", json.dumps({**example_manifest(), "datasets": [{}]}).encode()]
)
def test_manifest_attach_invalid_file_logs_nothing(
    registry: RegistryHelper, content: bytes
) -> None:
    registry.create_version("chat", compliant_tags())
    path = registry.write_file(content)
    one_error_line(mlgate("manifest", "attach", "chat", "1", str(path), *registry.args))
    assert DIGEST_TAG not in registry.tags("chat", "1")
    assert Registry(registry.tracking_uri).read(VersionRef("chat", version="1")).manifest is None


def test_manifest_attach_to_a_missing_version(registry: RegistryHelper) -> None:
    path = registry.write_file(example_manifest())
    line = one_error_line(mlgate("manifest", "attach", "chat", "1", str(path), *registry.args))
    assert "model 'chat' version 1: not found" in line


def test_manifest_attach_on_the_server(server_registry: RegistryHelper) -> None:
    name = server_registry.unique("chat")
    server_registry.create_version(name, compliant_tags())
    path = server_registry.write_file(example_manifest())
    run = mlgate("manifest", "attach", name, "1", str(path), *server_registry.args)
    assert run.exit_code == 0, run.stderr
    assert mlgate("check", name, "1", *server_registry.args).exit_code == 0


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize(
    "command", [["check"], ["promote"], ["manifest", "validate"], ["manifest", "attach"], ["demo"]]
)
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    run = mlgate(*command, "--help")
    assert run.exit_code == 0
    assert "Example" in run.stdout
    assert f"mlgate {' '.join(command)}" in run.stdout


# --------------------------------------------------------------------------- waivers


def policies_waiving(tmp_path: Path, model: str, codes: list[str]) -> Path:
    import shutil
    from datetime import UTC, datetime, timedelta

    from helpers import POLICIES

    today = datetime.now(UTC).date()
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    entry = {
        "id": "W-7",
        "model": model,
        "versions": ["1"],
        "codes": codes,
        "justification": "filing submitted, acknowledgement pending",
        "approver": "compliance@example.com",
        "ticket": "COMP-7",
        "granted": today.isoformat(),
        "expires": (today + timedelta(days=30)).isoformat(),
    }
    (target / "waivers.json").write_text(json.dumps({"waivers": [entry]}))
    return target


def test_check_and_promote_apply_active_waivers(registry: RegistryHelper) -> None:
    registry.create_version("imagegen", compliant_tags(**{"filing.status": "pending"}),
                            manifest=example_manifest())
    policies = str(policies_waiving(registry.root, "imagegen", ["filing.not_completed"]))
    run = mlgate("check", "imagegen", "1", *registry.args, "--policies", policies, "-f", "json")
    assert run.exit_code == 0, run.stdout
    assert run.json()["waivers_applied"] == ["W-7"]
    run = promote(registry, "imagegen", "1", "--alias", "production", "--policies", policies)
    assert run.exit_code == 0, run.stdout
    assert registry.aliases("imagegen") == {"production": "1"}
    [row] = log_rows(registry)
    assert row.decision.waivers_applied == ["W-7"]
    assert [w["id"] for w in row.gate_input["waivers"]] == ["W-7"]


# --------------------------------------------------------------------------- import cost


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["check", "--help"],
        ["promote", "--help"],
        ["check", "--input", "examples/gate_input_blocked.json"],
    ],
)
def test_fast_paths_do_not_import_mlflow(argv: list[str]) -> None:
    import subprocess
    import sys

    from helpers import ROOT

    code = (
        "import sys\n"
        f"sys.argv = ['mlgate', *{argv!r}]\n"
        "from mlgate.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', 'mlflow' in sys.modules, 'sqlalchemy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.stdout.rstrip().endswith("MODULES False False"), result.stdout + result.stderr
