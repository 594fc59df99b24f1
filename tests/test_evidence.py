"""mlgate.evidence against real MLflow registries: local sqlite per test, and the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures_mlflow import (
    SOURCE_KINDS,
    RegistryHelper,
    SourceKind,
    closed_port_url,
    compliant_tags,
    example_manifest,
)
from helpers import POLICIES
from mlgate.errors import InputError, RegistryError
from mlgate.evidence import (
    DEFAULT_TRACKING_URI,
    HTTP_BOUNDS,
    Evidence,
    Registry,
    VersionRef,
    build_gate_input,
    configure_cli_environment,
    decision_tags,
    load_manifest_file,
    parse_version_ref,
    resolve_tracking_uri,
    validate_alias,
)
from mlgate.facts import DIGEST_TAG, sha256_hex
from mlgate.policy import load_policy_dir

CONFIG = load_policy_dir(POLICIES).config

# --------------------------------------------------------------------------- references


@pytest.mark.parametrize(
    ("model", "version", "expected"),
    [
        ("chatbot", "3", VersionRef("chatbot", version="3")),
        ("chatbot", " 12 ", VersionRef("chatbot", version="12")),
        ("chatbot@champion", None, VersionRef("chatbot", alias="champion")),
        ("my model@prod-2", None, VersionRef("my model", alias="prod-2")),
    ],
)
def test_version_references(model: str, version: str | None, expected: VersionRef) -> None:
    assert parse_version_ref(model, version) == expected


@pytest.mark.parametrize(
    ("model", "version", "message"),
    [
        ("m@", None, "malformed MODEL@ALIAS"),
        ("@a", None, "malformed MODEL@ALIAS"),
        ("m@a@b", None, "malformed MODEL@ALIAS"),
        ("m", None, "give MODEL VERSION"),
        ("m@latest", None, "reserved"),
        ("m@v3", None, "reserved"),
        ("m@a b", None, "letters, digits"),
        ("m", "abc", "expected a model version number"),
        ("m", "0", "expected a model version number"),
        ("m", "-1", "expected a model version number"),
        (" ", "1", "model name is empty"),
    ],
)
def test_malformed_references_are_input_errors(
    model: str, version: str | None, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        parse_version_ref(model, version)


def test_alias_validation() -> None:
    assert validate_alias("production") == "production"
    with pytest.raises(InputError, match="--alias 'prod/1'"):
        validate_alias("prod/1")


def test_tracking_uri_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(None) == DEFAULT_TRACKING_URI
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking_uri(None) == "http://env:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"


def test_cli_environment_bounds_retries_but_keeps_user_settings() -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}
    configure_cli_environment(env)
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == "5"
    for name, value in HTTP_BOUNDS.items():
        if name != "MLFLOW_HTTP_REQUEST_MAX_RETRIES":
            assert env[name] == value
    assert env["MLFLOW_LOGGING_LEVEL"] == "WARNING"


def test_cli_environment_replaces_empty_settings_mlflow_cannot_parse() -> None:
    env = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "", "MLFLOW_HTTP_REQUEST_TIMEOUT": " "}
    configure_cli_environment(env)
    assert env["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] == HTTP_BOUNDS["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]
    assert env["MLFLOW_HTTP_REQUEST_TIMEOUT"] == HTTP_BOUNDS["MLFLOW_HTTP_REQUEST_TIMEOUT"]


# --------------------------------------------------------------------------- manifest files


def test_valid_manifest_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps(example_manifest()))
    assert load_manifest_file(path) == path.read_bytes()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", r"m\.json:1:2: not valid JSON"),
        (b"\xff\xfe", r"m\.json: not valid JSON: not UTF-8"),
        (b'{\n "records": NaN}', r"m\.json:2:13: not valid JSON: NaN is not a JSON value"),
        (b"[]", r"m\.json: field \(root\): "),
        (json.dumps({"manifest_version": 1}).encode(), r"m\.json: field datasets: Field required"),
    ],
)
def test_invalid_manifest_files_name_file_and_field(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "m.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        load_manifest_file(path)


def test_schema_error_names_the_nested_field(tmp_path: Path) -> None:
    manifest = example_manifest()
    manifest["datasets"][1]["kind"] = "scraped"
    path = tmp_path / "m.json"
    path.write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"field datasets\.1\.kind: Input should be"):
        load_manifest_file(path)


def test_unreadable_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_manifest_file(tmp_path / "absent.json")


# --------------------------------------------------------------------------- reading


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_read_returns_tags_aliases_and_manifest_bytes(
    registry: RegistryHelper, source: SourceKind
) -> None:
    mv = registry.create_version(
        "chat", {**compliant_tags(), "team": "nlp"}, source=source, manifest=example_manifest()
    )
    registry.client.set_registered_model_alias("chat", "champion", mv.version)

    evidence = Registry(registry.tracking_uri).read(VersionRef("chat", version="1"))

    assert (evidence.model, evidence.version) == ("chat", "1")
    assert evidence.tags["team"] == "nlp"
    assert evidence.aliases == ["champion"]
    assert evidence.manifest == json.dumps(example_manifest()).encode()
    assert evidence.tags[DIGEST_TAG] == sha256_hex(evidence.manifest)


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_absent_manifest_is_none_not_an_error(
    registry: RegistryHelper, source: SourceKind
) -> None:
    registry.create_version("chat", compliant_tags(), source=source)
    evidence = Registry(registry.tracking_uri).read(VersionRef("chat", version="1"))
    assert evidence.manifest is None


def test_alias_resolves_to_its_version(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    registry.create_version("chat", out_of_scope := {"compliance.audience": "research"})
    registry.client.set_registered_model_alias("chat", "champion", "2")
    evidence = Registry(registry.tracking_uri).read(VersionRef("chat", alias="champion"))
    assert evidence.version == "2"
    assert evidence.compliance_tags == out_of_scope


def test_gate_input_carries_compliance_tags_and_recomputed_digest(
    registry: RegistryHelper,
) -> None:
    registry.create_version(
        "chat",
        {**compliant_tags(audience="everyone"), "team": "nlp"},
        manifest=example_manifest(),
    )
    evidence, gate_input = Registry(registry.tracking_uri).gate_input(
        VersionRef("chat", version="1"), target="production", kind="alias", config=CONFIG
    )
    assert "team" not in gate_input.tags
    assert gate_input.tags["compliance.audience"] == "everyone"
    assert gate_input.request.enforcement == "deny"
    assert [e["tag"] for e in gate_input.facts["errors"]] == ["compliance.audience"]
    assert gate_input.manifest.attached is True
    assert gate_input.manifest.digest_computed == evidence.manifest_sha256
    assert gate_input.manifest.digest_tagged == evidence.manifest_sha256
    assert gate_input.manifest.content == example_manifest()


def test_gate_input_for_an_unprotected_target_warns() -> None:
    evidence = Evidence("m", "1", "runs:/r/model", compliant_tags(), [], None)
    gate_input = build_gate_input(evidence, target="staging", kind="alias", config=CONFIG)
    assert gate_input.request.enforcement == "warn"
    assert gate_input.manifest.attached is False


def test_evidence_changes_are_named() -> None:
    before = Evidence("m", "1", "s", compliant_tags(), [], b"{}")
    assert before.changes_since(before) == []
    after = Evidence("m", "1", "s", compliant_tags(**{"filing.status": "pending"}), [], b"[]")
    assert after.changes_since(before) == [
        "compliance.filing.status",
        "compliance/data_manifest.json",
    ]


# --------------------------------------------------------------------------- registry errors


def test_missing_version_is_a_registry_error(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags())
    reg = Registry(registry.tracking_uri)
    with pytest.raises(RegistryError, match=r"model 'chat' version 2: not found in registry"):
        reg.read(VersionRef("chat", version="2"))
    with pytest.raises(RegistryError, match=r"model 'nope' version 1: not found"):
        reg.read(VersionRef("nope", version="1"))
    with pytest.raises(RegistryError, match=r"model 'chat' alias 'gone': not found"):
        reg.read(VersionRef("chat", alias="gone"))


def test_absent_sqlite_registry_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "nothing.db"
    with pytest.raises(RegistryError, match=r"no MLflow registry at sqlite:///.*nothing\.db"):
        Registry(f"sqlite:///{db}").read(VersionRef("chat", version="1"))
    assert not db.exists()


def test_unreachable_registry_is_a_registry_error() -> None:
    url = closed_port_url()
    with pytest.raises(RegistryError, match=f"cannot reach the MLflow registry at {url}"):
        Registry(url).read(VersionRef("chat", version="1"))


# --------------------------------------------------------------------------- attaching


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_attach_logs_the_artifact_where_models_uri_finds_it(
    registry: RegistryHelper, source: SourceKind
) -> None:
    registry.create_version("chat", compliant_tags(), source=source)
    path = registry.write_file(example_manifest(), name="my-manifest.json")

    evidence, digest = Registry(registry.tracking_uri).attach_manifest(
        VersionRef("chat", version="1"), path
    )

    assert digest == sha256_hex(path.read_bytes())
    assert registry.tags("chat", "1")[DIGEST_TAG] == digest
    assert evidence.manifest == path.read_bytes()
    # MLflow's own resolution of the version's artifacts finds the same bytes.
    assert registry.download_manifest("chat", "1") == path.read_bytes()


def test_attach_replaces_an_earlier_manifest(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    changed = example_manifest()
    changed["quality_measures"] = ["deduplication"]
    digest = registry.attach("chat", "1", changed)
    assert registry.download_manifest("chat", "1") == json.dumps(changed).encode()
    assert registry.tags("chat", "1")[DIGEST_TAG] == digest


@pytest.mark.parametrize("content", [b"{oops", json.dumps({"manifest_version": 2}).encode()])
def test_attach_of_an_invalid_file_writes_nothing(
    registry: RegistryHelper, content: bytes
) -> None:
    registry.create_version("chat", compliant_tags())
    path = registry.write_file(content)
    reg = Registry(registry.tracking_uri)
    with pytest.raises(InputError, match="manifest.json"):
        reg.attach_manifest(VersionRef("chat", version="1"), path)
    assert reg.read(VersionRef("chat", version="1")).manifest is None
    assert DIGEST_TAG not in registry.tags("chat", "1")


def test_decision_tags() -> None:
    from helpers import decide

    decision, _ = decide("blocked")
    assert decision_tags(decision) == {
        "mlgate.decision": "blocked",
        "mlgate.decision_id": decision.decision_id,
        "mlgate.policy_revision": decision.policy_revision,
        "mlgate.checked_at": decision.evaluated_at,
    }


# --------------------------------------------------------------------------- the server


@pytest.mark.parametrize("source", SOURCE_KINDS)
def test_server_read_and_attach(server_registry: RegistryHelper, source: SourceKind) -> None:
    name = server_registry.unique("chat")
    server_registry.create_version(name, compliant_tags(), source=source)
    reg = Registry(server_registry.tracking_uri)
    assert reg.read(VersionRef(name, version="1")).manifest is None  # a 404 through the proxy

    path = server_registry.write_file(example_manifest())
    _, digest = reg.attach_manifest(VersionRef(name, version="1"), path)

    evidence = reg.read(VersionRef(name, version="1"))
    assert evidence.manifest == path.read_bytes()
    assert evidence.tags[DIGEST_TAG] == digest
    assert server_registry.download_manifest(name, "1") == path.read_bytes()


def test_server_missing_version(server_registry: RegistryHelper) -> None:
    with pytest.raises(RegistryError, match="not found in registry http://127.0.0.1:"):
        Registry(server_registry.tracking_uri).read(
            VersionRef(server_registry.unique("ghost"), version="1")
        )


def test_server_missing_alias(server_registry: RegistryHelper) -> None:
    name = server_registry.unique("chat")
    server_registry.create_version(name, compliant_tags())
    with pytest.raises(RegistryError, match=f"model '{name}' alias 'gone': not found"):
        Registry(server_registry.tracking_uri).read(VersionRef(name, alias="gone"))
