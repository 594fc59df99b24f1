"""``attestation.trusted_keys`` is checked when the policy set is loaded: a
``public_key_pem`` that is no Ed25519 or ECDSA P-256 public key (garbage, a private key,
an RSA key, another curve) is one line, exit 2, naming data.json, the entry and its name;
before, the set loaded and every attested version blocked later as
``attestation.unreadable``. Good keys of both kinds still load."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import POLICIES, edit_config, mlgate, one_error_line, policy_refusal
from mlgate.policy import load_policy_dir

EXPECTED = "expected a PEM public key (-----BEGIN PUBLIC KEY-----), Ed25519 or ECDSA P-256"


def _pem(key: Any, private: bool = False) -> str:
    from cryptography.hazmat.primitives import serialization

    if private:
        return key.private_bytes(serialization.Encoding.PEM,
                                 serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _key(kind: str) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    copy = tmp_path_factory.mktemp("keys") / "policies"
    shutil.copytree(POLICIES, copy)
    return copy


def _trust(policies: Path, *pems: str) -> None:
    """data.json lists ``pems`` as trusted keys, the first named officer, then key-1, ..."""
    names = ["officer", *(f"key-{i}" for i in range(1, len(pems)))]
    edit_config(policies, attestation={"trusted_keys": [
        {"name": name, "public_key_pem": pem} for name, pem in zip(names, pems, strict=True)
    ]})



@pytest.mark.parametrize(
    ("make", "got"),
    [
        (lambda: "not a key", "text that is not a PEM public key"),
        (lambda: "\x00\u0301\n-----END PUBLIC KEY-----", "text that is not a PEM public key"),
        (lambda: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
         "text that is not a PEM public key"),
        (lambda: _pem(_key("ed25519"), private=True),
         "a private key (never list one: give its public key)"),
        (lambda: _pem(_key("p256"), private=True),
         "a private key (never list one: give its public key)"),
        (lambda: _pem(_key("rsa")), "an RSA key"),
        (lambda: _pem(_key("p384")), "an ECDSA key on secp384r1"),
    ],
    ids=["garbage", "control-chars", "bad-pem-body", "ed25519-private", "p256-private", "rsa",
         "p384"],
)
def test_a_bad_trusted_key_is_refused_at_load(policies: Path, make: Any, got: str) -> None:
    good = _pem(_key("ed25519"))
    bad = make()
    _trust(policies, good, bad)  # the second entry is the bad one
    line = policy_refusal(policies)
    assert line == (
        f"mlgate: error: {policies}/data.json: "
        f'mlgate.config.attestation.trusted_keys[1].public_key_pem (key "key-1"): '
        f"{EXPECTED}, got {got}"
    )
    if "PRIVATE" in bad:  # a private key pasted by mistake is never echoed
        assert bad.splitlines()[1] not in line


def test_good_ed25519_and_p256_keys_load(policies: Path) -> None:
    from mlgate.attestation import trusted_keys

    ed, p256 = _pem(_key("ed25519")), _pem(_key("p256"))
    _trust(policies, ed, p256)
    policy_set = load_policy_dir(policies)
    assert trusted_keys(policy_set.config.values) == (("officer", ed), ("key-1", p256))
    run = mlgate("policy", "check", "--policies", str(policies))
    assert run.exit_code == 0, run.stdout + run.stderr


def _pem_wrapped(data: bytes) -> str:
    body = base64.encodebytes(data).decode()
    return f"-----BEGIN PUBLIC KEY-----\n{body}-----END PUBLIC KEY-----\n"


# Lone surrogates are left out: data.json's reader refuses them before any key is read.
@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(st.characters(exclude_categories=["Cs"])),
                      st.binary(min_size=1, max_size=120).map(_pem_wrapped)))
def test_arbitrary_text_never_loads_as_a_key(policies: Path, text: str) -> None:
    data = json.loads((policies / "data.json").read_text())
    data["mlgate"]["config"]["attestation"] = {
        "trusted_keys": [{"name": "officer", "public_key_pem": text}]
    }
    (policies / "data.json").write_text(json.dumps(data))
    line = one_error_line(mlgate("policy", "check", "--policies", str(policies)))
    assert line.startswith(
        f"mlgate: error: {policies}/data.json: "
        "mlgate.config.attestation.trusted_keys[0].public_key_pem"
    )


def test_a_forged_bad_key_still_fails_closed_at_decision_time(
    registry: RegistryHelper, tmp_path: Path
) -> None:
    """The second line: engine data that skipped the load (a forged OPA data document)
    can still list a bad key; reading the version records why and the gate blocks."""
    import dataclasses

    from mlgate.engine.embedded import EmbeddedEngine
    from mlgate.evidence import Registry, VersionRef
    from mlgate.gate_input import build_gate_input
    from mlgate.runner import serialise

    mv = registry.create_version("chatbot", compliant_tags(), source="logged_model",
                                 manifest=example_manifest())
    key = tmp_path / "officer.pem"
    key.write_text(_pem(_key("ed25519"), private=True))
    run = mlgate("attest", "chatbot", str(mv.version), "--key", str(key), *registry.args)
    assert run.exit_code == 0, run.stdout + run.stderr
    forged = (("officer", "not a key"),)
    reader = Registry(registry.tracking_uri)
    reader.trusted_keys = forged
    evidence = reader.read(VersionRef("chatbot", version=str(mv.version)))
    assert evidence.attestation is not None
    assert evidence.attestation.error == (
        "policy data attestation.trusted_keys[0] ('officer'): "
        f"{EXPECTED}, got text that is not a PEM public key"
    )
    shipped = load_policy_dir(POLICIES)
    data = json.loads(json.dumps(shipped.data))
    data["mlgate"]["config"]["attestation"] = {
        "trusted_keys": [{"name": name, "public_key_pem": pem} for name, pem in forged]
    }
    policy_set = dataclasses.replace(shipped, data=data)
    gate_input = build_gate_input(evidence, target="production", kind="alias",
                                  config=policy_set.config,
                                  declarations=policy_set.tag_declarations)
    document, text, _ = serialise(gate_input)
    raw = EmbeddedEngine(policy_set).evaluate(document, text)
    gate = raw["gates"]["attestation"]
    assert raw["allowed"] is False
    assert (gate["status"], [v["code"] for v in gate["violations"]]) == (
        "fail", ["attestation.unreadable"])
