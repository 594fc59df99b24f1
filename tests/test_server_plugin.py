"""Server-side enforcement: a real ``mlflow server`` with the mlgate registry store plugin.

Every call goes through the plain MLflow client over REST: no mlgate code on the client
side. The enforcement tests run on three backends (sqlite, PostgreSQL, MariaDB), each with
the decision log in the registry's own database; the concurrency test runs on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from fixtures_mlflow import (
    SOURCE_KINDS,
    RegistryHelper,
    compliant_tags,
    example_manifest,
    start_mlflow_server,
)
from fixtures_server import (
    AUTH_ADMIN,
    BACKENDS,
    GatedServer,
    ServerPool,
    server_for,
)

DECISION_TAGS = ("mlgate.decision", "mlgate.decision_id", "mlgate.policy_revision",
                 "mlgate.checked_at")
# In scope (public, CN) with nothing else: every other gate fails.
BARE_TAGS = {"compliance.audience": "public", "compliance.regions": "CN"}


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    return server_for(request, gated_servers, request.param)


@pytest.fixture
def reg(server: GatedServer, tmp_path: Path) -> RegistryHelper:
    return server.helper(tmp_path)


@pytest.fixture(autouse=True)
def _no_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5xx must show up as an error at once, not as minutes of client retries."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def noncompliant(reg: RegistryHelper, name: str) -> ModelVersion:
    return reg.create_version(name, BARE_TAGS)


def compliant(reg: RegistryHelper, name: str, source: str = "logged_model") -> ModelVersion:
    return reg.create_version(
        name, compliant_tags(), source=source, manifest=example_manifest()  # type: ignore[arg-type]
    )


def refused(call: Callable[[], Any]) -> RestException:
    """``call`` must fail with HTTP 403 PERMISSION_DENIED; the exception."""
    with pytest.raises(RestException) as info:
        call()
    exc = info.value
    assert exc.error_code == "PERMISSION_DENIED", exc.message
    assert exc.get_http_status_code() == 403
    return exc


def decision_tag_values(reg: RegistryHelper, name: str, version: str) -> dict[str, str]:
    tags = reg.tags(name, version)
    return {k: tags[k] for k in DECISION_TAGS if k in tags}


def assert_tagged(reg: RegistryHelper, name: str, version: str, entry: Any) -> None:
    """The version carries the four decision tags of ``entry``'s decision."""
    assert decision_tag_values(reg, name, version) == {
        "mlgate.decision": "allowed" if entry.allowed else "blocked",
        "mlgate.decision_id": entry.decision_id,
        "mlgate.policy_revision": entry.policy_revision,
        "mlgate.checked_at": entry.decision.evaluated_at,
    }


# --------------------------------------------------------------------------- aliases


def test_noncompliant_version_is_refused_with_the_reason(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    mv = noncompliant(reg, name)

    exc = refused(lambda: reg.client.set_registered_model_alias(name, "production", mv.version))

    assert reg.aliases(name) == {}
    [entry] = server.decisions(name)
    assert (entry.allowed, entry.enforcement, entry.target) == (False, "deny", "production")
    assert (entry.source, entry.actor) == ("server", "anonymous")
    assert "filing.status_missing" in entry.failing_codes
    assert "data_manifest.missing" in entry.failing_codes
    for code in entry.failing_codes:
        assert code in exc.message
    for gate in entry.decision.blocking_gates:
        assert f"gate {gate.id} ({gate.title}): fail" in exc.message
        assert f"fix: {gate.remediation}" in exc.message
    assert entry.decision_id in exc.message
    assert_tagged(reg, name, mv.version, entry)


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_compliant_version_is_promoted_and_logged(
    server: GatedServer, reg: RegistryHelper, source: str
) -> None:
    name = reg.unique("chat")
    mv = compliant(reg, name, source)

    reg.client.set_registered_model_alias(name, "production", mv.version)

    assert reg.aliases(name) == {"production": mv.version}
    [entry] = server.decisions(name)
    assert (entry.allowed, entry.enforcement, entry.source) == (True, "deny", "server")
    assert entry.failing_codes == []
    # The manifest was read through the server's artifact store (proxied artifacts).
    assert entry.gate_input["manifest"]["attached"] is True
    assert entry.gate_input["manifest"]["digest_computed"] == (
        entry.gate_input["manifest"]["digest_tagged"]
    )
    assert_tagged(reg, name, mv.version, entry)


def test_unprotected_alias_passes_and_is_logged_as_warn(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    mv = noncompliant(reg, name)

    reg.client.set_registered_model_alias(name, "staging", mv.version)

    assert reg.aliases(name) == {"staging": mv.version}
    [entry] = server.decisions(name)
    assert (entry.allowed, entry.enforcement, entry.target) == (True, "warn", "staging")
    assert "filing.status_missing" in entry.failing_codes  # reported, not enforced
    assert_tagged(reg, name, mv.version, entry)


@pytest.mark.parametrize("alias", ["PRODUCTION", "Champion", "public"])
def test_protected_aliases_compare_case_insensitively(
    server: GatedServer, reg: RegistryHelper, alias: str
) -> None:
    name = reg.unique("chat")
    mv = noncompliant(reg, name)

    refused(lambda: reg.client.set_registered_model_alias(name, alias, mv.version))

    assert reg.aliases(name) == {}
    [entry] = server.decisions(name)
    assert (entry.allowed, entry.enforcement, entry.target) == (False, "deny", alias)


def test_unknown_version_is_mlflows_not_found(server: GatedServer, reg: RegistryHelper) -> None:
    name = reg.unique("chat")
    noncompliant(reg, name)
    with pytest.raises(RestException) as info:
        reg.client.set_registered_model_alias(name, "production", "7")
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert server.decisions(name) == []


# --------------------------------------------------------------------------- stages


@pytest.mark.filterwarnings("ignore::FutureWarning")  # stages are deprecated in MLflow
@pytest.mark.parametrize("stage", ["Production", "production", "PRODUCTION"])
def test_stage_production_is_gated_in_any_case(
    server: GatedServer, reg: RegistryHelper, stage: str
) -> None:
    name = reg.unique("chat")
    bad, good = noncompliant(reg, name), compliant(reg, name)

    exc = refused(lambda: reg.client.transition_model_version_stage(name, bad.version, stage))
    moved = reg.client.transition_model_version_stage(name, good.version, stage)

    assert "stage 'Production'" in exc.message
    assert reg.client.get_model_version(name, bad.version).current_stage == "None"
    assert moved.current_stage == "Production"
    assert reg.client.get_model_version(name, good.version).current_stage == "Production"
    blocked, allowed = server.decisions(name)
    assert (blocked.version, blocked.allowed, blocked.target) == (bad.version, False, "Production")
    assert (allowed.version, allowed.allowed, allowed.target) == (good.version, True, "Production")
    assert blocked.gate_input["request"]["kind"] == "stage"
    assert_tagged(reg, name, bad.version, blocked)
    assert_tagged(reg, name, good.version, allowed)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_stage_staging_is_warn_and_archived_is_not_a_promotion(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    mv = noncompliant(reg, name)

    reg.client.transition_model_version_stage(name, mv.version, "staging")
    reg.client.transition_model_version_stage(name, mv.version, "Archived")

    assert reg.client.get_model_version(name, mv.version).current_stage == "Archived"
    [entry] = server.decisions(name)
    assert (entry.allowed, entry.enforcement, entry.target) == (True, "warn", "Staging")


# --------------------------------------------------------------------------- freeze


def test_evidence_is_frozen_while_the_version_holds_production(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    mv = compliant(reg, name)
    client, v = reg.client, mv.version
    client.set_registered_model_alias(name, "production", v)

    set_exc = refused(lambda: client.set_model_version_tag(name, v, "compliance.audience", "x"))
    delete_exc = refused(lambda: client.delete_model_version_tag(name, v, "compliance.regions"))
    client.set_model_version_tag(name, v, "team", "search")  # not evidence: allowed
    client.set_registered_model_alias(name, "production", v)  # re-check: tags rewritten

    for exc in (set_exc, delete_exc):
        assert "alias 'production'" in exc.message
        assert "frozen" in exc.message
    tags = reg.tags(name, v)
    assert (tags["compliance.audience"], tags["compliance.regions"]) == ("public", "CN,SG")
    assert tags["team"] == "search"
    first, second = server.decisions(name)
    assert first.allowed and second.allowed
    assert_tagged(reg, name, v, second)

    client.delete_registered_model_alias(name, "production")  # allowed, and logged
    client.set_model_version_tag(name, v, "compliance.audience", "research")
    client.delete_model_version_tag(name, v, "compliance.regions")

    tags = reg.tags(name, v)
    assert tags["compliance.audience"] == "research"
    assert "compliance.regions" not in tags
    assert f"deleted protected alias 'production' of model '{name}'" in server.server_log


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_evidence_is_frozen_while_the_version_is_in_stage_production(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    mv = compliant(reg, name)
    client, v = reg.client, mv.version
    client.transition_model_version_stage(name, v, "Production")

    exc = refused(lambda: client.set_model_version_tag(name, v, "compliance.filing.id", "x"))
    client.transition_model_version_stage(name, v, "Archived")
    client.set_model_version_tag(name, v, "compliance.filing.id", "x")

    assert "stage 'Production'" in exc.message
    assert reg.tags(name, v)["compliance.filing.id"] == "x"


# --------------------------------------------------------------------------- fail closed


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_engine_failure_refuses_with_403_never_5xx(
    request: pytest.FixtureRequest, gated_servers: ServerPool, tmp_path: Path
) -> None:
    server = server_for(request, gated_servers, "sqlite", "opa-down")
    reg = server.helper(tmp_path)
    name = reg.unique("chat")
    mv = compliant(reg, name)
    client, v = reg.client, mv.version

    for call in (
        lambda: client.set_registered_model_alias(name, "production", v),
        lambda: client.set_registered_model_alias(name, "staging", v),
    ):
        exc = refused(call)
        assert "could not check" in exc.message
        assert "fail closed" in exc.message
        assert "OPA" in exc.message
    refused(lambda: client.transition_model_version_stage(name, v, "Production"))

    assert reg.aliases(name) == {}
    assert client.get_model_version(name, v).current_stage == "None"
    assert server.decisions(name) == []  # no decision was made, so none is logged
    assert decision_tag_values(reg, name, v) == {}
    # The freeze needs no engine: evidence on an unpromoted version stays editable.
    client.set_model_version_tag(name, v, "compliance.filing.id", "x")


def test_bad_configuration_stops_the_server_at_start(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(RuntimeError) as info:
        start_mlflow_server(
            tmp_path,
            backend_store_uri=db,
            registry_store_uri="mlgate+" + db,
            env={"MLGATE_POLICIES": str(tmp_path / "nowhere")},
        )
    assert "mlgate registry store:" in str(info.value)
    assert "policy directory not found" in str(info.value)


# --------------------------------------------------------------------------- concurrency


def test_concurrent_promotions_are_each_logged_once(
    request: pytest.FixtureRequest, gated_servers: ServerPool, tmp_path: Path
) -> None:
    server = server_for(request, gated_servers, "postgresql")
    reg = server.helper(tmp_path)
    name = reg.unique("busy")
    versions = [compliant(reg, name) if i % 2 == 0 else noncompliant(reg, name) for i in range(20)]
    expected = {mv.version: i % 2 == 0 for i, mv in enumerate(versions)}
    barrier = threading.Barrier(len(versions))
    outcomes: dict[str, str] = {}

    def promote(version: str) -> None:
        client = MlflowClient(tracking_uri=server.url)
        barrier.wait()
        try:
            client.set_registered_model_alias(name, "production", version)
            outcomes[version] = "set"
        except RestException as exc:
            outcomes[version] = f"{exc.get_http_status_code()} {exc.error_code}"

    threads = [threading.Thread(target=promote, args=(mv.version,)) for mv in versions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a promotion never returned"

    assert outcomes == {
        v: "set" if ok else "403 PERMISSION_DENIED" for v, ok in expected.items()
    }
    entries = server.decisions(name)
    assert sorted(e.version for e in entries) == sorted(expected)  # one per attempt
    assert len({e.decision_id for e in entries}) == len(entries)
    for entry in entries:
        assert entry.allowed is expected[entry.version]
        assert entry.source == "server"
        assert_tagged(reg, name, entry.version, entry)
    assert expected[reg.aliases(name)["production"]] is True


# --------------------------------------------------------------------------- who


def test_the_user_mlflow_auth_verified_is_logged(
    request: pytest.FixtureRequest,
    gated_servers: ServerPool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    server = server_for(request, gated_servers, "sqlite", "basic-auth")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", AUTH_ADMIN[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", AUTH_ADMIN[1])
    reg = server.helper(tmp_path)
    name = reg.unique("chat")
    bad, good = noncompliant(reg, name), compliant(reg, name)

    refused(lambda: reg.client.set_registered_model_alias(name, "production", bad.version))
    reg.client.set_registered_model_alias(name, "champion", good.version)

    assert [(e.version, e.actor) for e in server.decisions(name)] == [
        (bad.version, AUTH_ADMIN[0]),
        (good.version, AUTH_ADMIN[0]),
    ]


# --------------------------------------------------------------------------- in-process


def test_evidence_changed_during_evaluation_is_evaluated_again(
    registry: RegistryHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store used in-process (``MlflowClient(registry_uri="mlgate+sqlite:...")``): a
    compliance tag written by someone else while the gate evaluates must not be promoted
    past. The store re-reads the evidence under the model's lock, sees the change, and
    decides again on the new evidence."""
    from mlgate.decisionlog import DecisionLog, current_actor, default_log_url
    from mlgate.registry import servergate

    for key in [k for k in os.environ if k.startswith("MLGATE_")]:
        monkeypatch.delenv(key)
    name = registry.unique("chat")
    mv = compliant(registry, name, "run")
    gated = MlflowClient(
        tracking_uri=registry.tracking_uri, registry_uri="mlgate+" + registry.tracking_uri
    )
    original = servergate.Gate.decide
    calls: list[str] = []

    def decide_while_someone_edits(
        self: Any, evidence: Any, target: str, kind: str, *rest: Any
    ) -> Any:
        if not calls:  # the first evaluation: another writer withdraws the filing
            registry.client.set_model_version_tag(
                name, mv.version, "compliance.filing.status", "pending"
            )
        calls.append(evidence.tags.get("compliance.filing.status", ""))
        return original(self, evidence, target, kind, *rest)

    monkeypatch.setattr(servergate.Gate, "decide", decide_while_someone_edits)

    with pytest.raises(MlflowException) as info:  # in-process: no HTTP, the exception itself
        gated.set_registered_model_alias(name, "production", mv.version)

    assert info.value.error_code == "PERMISSION_DENIED"
    assert calls == ["completed", "pending"]
    assert registry.aliases(name) == {}
    with DecisionLog(default_log_url(registry.tracking_uri)) as log:
        # The first (allowed) decision was never applied, so it is not in the record.
        [entry] = log.entries(model=name)
    assert entry.allowed is False
    assert entry.failing_codes == ["filing.not_completed"]
    assert entry.actor == current_actor()  # not a server: the OS user
    assert_tagged(registry, name, mv.version, entry)


def test_the_ui_route_is_gated_too(server: GatedServer, reg: RegistryHelper) -> None:
    """The MLflow UI sets aliases through ``/ajax-api``: the same store, the same 403."""
    name = reg.unique("chat")
    mv = noncompliant(reg, name)
    body = json.dumps({"name": name, "alias": "production", "version": mv.version}).encode()
    call = urllib.request.Request(
        f"{server.url}/ajax-api/2.0/mlflow/registered-models/alias",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(call, timeout=30)

    assert info.value.code == 403
    answer = json.loads(info.value.read())
    assert answer["error_code"] == "PERMISSION_DENIED"
    assert "filing.status_missing" in answer["message"]
    assert reg.aliases(name) == {}
