"""Bypass regression suite (issue 9): ways around the server-side gate, each kept closed.

Against real ``mlflow server`` processes with the ``mlgate+`` store (the session's pool in
``fixtures_server.py``) on sqlite, PostgreSQL and MariaDB, through the plain MLflow client
or raw HTTP: look-alike aliases and compliance keys (MariaDB's default collation matches
``prodúction`` to ``production``), renames, copies, unreadable evidence, the policy
directory vanishing under a running server, concurrent refusals, artifact writes through
the proxy, prompts, every registry write route in the server's URL map, and concurrent
promotions racing tag writes.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from mlflow.entities.model_registry import ModelVersion, ModelVersionTag
from mlflow.exceptions import MlflowException, RestException
from mlflow.tracking import MlflowClient

from fixtures_mlflow import (
    RegistryHelper,
    _stop,
    compliant_tags,
    example_manifest,
    start_mlflow_server,
)
from fixtures_server import BACKENDS, GatedServer, ServerPool, server_for

BARE_TAGS = {"compliance.audience": "public", "compliance.regions": "CN"}
MANIFEST = "compliance/data_manifest.json"


@pytest.fixture(scope="module", params=BACKENDS)
def server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    return server_for(request, gated_servers, request.param)


@pytest.fixture
def reg(server: GatedServer, tmp_path: Path) -> RegistryHelper:
    return server.helper(tmp_path)


@pytest.fixture
def sqlite_server(request: pytest.FixtureRequest, gated_servers: ServerPool) -> GatedServer:
    return server_for(request, gated_servers, "sqlite")


@pytest.fixture(autouse=True)
def _no_client_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")


def noncompliant(reg: RegistryHelper, name: str) -> ModelVersion:
    return reg.create_version(name, BARE_TAGS)


def compliant(reg: RegistryHelper, name: str, source: str = "logged_model",
              **overrides: str) -> ModelVersion:
    return reg.create_version(
        name, compliant_tags(**overrides), source=source,  # type: ignore[arg-type]
        manifest=example_manifest(),
    )


def refused(call: Callable[[], Any]) -> RestException:
    with pytest.raises(RestException) as info:
        call()
    exc = info.value
    assert (exc.get_http_status_code(), exc.error_code) == (403, "PERMISSION_DENIED"), exc.message
    return exc


def outcome(call: Callable[[], Any]) -> str:
    """``ok`` or ``<status> <error code>``: what a client saw."""
    try:
        call()
    except MlflowException as exc:  # RestException, or MLflow's wrapping of one
        return f"{exc.get_http_status_code()} {exc.error_code}"
    return "ok"


def http(server: GatedServer, method: str, path: str, body: Any = None,
         data: bytes | None = None, query: dict[str, str] | None = None) -> tuple[int, dict]:
    """A raw request (no MLflow client): status and JSON answer (``{}`` when empty)."""
    url = server.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
    payload = data if data is not None else (
        json.dumps(body).encode() if body is not None else None
    )
    request = urllib.request.Request(url, data=payload, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        text, status = exc.read(), exc.code
    try:
        answer = json.loads(text) if text else {}
    except ValueError:
        answer = {"raw": text.decode(errors="replace")}
    return status, answer if isinstance(answer, dict) else {"raw": answer}


def artifact_path(reg: RegistryHelper, mv: ModelVersion) -> str:
    """The version's artifact folder relative to the server's artifact destination."""
    from mlgate.evidence import Registry

    location = Registry(reg.tracking_uri).artifact_location(mv)
    assert location.startswith("mlflow-artifacts:"), location
    return urllib.parse.urlsplit(location).path.lstrip("/")


# --------------------------------------------------------------------------- A.1 look-alikes

# alias -> the protected alias it imitates (None: a hidden character), or MLflow's own 400.
LOOKALIKE_ALIASES: dict[str, str | None] = {
    "prodúction": "production",  # accent
    "PRODUCTİON": "production",  # dotted capital I
    "publıc": "public",  # dotless i
    "chámpion": "champion",
    "ｐｒｏｄｕｃｔｉｏｎ": "production",  # full-width
    "prоduction": "production",  # Cyrillic о
    "Сhampion": "champion",  # Cyrillic С
    "production\n": None,  # a line break the UI does not show
}
MLFLOW_REJECTS = ["production ", "prod\u200buction", "production\u00a0"]  # 400 from MLflow


def test_lookalike_aliases_never_move_the_protected_alias(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("chat")
    good, bad = compliant(reg, name), noncompliant(reg, name)
    client = reg.client
    client.set_registered_model_alias(name, "production", good.version)
    messages: dict[str, str] = {}
    seen: dict[str, str] = {}

    for alias in [*LOOKALIKE_ALIASES, *MLFLOW_REJECTS, "PRODUCTION"]:
        # Raw HTTP: the client validates names itself; the server is what must hold.
        status, answer = http(server, "POST", "/api/2.0/mlflow/registered-models/alias",
                              {"name": name, "alias": alias, "version": bad.version})
        seen[alias] = "ok" if status == 200 else f"{status} {answer.get('error_code')}"
        messages[alias] = answer.get("message", "")

    assert seen == {
        **{alias: "403 PERMISSION_DENIED" for alias in LOOKALIKE_ALIASES},
        **{alias: "400 INVALID_PARAMETER_VALUE" for alias in MLFLOW_REJECTS},
        "PRODUCTION": "403 PERMISSION_DENIED",  # a plain case variant: enforced, blocked
    }
    for alias, imitated in LOOKALIKE_ALIASES.items():
        if imitated is None:
            assert "control or line-break character" in messages[alias]
            assert "\\x0a" in messages[alias]  # shown, not raw
        else:
            assert f"imitates the protected alias '{imitated}'" in messages[alias]
    assert messages["PRODUCTION"].startswith("blocked by ")
    assert str(client.get_model_version_by_alias(name, "production").version) == good.version
    assert reg.aliases(name) == {"production": good.version}
    # Only the plain case variant was a promotion (evaluated, logged); the rest never were.
    assert [(e.target, e.allowed) for e in server.decisions(name)] == [
        ("production", True), ("PRODUCTION", False)
    ]


def test_lookalike_compliance_keys_are_frozen(server: GatedServer, reg: RegistryHelper) -> None:
    name = reg.unique("chat")
    mv = compliant(reg, name)
    other = noncompliant(reg, name)
    client, v = reg.client, mv.version
    client.set_registered_model_alias(name, "production", v)
    before = reg.tags(name, v)

    attempts = {
        "set COMPLIANCE.filing.status": lambda: client.set_model_version_tag(
            name, v, "COMPLIANCE.filing.status", "pending"),
        "set Compliance.Filing.Status": lambda: client.set_model_version_tag(
            name, v, "Compliance.Filing.Status", "pending"),
        "set cоmpliance (Cyrillic о)": lambda: client.set_model_version_tag(
            name, v, "cоmpliance.filing.status", "pending"),
        "set compliánce.filing.status": lambda: client.set_model_version_tag(
            name, v, "compliánce.filing.status", "pending"),
        "delete COMPLIANCE.DATA_MANIFEST.SHA256": lambda: client.delete_model_version_tag(
            name, v, "COMPLIANCE.DATA_MANIFEST.SHA256"),
    }
    seen = {what: outcome(call) for what, call in attempts.items()}

    assert seen == dict.fromkeys(attempts, "403 PERMISSION_DENIED")
    assert reg.tags(name, v) == before
    assert str(client.get_model_version_by_alias(name, "production").version) == v
    # Not a blanket refusal: a version holding nothing takes the same key.
    client.set_model_version_tag(name, other.version, "COMPLIANCE.note", "x")


# --------------------------------------------------------------------------- A.6 renames


def test_a_rename_is_evaluated_under_the_new_name(
    request: pytest.FixtureRequest, gated_servers: ServerPool, tmp_path: Path
) -> None:
    """``legacy-*`` has a waiver for the filing gate: promoting there is allowed, and a
    rename out of its reach would launder the waiver."""
    server = server_for(request, gated_servers, "sqlite", "custom-policies")
    reg = server.helper(tmp_path)
    name, suffix = reg.unique("legacy-bot"), uuid.uuid4().hex[:8]
    mv = compliant(reg, name, **{"filing.status": "pending"})
    client = reg.client
    client.set_registered_model_alias(name, "production", mv.version)  # waived

    exc = refused(lambda: client.rename_registered_model(name, f"chatbot-{suffix}"))
    client.rename_registered_model(name, f"legacy-other-{suffix}")  # still waived

    assert "would be blocked under the new name" in exc.message
    assert "filing.not_completed" in exc.message
    assert str(client.get_model_version_by_alias(f"legacy-other-{suffix}", "production")
               .version) == mv.version
    [blocked] = server.decisions(f"chatbot-{suffix}")
    assert (blocked.allowed, blocked.target) == (False, "production")
    assert blocked.failing_codes == ["filing.not_completed"]


def test_a_rename_sees_evidence_changed_behind_the_servers_back(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    """The manifest rewritten directly in the artifact store (what the server cannot
    stop): the next promotion-relevant act, a rename, finds the digest mismatch."""
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    mv = compliant(reg, name)
    reg.client.set_registered_model_alias(name, "production", mv.version)
    stored = sqlite_server.root / "artifacts" / artifact_path(reg, mv) / MANIFEST
    stored.write_bytes(stored.read_bytes() + b"\n")

    exc = refused(lambda: reg.client.rename_registered_model(name, name + "-new"))

    assert "data_manifest.digest_mismatch" in exc.message
    assert reg.aliases(name) == {"production": mv.version}


# --------------------------------------------------------------------------- A.8


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_unreadable_evidence_only_warns_for_unprotected_targets(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    client = reg.client
    client.create_registered_model(name)
    # No S3 client library on the server: its artifacts cannot be read.
    mv = client.create_model_version(name, "s3://mlgate-no-such-bucket/model", tags=BARE_TAGS)

    client.set_registered_model_alias(name, "candidate", mv.version)
    client.transition_model_version_stage(name, mv.version, "Staging")
    exc = refused(lambda: client.set_registered_model_alias(name, "production", mv.version))

    assert reg.aliases(name) == {"candidate": mv.version}
    assert client.get_model_version(name, mv.version).current_stage == "Staging"
    assert "could not check" in exc.message
    candidate, staging = sqlite_server.decisions(name)
    for entry, target in ((candidate, "candidate"), (staging, "Staging")):
        assert (entry.allowed, entry.enforcement, entry.target) == (True, "warn", target)
        [note] = [w for w in entry.decision.warnings if "could not be read" in w]
        assert "s3://mlgate-no-such-bucket" in note


def test_a_copy_has_no_decision_tags_and_is_promotable(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    mv = compliant(reg, name, source="run")
    client = reg.client
    client.set_registered_model_alias(name, "production", mv.version)
    assert reg.tags(name, mv.version)["mlgate.decision"] == "allowed"

    copy = client.copy_model_version(f"models:/{name}/{mv.version}", name + "-copy")
    tags = reg.tags(copy.name, copy.version)
    client.set_registered_model_alias(copy.name, "production", copy.version)

    assert not [k for k in tags if k.startswith("mlgate.")]
    assert {k: v for k, v in tags.items() if k.startswith("compliance.")} == {
        k: v for k, v in reg.tags(name, mv.version).items() if k.startswith("compliance.")
    }
    [entry] = sqlite_server.decisions(copy.name)
    assert entry.allowed and entry.gate_input["manifest"]["attached"] is True


# --------------------------------------------------------------------------- A.9 faults


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_policy_directory_removed_while_the_server_runs(tmp_path: Path) -> None:
    """The policy set is read once at start: a removed (or broken) directory changes
    nothing for the running server: reads work, promotions are decided as before."""
    from mlgate.policy import bundled_dir

    policies = tmp_path / "policies"
    shutil.copytree(bundled_dir("policies"), policies)
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc, url = start_mlflow_server(
        tmp_path, backend_store_uri=db, registry_store_uri="mlgate+" + db,
        env={"MLGATE_POLICIES": str(policies)},
    )
    try:
        shutil.rmtree(policies)  # before the worker's first registry call
        reg = RegistryHelper(url, tmp_path, MlflowClient(url).create_experiment("x"),
                             MlflowClient(url))
        name = reg.unique("chat")
        bad, good = noncompliant(reg, name), compliant(reg, name)

        assert [m.name for m in reg.client.search_registered_models()] == [name]
        exc = refused(lambda: reg.client.set_registered_model_alias(
            name, "production", bad.version))
        reg.client.set_registered_model_alias(name, "production", good.version)

        assert exc.message.startswith("PERMISSION_DENIED: blocked by ")
        assert reg.aliases(name) == {"production": str(good.version)}
    finally:
        _stop(proc)


def test_a_worker_without_its_policy_set_serves_reads_and_refuses_promotions(
    registry: RegistryHelper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store built in a server worker (as MLflow builds it) that cannot read its
    policies and has no start-up copy of them: no 5xx for reads, 403 for promotions."""
    from mlgate.registry import store

    for key in [k for k in os.environ if k.startswith("MLGATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.delenv("_MLGATE_SERVER_POLICY_SET", raising=False)
    name = registry.unique("chat")
    mv = compliant(registry, name, source="run")
    registry.client.set_registered_model_alias(name, "staging", mv.version)
    monkeypatch.setenv("_MLFLOW_SERVER_REGISTRY_STORE", "mlgate+" + registry.tracking_uri)
    monkeypatch.setenv("MLGATE_POLICIES", str(tmp_path / "gone"))
    gated = store.build_store("mlgate+" + registry.tracking_uri, registry.tracking_uri)

    assert gated.get_registered_model(name).name == name  # reads work
    messages = []
    for call in (
        lambda: gated.set_registered_model_alias(name, "production", mv.version),
        lambda: gated.set_registered_model_alias(name, "candidate", mv.version),
        # Evidence is refused too: without its policies the server cannot tell who may
        # write it (evidence.writers), whatever aliases the version holds.
        lambda: gated.set_model_version_tag(
            name, mv.version, ModelVersionTag("compliance.x", "1")),
    ):
        with pytest.raises(MlflowException) as info:
            call()
        assert info.value.error_code == "PERMISSION_DENIED"
        messages.append(info.value.message)
    assert "policy directory not found" in messages[0]
    assert "policy directory not found" in messages[1]
    assert "compliance.x" in messages[2] and "policy directory not found" in messages[2]
    assert registry.aliases(name) == {"staging": str(mv.version)}
    # Parking a version is not a promotion: it needs no policy.
    gated.transition_model_version_stage(name, mv.version, "Archived", False)
    assert registry.client.get_model_version(name, mv.version).current_stage == "Archived"


def test_concurrent_refusals_of_one_version_all_answer_403(
    server: GatedServer, reg: RegistryHelper
) -> None:
    name = reg.unique("busy")
    mv = noncompliant(reg, name)
    count = 8
    barrier = threading.Barrier(count)
    seen: list[str] = []

    def promote() -> None:
        client = MlflowClient(tracking_uri=server.url)
        barrier.wait()
        seen.append(outcome(lambda: client.set_registered_model_alias(
            name, "production", mv.version)))

    threads = [threading.Thread(target=promote) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert seen == ["403 PERMISSION_DENIED"] * count
    entries = server.decisions(name)
    assert len(entries) == count and not any(e.allowed for e in entries)
    assert reg.tags(name, mv.version)["mlgate.decision"] == "blocked"


# --------------------------------------------------------------------------- A.11


def test_the_evidence_of_a_protected_version_cannot_be_rewritten_through_the_proxy(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    held, free = compliant(reg, name), compliant(reg, name)
    reg.client.set_registered_model_alias(name, "production", held.version)
    original = reg.download_manifest(name, held.version)
    base = artifact_path(reg, held)

    answers = {
        f"{method} {prefix}{path}": http(sqlite_server, method,
                                         f"{prefix}/2.0/mlflow-artifacts/artifacts/{path}",
                                         data=b"{}" if method == "PUT" else None)[0]
        for prefix in ("/api", "/ajax-api")
        for method, path in (("PUT", f"{base}/{MANIFEST}"), ("DELETE", f"{base}/{MANIFEST}"),
                             ("DELETE", f"{base}/compliance"), ("DELETE", base))
    }
    with pytest.raises(Exception):  # noqa: B017,PT011 - the client's own error for a 403
        reg.overwrite_manifest(name, held.version, b'{"tampered": true}')

    assert answers == dict.fromkeys(answers, 403)
    assert reg.download_manifest(name, held.version) == original
    # A version holding nothing protected: its evidence is editable.
    reg.overwrite_manifest(name, free.version, b'{"edited": true}')
    assert reg.download_manifest(name, free.version) == b'{"edited": true}'


def test_prompt_aliases_are_gated_only_when_policy_data_says_so(
    sqlite_server: GatedServer,
    request: pytest.FixtureRequest,
    gated_servers: ServerPool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    from mlgate.evidence import global_mlflow_uri

    gated = server_for(request, gated_servers, "sqlite", "custom-policies")
    seen = {}
    for server in (sqlite_server, gated):
        name = f"prompt-{uuid.uuid4().hex[:8]}"
        with global_mlflow_uri(server.url):
            prompt = mlflow.genai.register_prompt(name=name, template="Answer {{question}}")
            seen[server.variant] = outcome(
                lambda n=name, v=prompt.version: mlflow.genai.set_prompt_alias(
                    n, "production", v)
            )

    assert seen == {"default": "ok", "custom-policies": "403 PERMISSION_DENIED"}


def test_a_model_dressed_as_a_prompt_is_still_gated(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    """The prompt marker is a tag anyone can write on a registered model: a version of it
    that is not a prompt version (MLflow's own marker and placeholder source; MLflow refuses
    a real source beside that marker) is gated."""
    server, reg = sqlite_server, sqlite_server.helper(tmp_path)
    source = compliant(reg, reg.unique("src"))
    name = reg.unique("chat")
    marker = {"key": "mlflow.prompt.is_prompt", "value": "true"}
    # Raw HTTP: the MLflow client refuses to create a model tagged as a prompt.
    http(server, "POST", "/api/2.0/mlflow/registered-models/create",
         {"name": name, "tags": [marker]})
    status, created = http(server, "POST", "/api/2.0/mlflow/model-versions/create", {
        "name": name, "source": f"models:/{source.name}/{source.version}",
        "tags": [{"key": k, "value": v} for k, v in BARE_TAGS.items()],
    })
    assert status == 200, created

    status, answer = http(server, "POST", "/api/2.0/mlflow/registered-models/alias",
                          {"name": name, "alias": "production", "version": "1"})

    # Gated: evaluated (MLflow's client, which the gate reads through, hides models marked
    # as prompts, so the evidence cannot be read: refused, fail closed).
    assert (status, answer["error_code"]) == (403, "PERMISSION_DENIED")
    assert "could not check" in answer["message"] or answer["message"].startswith("blocked")


# --------------------------------------------------------------------------- every route

# Every registry write route of the server's URL map (Flask and FastAPI), and how it is
# kept from moving a protected alias or stage or changing evidence. A route MLflow adds
# that is not listed here fails test_every_registry_write_route_is_covered.
ROUTES: dict[str, str] = {
    "POST /mlflow/registered-models/alias": "gated: set_registered_model_alias",
    "DELETE /mlflow/registered-models/alias": "a removal, logged to the server log",
    "POST /mlflow/model-versions/transition-stage": "gated: transition_model_version_stage",
    "POST /mlflow/model-versions/set-tag": "frozen: set_model_version_tag",
    "DELETE /mlflow/model-versions/delete-tag": "frozen: delete_model_version_tag",
    "POST /mlflow/registered-models/rename": "gated: rename_registered_model",
    "POST /mlflow/model-versions/create": "mlgate.* tags dropped (copies)",
    "POST /mlflow/registered-models/create": "a new model holds no position",
    "PATCH /mlflow/registered-models/update": "description only",
    "PATCH /mlflow/model-versions/update": "description only",
    "DELETE /mlflow/registered-models/delete": "a removal",
    "DELETE /mlflow/model-versions/delete": "a removal",
    "POST /mlflow/registered-models/set-tag": "model tags are not evidence; prompt marker checked "
                                       "on the version and its source",
    "DELETE /mlflow/registered-models/delete-tag": "model tags are not evidence",
    "POST /mlflow/registered-models/get-latest-versions": "a read",
    "PUT /mlflow-artifacts/artifacts/<path>": "guarded artifact repository",
    "DELETE /mlflow-artifacts/artifacts/<path>": "guarded artifact repository",
    "POST /mlflow-artifacts/mpu/create/<path>": "guarded artifact repository",
    "POST /mlflow-artifacts/mpu/complete/<path>": "guarded artifact repository",
    "POST /mlflow-artifacts/mpu/abort/<path>": "aborting an upload writes nothing",
    "POST /mlflow/upload-artifact": "guarded by a Flask request hook",
}
_WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_RELEVANT = ("registered-model", "model-version", "mlflow-artifacts", "upload-artifact",
             "alias", "/stage", "prompts/")


def _route_key(method: str, path: str) -> str:
    """``PUT /api/2.0/mlflow-artifacts/artifacts/{artifact_path:path}`` ->
    ``PUT /mlflow-artifacts/artifacts/<path>`` (both API prefixes, any version)."""
    path = re.sub(r"[{<][^}>]*artifact_path[^}>]*[}>]", "<path>", path)
    path = re.sub(r"^/(ajax-)?api/\d+\.\d+", "", path)
    return f"{method} {path}"


def server_write_routes() -> set[str]:
    """Registry-relevant write routes of ``mlflow server``'s apps, keyed like ROUTES."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from mlflow.server import app as flask_app
        from mlflow.server.fastapi_app import app as fastapi_app

    found: set[str] = set()
    rules = [(r.rule, r.methods or set()) for r in flask_app.url_map.iter_rules()]
    for router in fastapi_app.router.routes:
        original = getattr(router, "original_router", None)
        for route in getattr(original, "routes", []):
            context = getattr(router, "include_context", None)
            prefix = getattr(context, "prefix", "") + getattr(original, "prefix", "")
            rules.append((prefix + getattr(route, "path", ""), getattr(route, "methods", set())))
    for path, methods in rules:
        if "mcp-servers" in path or "prompt-optimization" in path or "link-prompts" in path:
            continue  # MCP servers and prompt jobs live in the tracking store, not the registry
        if not any(word in path for word in _RELEVANT):
            continue
        for method in set(methods) & _WRITE_METHODS:
            found.add(_route_key(method, path))
    return found


def test_every_registry_write_route_is_covered() -> None:
    assert server_write_routes() == set(ROUTES)


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("prefix", ["/api", "/ajax-api"])
def test_every_gated_route_refuses_over_http(
    sqlite_server: GatedServer, tmp_path: Path, prefix: str
) -> None:
    server, reg = sqlite_server, sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    held, bad = compliant(reg, name, source="run"), noncompliant(reg, name)
    reg.client.set_registered_model_alias(name, "production", held.version)
    api = f"{prefix}/2.0/mlflow"
    run_id = held.run_id
    base = artifact_path(reg, held)

    answers = {
        "alias": http(server, "POST", f"{api}/registered-models/alias",
                      {"name": name, "alias": "production", "version": bad.version}),
        "look-alike alias": http(server, "POST", f"{api}/registered-models/alias",
                                 {"name": name, "alias": "prodúction", "version": bad.version}),
        "stage": http(server, "POST", f"{api}/model-versions/transition-stage",
                      {"name": name, "version": bad.version, "stage": "Production",
                       "archive_existing_versions": False}),
        "set-tag": http(server, "POST", f"{api}/model-versions/set-tag",
                        {"name": name, "version": held.version,
                         "key": "compliance.filing.status", "value": "pending"}),
        "delete-tag": http(server, "DELETE", f"{api}/model-versions/delete-tag",
                           {"name": name, "version": held.version,
                            "key": "Compliance.Filing.Id"}),
        "upload into the run": http(server, "POST", f"{api}/upload-artifact", data=b"{}",
                                    query={"run_uuid": run_id,
                                           "path": f"model/{MANIFEST}"}),
    }
    # A local destination has no multipart uploads (501 before any write); on one that has
    # them, the guarded repository refuses.
    mpu, _ = http(server, "POST", f"{prefix}/2.0/mlflow-artifacts/mpu/create/{base}/{MANIFEST}",
                  {"path": f"{base}/{MANIFEST}", "num_parts": 1})
    assert mpu in (403, 501)
    status, created = http(server, "POST", f"{api}/model-versions/create", {
        "name": name, "source": f"models:/{name}/{held.version}",
        "tags": [{"key": "mlgate.decision", "value": "allowed"},
                 {"key": "MLGATE.decision_id", "value": "forged"}],
    })

    assert {k: (s, a.get("error_code")) for k, (s, a) in answers.items()} == dict.fromkeys(
        answers, (403, "PERMISSION_DENIED")
    )
    assert status == 200
    assert not [t for t in created["model_version"].get("tags", [])
                if t["key"].lower().startswith("mlgate.")]
    assert reg.aliases(name) == {"production": held.version}
    assert reg.tags(name, held.version)["compliance.filing.status"] == "completed"
    for _, answer in answers.values():  # no SQL text, no traceback
        assert "SELECT" not in answer["message"] and "INSERT" not in answer["message"]


# --------------------------------------------------------------------------- concurrency


def test_concurrent_promotions_against_concurrent_tag_writes(
    server: GatedServer, reg: RegistryHelper
) -> None:
    """Promoters move ``production`` among versions while writers flip their filing
    status. At the end the holder is compliant, every promotion request left exactly one
    log row (none when refused for evidence that kept changing), and nobody saw an
    error other than 403."""
    name = reg.unique("race")
    versions = [compliant(reg, name).version for _ in range(4)]
    rng = random.Random(9)
    plan = [rng.choice(versions) for _ in range(12)]
    flips = [(rng.choice(versions), rng.choice(["pending", "completed"])) for _ in range(16)]
    results: list[tuple[str, str, str]] = []  # (kind, outcome, message)
    lock = threading.Lock()
    barrier = threading.Barrier(2)

    def promoter() -> None:
        client = MlflowClient(tracking_uri=server.url)
        barrier.wait()
        for version in plan:
            try:
                client.set_registered_model_alias(name, "production", version)
                seen, message = "ok", ""
            except RestException as exc:
                seen, message = f"{exc.get_http_status_code()} {exc.error_code}", exc.message
            with lock:
                results.append(("promote", seen, message))

    def writer() -> None:
        client = MlflowClient(tracking_uri=server.url)
        barrier.wait()
        for version, status in flips:
            seen = outcome(lambda v=version, s=status: client.set_model_version_tag(
                name, v, "compliance.filing.status", s))
            with lock:
                results.append(("tag", seen, ""))

    threads = [threading.Thread(target=promoter), threading.Thread(target=writer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)

    assert {seen for _, seen, _ in results} <= {"ok", "403 PERMISSION_DENIED"}
    holder = reg.aliases(name).get("production")
    if holder is not None:
        assert reg.tags(name, holder)["compliance.filing.status"] == "completed"
    promotions = [(seen, message) for kind, seen, message in results if kind == "promote"]
    kept_changing = [m for s, m in promotions if "changed while it was being evaluated" in m]
    entries = server.decisions(name)
    # A decision logged and then not applied is named by the next one of its request; only
    # possible where the log shares the registry's sqlite file (see the store's doc).
    superseded = [e for e in entries if any("not applied" in w for w in e.decision.warnings)]
    if server.log_url != server.store_uri:
        assert superseded == []
    assert len(entries) == len(promotions) - len(kept_changing) + len(superseded)


# --------------------------------------------------------------------------- messages, log


def test_a_refusal_leads_with_one_line_and_shows_control_characters_escaped(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    """The MLflow UI drops line breaks: the first line sums the refusal up. A tag value
    with a terminal escape reaches neither the client nor the server log raw."""
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    mv = reg.create_version(name, compliant_tags(**{"filing.status": "pending\x1b[2J"}),
                            manifest=example_manifest())

    exc = refused(lambda: reg.client.set_registered_model_alias(name, "production", mv.version))

    [entry] = sqlite_server.decisions(name)
    gates = [g.id for g in entry.decision.blocking_gates]
    first = exc.message.removeprefix("PERMISSION_DENIED: ").splitlines()[0]
    assert first == f"blocked by {', '.join(gates)}: {', '.join(entry.failing_codes)}; fixes below"
    assert "\x1b" not in exc.message and "\\x1b[2J" in exc.message
    assert "\x1b" not in sqlite_server.server_log
    # The hint names this server: a bare `mlgate log --blocked` reads a local file.
    assert f"mlgate log --blocked --tracking-uri {sqlite_server.url}," in exc.message


def test_a_decision_logged_then_overtaken_is_named_by_the_next(
    registry: RegistryHelper, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sqlite decision log in the registry's own file is written before the registry's
    lock is taken; if the evidence changes in between, the logged (allowed) decision was
    not applied, and the request's next decision says so."""
    from mlgate.registry import servergate

    for key in [k for k in os.environ if k.startswith("MLGATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLGATE_DECISION_LOG", registry.tracking_uri)  # the same file
    name = registry.unique("chat")
    mv = compliant(registry, name, source="run")
    gated = MlflowClient(
        tracking_uri=registry.tracking_uri, registry_uri="mlgate+" + registry.tracking_uri
    )
    original = servergate.Gate.record
    recorded: list[str] = []

    def record_then_someone_edits(self: Any, decision: Any, gate_input: Any, actor: str) -> None:
        original(self, decision, gate_input, actor)
        if not recorded:
            registry.client.set_model_version_tag(
                name, mv.version, "compliance.filing.status", "pending")
        recorded.append(decision.decision_id)

    monkeypatch.setattr(servergate.Gate, "record", record_then_someone_edits)

    with pytest.raises(MlflowException) as info:
        gated.set_registered_model_alias(name, "production", mv.version)

    assert info.value.error_code == "PERMISSION_DENIED"
    assert registry.aliases(name) == {}
    from mlgate.decisionlog import DecisionLog

    with DecisionLog(registry.tracking_uri) as log:
        first, second = sorted(log.entries(model=name), key=lambda e: e.id)
    assert (first.allowed, second.allowed) == (True, False)
    assert any(f"decision {first.decision_id} (allowed)" in w and "not applied" in w
               for w in second.decision.warnings)


def test_the_guarded_artifact_repository_keeps_what_mlflow_checks_for(tmp_path: Path) -> None:
    """MLflow picks streaming and multipart uploads by ``isinstance`` on the repository:
    the guard must not hide them, and writes outside ``compliance/`` go through."""
    from mlflow.store.artifact.artifact_repo import StreamUploadMixin
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    from mlgate.registry.guard import guard

    repo = guard(LocalArtifactRepository(str(tmp_path / "dest")))
    source = tmp_path / "model.txt"
    source.write_text("weights")
    repo.log_artifact(str(source), "1/run/artifacts/model")

    assert isinstance(repo, LocalArtifactRepository) and isinstance(repo, StreamUploadMixin)
    assert type(guard(repo)).__name__ == "GuardedLocalArtifactRepository"  # idempotent
    assert (tmp_path / "dest/1/run/artifacts/model/model.txt").read_text() == "weights"
