"""Signed attestations end to end: ``mlgate attest`` on a real sqlite MLflow registry with
real logged model artifacts, then ``mlgate check`` with the attestation gate switched on
(trusted keys in the policy data of a copied policy set), then each tamper blocks with
its own code. Keys are PEM files generated here. Both engines decide."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from fixtures_opa import require_opa_golib
from helpers import POLICIES, edit_config, mlgate
from mlgate.attestation import ATTESTATION_TAG
from mlgate.evidence import Registry, VersionRef

ENGINES = ["embedded", "opa"]


def _write_key(path: Path, kind: str) -> tuple[Path, str]:
    """A fresh private key PEM at ``path``; its public key PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key: Any = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else (
        ec.generate_private_key(ec.SECP256R1())
    )
    path.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, public.decode()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    folder = tmp_path / "keys"
    folder.mkdir()
    return {
        "officer": _write_key(folder / "officer.pem", "ed25519"),
        "auditor": _write_key(folder / "auditor.pem", "p256"),
        "developer": _write_key(folder / "developer.pem", "ed25519"),  # not trusted
    }


@pytest.fixture
def policies(tmp_path: Path, keys: dict[str, tuple[Path, str]]) -> Path:
    copy = tmp_path / "policies"
    shutil.copytree(POLICIES, copy)
    edit_config(copy, attestation={"trusted_keys": [
        {"name": "compliance-officer", "public_key_pem": keys["officer"][1]},
        {"name": "auditor", "public_key_pem": keys["auditor"][1]},
    ]})
    return copy


def _version(registry: RegistryHelper, name: str = "chatbot", source: Any = "logged_model") -> str:
    mv = registry.create_version(name, compliant_tags(), source=source,
                                 manifest=example_manifest())
    # A second, larger model file beside MLmodel, in a subdirectory.
    folder = registry.root / f"weights-{mv.version}"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "part-0.bin").write_bytes(bytes(range(256)) * 4096)
    location = Registry(registry.tracking_uri).artifact_location(mv)
    _local(location).joinpath("weights").mkdir(exist_ok=True)
    shutil.copy(folder / "weights" / "part-0.bin", _local(location) / "weights" / "part-0.bin")
    return str(mv.version)


def _local(location: str) -> Path:
    from urllib.parse import urlparse
    from urllib.request import url2pathname

    return Path(url2pathname(urlparse(location).path))


def _model_dir(registry: RegistryHelper, name: str, version: str) -> Path:
    reg = Registry(registry.tracking_uri)
    return _local(reg.artifact_location(reg.model_version(VersionRef(name, version=version))))


def _attest(registry: RegistryHelper, policies: Path, name: str, version: str, key: Path,
            *extra: str) -> Any:
    return mlgate("attest", name, version, "--key", str(key), "--policies", str(policies),
                  *registry.args, *extra)


def _check(registry: RegistryHelper, policies: Path, name: str, version: str,
           engine: str = "embedded") -> tuple[int, dict[str, Any]]:
    """``mlgate check`` (embedded), or the same decision with OPA's Go library in-process."""
    if engine == "opa":
        # OPA's Go library in-process on the gate input the CLI builds (the decision
        # document names only the product engines, so the raw result is read here).
        require_opa_golib()
        from mlgate.attestation import trusted_keys
        from mlgate.engine.golib import GolibEngine
        from mlgate.gate_input import build_gate_input
        from mlgate.policy import load_policy_dir
        from mlgate.runner import serialise

        policy_set = load_policy_dir(policies)
        reader = Registry(registry.tracking_uri)
        reader.trusted_keys = trusted_keys(policy_set.config.values)
        evidence = reader.read(VersionRef(name, version=version))
        gate_input = build_gate_input(evidence, target="production", kind="alias",
                                      config=policy_set.config,
                                      declarations=policy_set.tag_declarations)
        document, text, _ = serialise(gate_input)
        raw = GolibEngine(policy_set).evaluate(document, text)
        gates = [
            {"id": gid, "status": g["status"],
             "violations": [{"code": v["code"], "message": json.dumps(v["params"])}
                            for v in g["violations"]]}
            for gid, g in raw["gates"].items()
        ]
        files = gate_input.attestation.files_sha256 if gate_input.attestation else None
        return (0 if raw["allowed"] else 1), {"gates": gates, "model_files_sha256": files}
    run = mlgate("check", name, version, "--target", "production", "--policies",
                 str(policies), "--engine", engine, "--format", "json", *registry.args)
    assert run.exit_code in (0, 1), run.stderr
    return run.exit_code, run.json()


def _codes(decision: dict[str, Any]) -> set[str]:
    gate = next(g for g in decision["gates"] if g["id"] == "attestation")
    return {v["code"] for v in gate["violations"]}


@pytest.mark.parametrize("engine", ENGINES)
def test_attested_version_passes_and_records_files_digest(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]], engine: str
) -> None:
    version = _version(registry)
    run = _attest(registry, policies, "chatbot", version, keys["officer"][0],
                  "--name", "compliance-officer")
    assert run.exit_code == 0, run.stderr
    assert "2 model file(s)" in run.stdout
    tags = registry.tags("chatbot", version)
    assert len(tags[ATTESTATION_TAG]) == 64
    code, decision = _check(registry, policies, "chatbot", version, engine)
    assert code == 0, decision
    gate = next(g for g in decision["gates"] if g["id"] == "attestation")
    assert gate["status"] == "pass"
    assert len(decision["model_files_sha256"]) == 64


def test_gate_off_with_shipped_policies(registry: RegistryHelper) -> None:
    version = _version(registry)
    run = mlgate("check", "chatbot", version, "--target", "production", "--format", "json",
                 *registry.args)
    assert run.exit_code == 0, run.stdout
    decision = run.json()
    assert next(g for g in decision["gates"] if g["id"] == "attestation")["status"] == (
        "not_applicable"
    )
    # Recorded for a protected target all the same (tests/test_first_digest.py), outside
    # the gate input: the attestation gate does not read it.
    assert len(decision["model_files_sha256"]) == 64


def test_p256_key_is_trusted_too(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    version = _version(registry, source="run")
    assert _attest(registry, policies, "chatbot", version, keys["auditor"][0]).exit_code == 0
    assert _check(registry, policies, "chatbot", version)[0] == 0


@pytest.mark.parametrize("engine", ENGINES)
def test_each_tamper_blocks_with_its_code(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]], engine: str
) -> None:
    officer = keys["officer"][0]
    # Not attested at all.
    v1 = _version(registry)
    code, decision = _check(registry, policies, "chatbot", v1, engine)
    assert (code, _codes(decision)) == (1, {"attestation.envelope_missing"})

    # A tag changed after signing.
    assert _attest(registry, policies, "chatbot", v1, officer).exit_code == 0
    registry.client.set_model_version_tag("chatbot", v1, "compliance.filing.id", "Other-0002")
    code, decision = _check(registry, policies, "chatbot", v1, engine)
    assert _codes(decision) == {"attestation.tag_changed"}
    gate = next(g for g in decision["gates"] if g["id"] == "attestation")
    assert "compliance.filing.id" in gate["violations"][0]["message"]

    # The manifest replaced (and its digest tag with it).
    v2 = _version(registry)
    assert _attest(registry, policies, "chatbot", v2, officer).exit_code == 0
    manifest = example_manifest()
    manifest["quality_measures"] = [*manifest["quality_measures"], "one more"]
    registry.attach("chatbot", v2, manifest)
    code, decision = _check(registry, policies, "chatbot", v2, engine)
    assert code == 1
    assert {"attestation.manifest_changed"} <= _codes(decision)

    # One byte of a model file.
    v3 = _version(registry)
    assert _attest(registry, policies, "chatbot", v3, officer).exit_code == 0
    weights = _model_dir(registry, "chatbot", v3) / "weights" / "part-0.bin"
    data = bytearray(weights.read_bytes())
    data[1000] ^= 0x01
    weights.write_bytes(bytes(data))
    code, decision = _check(registry, policies, "chatbot", v3, engine)
    assert (code, _codes(decision)) == (1, {"attestation.model_file_changed"})
    assert "weights/part-0.bin" in json.dumps(decision)

    # Signed by a key that is not trusted.
    v4 = _version(registry)
    assert _attest(registry, policies, "chatbot", v4, keys["developer"][0]).exit_code == 0
    code, decision = _check(registry, policies, "chatbot", v4, engine)
    assert (code, _codes(decision)) == (1, {"attestation.untrusted_signer"})


def test_envelope_of_another_version_and_digest_tag(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    officer = keys["officer"][0]
    v1, v2 = _version(registry), _version(registry)
    assert _attest(registry, policies, "chatbot", v1, officer).exit_code == 0
    # Copy version 1's envelope onto version 2, with the digest tag that matches it.
    envelope = _envelope(registry, v1)
    reg = Registry(registry.tracking_uri)
    mv2 = reg.model_version(VersionRef("chatbot", version=v2))
    reg._upload_manifest(mv2, str(envelope))
    registry.client.set_model_version_tag("chatbot", v2, ATTESTATION_TAG,
                                          registry.tags("chatbot", v1)[ATTESTATION_TAG])
    code, decision = _check(registry, policies, "chatbot", v2)
    assert code == 1
    assert "attestation.other_version" in _codes(decision)
    # The digest tag edited: names the mismatch alone.
    registry.client.set_model_version_tag("chatbot", v1, ATTESTATION_TAG, "0" * 64)
    code, decision = _check(registry, policies, "chatbot", v1)
    assert (code, _codes(decision)) == (1, {"attestation.digest_tag_mismatch"})


@pytest.fixture
def attested(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> tuple[str, Path]:
    """A version the officer attested, and its envelope's file (to tamper with)."""
    version = _version(registry)
    assert _attest(registry, policies, "chatbot", version, keys["officer"][0]).exit_code == 0
    return version, _envelope(registry, version)


def _envelope(registry: RegistryHelper, version: str) -> Path:
    return _model_dir(registry, "chatbot", version) / "compliance" / "attestation.dsse.json"


def test_tampered_envelope_signature_invalid(
    registry: RegistryHelper, policies: Path, attested: tuple[str, Path]
) -> None:
    import base64

    v1, path = attested
    envelope = json.loads(path.read_bytes())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["compliance_tags"]["compliance.filing.status"] = "completed "
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    path.write_bytes(json.dumps(envelope).encode())
    from mlgate.facts import sha256_hex

    registry.client.set_model_version_tag("chatbot", v1, ATTESTATION_TAG,
                                          sha256_hex(path.read_bytes()))
    code, decision = _check(registry, policies, "chatbot", v1)
    assert code == 1
    assert "attestation.signature_invalid" in _codes(decision)


def test_unreadable_envelope_fails_closed(
    registry: RegistryHelper, policies: Path, attested: tuple[str, Path]
) -> None:
    v1, path = attested
    path.write_bytes(b"not json")
    code, decision = _check(registry, policies, "chatbot", v1)
    assert (code, _codes(decision)) == (1, {"attestation.unreadable"})


@pytest.mark.parametrize(
    ("content", "needle"),
    [(b"not a key", "expected an unencrypted PEM private key"), (None, "cannot read")],
)
def test_bad_key_is_one_line_exit_2(
    registry: RegistryHelper, policies: Path, tmp_path: Path, content: bytes | None, needle: str
) -> None:
    version = _version(registry)
    key = tmp_path / "bad.pem"
    if content is not None:
        key.write_bytes(content)
    run = _attest(registry, policies, "chatbot", version, key)
    assert run.exit_code == 2
    assert needle in run.stderr and len(run.stderr.strip().splitlines()) == 1
    assert ATTESTATION_TAG not in registry.tags("chatbot", version)


def test_rsa_key_refused(registry: RegistryHelper, policies: Path, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    run = _attest(registry, policies, "chatbot", _version(registry), path)
    assert run.exit_code == 2 and "Ed25519 or ECDSA P-256" in run.stderr


def test_bad_version_argument_exit_2(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    run = _attest(registry, policies, "chatbot", "x", keys["officer"][0])
    assert run.exit_code == 2 and "VERSION" in run.stderr


def test_server_store_gate_checks_the_attestation(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]], tmp_path: Path
) -> None:
    """The server store's gate (the one the mlgate+ store calls on a gated promotion),
    in-process on the same sqlite registry: it verifies and hashes too."""
    from mlgate.registry.servergate import Gate
    from mlgate.registry.settings import GateSettings

    version = _version(registry)
    assert _attest(registry, policies, "chatbot", version, keys["officer"][0]).exit_code == 0
    settings = GateSettings(registry_uri=registry.tracking_uri,
                            tracking_uri=registry.tracking_uri, policies=str(policies),
                            decision_log=f"sqlite:///{tmp_path / 'log.db'}")
    server_gate = Gate(settings)
    mv = registry.client.get_model_version("chatbot", version)
    decision, gate_input = server_gate.decide(server_gate.read(mv), "production", "alias")
    assert decision.allowed and gate_input.attestation is not None
    assert decision.model_files_sha256 == gate_input.attestation.files_sha256
    weights = _model_dir(registry, "chatbot", version) / "weights" / "part-0.bin"
    weights.write_bytes(weights.read_bytes() + b"\0")
    decision, _ = server_gate.decide(server_gate.read(mv), "production", "alias")
    assert not decision.allowed
    assert decision.failing_codes == ["attestation.model_file_changed"]


def test_audit_rehashes_protected_holdings(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    version = _version(registry)
    assert _attest(registry, policies, "chatbot", version, keys["officer"][0]).exit_code == 0
    run = mlgate("promote", "chatbot", version, "--alias", "production", "--policies",
                 str(policies), *registry.args)
    assert run.exit_code == 0, run.stdout + run.stderr
    run = mlgate("audit", "--policies", str(policies), "--format", "json", *registry.args)
    assert run.exit_code == 0, run.stdout + run.stderr
    # One byte of a model file of the version in production.
    weights = _model_dir(registry, "chatbot", version) / "weights" / "part-0.bin"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    run = mlgate("audit", "--policies", str(policies), "--format", "json", *registry.args)
    assert run.exit_code == 1, run.stderr
    [decision] = run.json()
    assert decision["model_files_sha256"] != registry.tags("chatbot", version)[ATTESTATION_TAG]
    assert _codes(decision) == {"attestation.model_file_changed"}
    assert any("model files changed since promotion" in w and "weights/part-0.bin" in w
               for w in decision["warnings"]), decision["warnings"]


def test_attest_refuses_a_shared_artifact_location(
    registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    from mlgate.evidence import global_mlflow_uri

    v1 = _version(registry)
    assert _attest(registry, policies, "chatbot", v1, keys["officer"][0]).exit_code == 0
    source = registry.client.get_model_version("chatbot", v1).source
    with global_mlflow_uri(registry.tracking_uri):
        v2 = str(registry.client.create_model_version("chatbot", source).version)
    run = _attest(registry, policies, "chatbot", v2, keys["officer"][0])
    assert run.exit_code == 2 and "shares its artifact location" in run.stderr
    assert ATTESTATION_TAG not in registry.tags("chatbot", v2)


def test_attest_and_check_through_a_tracking_server(
    server_registry: RegistryHelper, policies: Path, keys: dict[str, tuple[Path, str]]
) -> None:
    """A real ``mlflow server`` with proxied artifacts: the model files are listed and
    downloaded one by one through the server to be hashed, the envelope uploaded there."""
    name = server_registry.unique("chatbot")
    mv = server_registry.create_version(name, compliant_tags(), manifest=example_manifest())
    version = str(mv.version)
    run = _attest(server_registry, policies, name, version, keys["officer"][0])
    assert run.exit_code == 0, run.stderr
    assert "1 model file(s)" in run.stdout  # MLmodel
    code, decision = _check(server_registry, policies, name, version)
    assert code == 0, decision
    server_registry.client.set_model_version_tag(name, version, "compliance.filing.id", "X-1")
    code, decision = _check(server_registry, policies, name, version)
    assert (code, _codes(decision)) == (1, {"attestation.tag_changed"})
