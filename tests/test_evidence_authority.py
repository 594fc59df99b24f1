"""Evidence authority and the evidence ledger on a real ``mlflow server --app-name
basic-auth`` with an ``mlgate+`` registry (sqlite, PostgreSQL, MariaDB).

Users are created through MLflow's own auth API (:class:`AuthServiceClient`); every user
has MANAGE (MLflow's permissions let anyone tag and promote), and the server runs the
page inside basic-auth (``--app-name mlgate-basic-auth``); the policy copy names
``officer`` the only evidence writer (policy data ``evidence.writers``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import RestException
from mlflow.server.auth.client import AuthServiceClient

from evidence_fixtures import compliant_tags, example_manifest
from fixtures_mlflow import RegistryHelper
from fixtures_server import AUTH_ADMIN, BACKENDS, GatedServer, ServerPool, server_for

PASSWORD = "mlgate-test-user-password-1"
USERS = ("developer", "officer", "releaser")


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    pytest.importorskip("flask_wtf", reason="MLflow's basic-auth app needs mlflow[auth]")
    server = server_for(request, gated_servers, request.param, "authority")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_USERNAME", AUTH_ADMIN[0])
    mp.setenv("MLFLOW_TRACKING_PASSWORD", AUTH_ADMIN[1])
    try:
        auth = AuthServiceClient(server.url)
        for user in USERS:
            try:
                auth.create_user(user, PASSWORD)
            except RestException as exc:  # already there (the server is shared)
                assert exc.error_code == "RESOURCE_ALREADY_EXISTS", exc.message
    finally:
        mp.undo()
    return server


@pytest.fixture(autouse=True)
def _no_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def as_user(monkeypatch: pytest.MonkeyPatch, user: str) -> None:
    password = AUTH_ADMIN[1] if user == AUTH_ADMIN[0] else PASSWORD
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def write_evidence(reg: RegistryHelper, name: str, version: str) -> None:
    """The compliant evidence and its data manifest, as the user the environment names."""
    for key, value in compliant_tags().items():
        reg.client.set_model_version_tag(name, version, key, value)
    reg.attach(name, version, example_manifest())


@pytest.fixture
def officers_version(
    server: GatedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[RegistryHelper, str, str]:
    """A version the admin created and the officer wrote all the evidence of (the
    environment still names the officer): its registry, name and version."""
    as_user(monkeypatch, AUTH_ADMIN[0])
    reg = server.helper(tmp_path)
    name = reg.unique("chat")
    version = str(reg.create_version(name).version)
    as_user(monkeypatch, "officer")
    write_evidence(reg, name, version)
    return reg, name, version


def refused(call: object) -> RestException:
    with pytest.raises(RestException) as info:
        call()  # type: ignore[operator]
    assert info.value.error_code == "PERMISSION_DENIED", info.value.message
    assert info.value.get_http_status_code() == 403
    return info.value


def test_only_listed_writers_write_compliance_evidence(
    server: GatedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    as_user(monkeypatch, AUTH_ADMIN[0])
    reg = server.helper(tmp_path)
    name = reg.unique("chat")
    mv = reg.create_version(name, {"team": "nlp"})
    version = str(mv.version)

    # The admin is no evidence writer either: creating a version with evidence is refused.
    exc = refused(lambda: reg.create_version(name, {"compliance.audience": "public"}))
    assert "evidence.writers" in exc.message

    as_user(monkeypatch, "developer")
    for key in ("compliance.filing.status", "COMPLIANCE.filing.status", "compliance.fíling.status"):
        exc = refused(lambda k=key: reg.client.set_model_version_tag(name, version, k, "completed"))
        assert "'developer' is not listed in policy data evidence.writers" in exc.message
    reg.client.set_model_version_tag(name, version, "notes", "anyone may write this")
    assert "compliance.filing.status" not in reg.tags(name, version)

    as_user(monkeypatch, "officer")
    write_evidence(reg, name, version)
    reg.client.set_model_version_tag(name, version, "compliance.filing.status", "pending")
    reg.client.set_model_version_tag(name, version, "compliance.filing.status", "completed")

    as_user(monkeypatch, "developer")
    refused(lambda: reg.client.delete_model_version_tag(name, version, "compliance.filing.id"))

    history = server.decision_log.evidence_history(name, version)
    assert {row.writer for row in history} == {"officer"}
    assert all(row.source.startswith("POST ") for row in history)
    filing = [(r.old_value, r.new_value) for r in history if r.key == "compliance.filing.status"]
    assert filing == [(None, "completed"), ("completed", "pending"), ("pending", "completed")]
    written = {r.key for r in history}
    assert written == set(compliant_tags()) | {"compliance.data_manifest.sha256"}

    from mlgate.ledger import provenance

    tags = {k: v for k, v in reg.tags(name, version).items() if k.startswith("compliance.")}
    known = provenance(tags, history)
    assert {p.writer for p in known.values()} == {"officer"}

    as_user(monkeypatch, "officer")
    reg.client.delete_model_version_tag(name, version, "compliance.filing.id")
    last = server.decision_log.evidence_history(name, version)[-1]
    assert (last.key, last.old_value, last.new_value, last.writer) == (
        "compliance.filing.id", compliant_tags()["compliance.filing.id"], None, "officer"
    )


def test_four_eyes_blocks_the_writer_and_allows_another_user(
    server: GatedServer, officers_version: tuple[RegistryHelper, str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg, name, version = officers_version
    # The officer wrote all of the evidence: the officer promoting it is self-approval.
    exc = refused(lambda: reg.client.set_registered_model_alias(name, "production", version))
    assert "promotion.four_eyes" in exc.message
    assert reg.aliases(name) == {}

    as_user(monkeypatch, "releaser")
    reg.client.set_registered_model_alias(name, "production", version)
    assert reg.aliases(name) == {"production": version}

    [blocked, allowed] = server.decisions(name)
    assert (blocked.allowed, blocked.actor, blocked.failing_codes) == (
        False, "officer", ["promotion.four_eyes"]
    )
    assert (allowed.allowed, allowed.actor) == (True, "releaser")
    assert allowed.gate_input["promoted_by"] == "releaser"
    assert {p["writer"] for p in allowed.gate_input["provenance"].values()} == {"officer"}

    # The release managers' page shows who wrote the evidence each decision was made on.
    import base64
    import urllib.parse
    import urllib.request

    token = base64.b64encode(f"{AUTH_ADMIN[0]}:{AUTH_ADMIN[1]}".encode()).decode()
    call = urllib.request.Request(
        f"{server.url}/mlgate/?" + urllib.parse.urlencode({"model": name, "view": "history"}),
        headers={"Authorization": f"Basic {token}"},
    )
    with urllib.request.urlopen(call, timeout=30) as answer:
        page = answer.read().decode()
    assert "evidence decided on: who wrote it" in page
    assert 'data-key="compliance.filing.status"' in page
    assert '<span class="writer">officer</span>' in page


def test_four_eyes_blocks_evidence_of_unknown_origin(
    server: GatedServer, officers_version: tuple[RegistryHelper, str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Evidence written straight into the database (no ledger row) has no known writer."""
    import sqlalchemy as sa

    reg, name, version = officers_version
    engine = sa.create_engine(server.store_uri)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE model_version_tags SET value = :v WHERE name = :n "
                        "AND version = :ver AND `key` = 'compliance.filing.id'"
                        .replace("`", '"' if server.backend != "mysql" else "`")),
                {"v": "Beijing-WXSuanFa-20249999", "n": name, "ver": int(version)},
            )
    finally:
        engine.dispose()

    as_user(monkeypatch, "releaser")
    exc = refused(lambda: reg.client.set_registered_model_alias(name, "production", version))
    assert "promotion.provenance_unknown" in exc.message
    assert "compliance.filing.id" in exc.message


def test_a_look_alike_write_is_in_the_ledger_under_the_key_the_registry_holds(
    server: GatedServer, officers_version: tuple[RegistryHelper, str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The officer writes ``COMPLIANCE.filing.status``. MariaDB's collation matches it to
    the stored ``compliance.filing.status`` row and MLflow's merge replaces that row's key;
    sqlite and PostgreSQL keep both rows. Either way the ledger row names the key the
    registry now holds (so the writer of every current tag stays known), and the fact
    reads as invalid: a look-alike is never believed."""
    from mlgate.ledger import provenance
    from mlgate.names import fold

    reg, name, version = officers_version
    look_alike = "COMPLIANCE.filing.status"
    reg.client.set_model_version_tag(name, version, look_alike, "completed")

    tags = {k: v for k, v in reg.tags(name, version).items()
            if fold(k).startswith("compliance.")}
    merged = server.backend == "mysql"
    assert (look_alike in tags, "compliance.filing.status" in tags) == (True, not merged)
    history = server.decision_log.evidence_history(name, version)
    assert history[-1].key == look_alike
    assert {k: p.writer for k, p in provenance(tags, history).items()} == dict.fromkeys(
        tags, "officer"
    )

    as_user(monkeypatch, "releaser")
    exc = refused(lambda: reg.client.set_registered_model_alias(name, "production", version))
    assert "filing.status_invalid" in exc.message
    assert f"remove the look-alike tag {look_alike!r}" in exc.message
    assert reg.aliases(name) == {}
