"""DSSE envelopes (mlgate.dsse): the PAE of the spec, and verification as an oracle from
the contract: an envelope verifies under the key that signed it, and any byte flipped in
its payload or its signature makes it not verify (invalid: it names a trusted key)."""

from __future__ import annotations

import base64
import json
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlgate.dsse import PAYLOAD_TYPE, load_private_key, pae, sign_envelope, verify_envelope
from mlgate.errors import InputError


def test_pae_matches_the_spec_example() -> None:
    # https://github.com/secure-systems-lab/dsse/blob/master/protocol.md (test vector).
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    assert pae("", b"") == b"DSSEv1 0  0 "


@cache
def _keys() -> dict[str, Any]:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    return {"ed25519": ed25519.Ed25519PrivateKey.generate(),
            "p256": ec.generate_private_key(ec.SECP256R1())}


def _flip(data: bytes, index: int, bit: int) -> bytes:
    out = bytearray(data)
    out[index % len(out)] ^= 1 << bit
    return bytes(out)


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["ed25519", "p256"]), payload=st.binary(min_size=1, max_size=300),
       where=st.sampled_from(["payload", "sig"]), index=st.integers(0, 10_000),
       bit=st.integers(0, 7))
def test_any_flipped_byte_is_invalid(
    kind: str, payload: bytes, where: str, index: int, bit: int
) -> None:
    key = _keys()[kind]
    trusted = {"officer": key.public_key()}
    envelope = sign_envelope(key, payload)
    ok = verify_envelope(envelope, trusted)
    assert (ok.verdict, ok.signer, ok.payload) == ("valid", "officer", payload)
    document = json.loads(envelope)
    raw = base64.b64decode(document[where] if where == "payload"
                           else document["signatures"][0]["sig"])
    flipped = base64.b64encode(_flip(raw, index, bit)).decode()
    if where == "payload":
        document["payload"] = flipped
    else:
        document["signatures"][0]["sig"] = flipped
    verdict = verify_envelope(json.dumps(document).encode(), trusted)
    assert verdict.verdict == "invalid" and verdict.signer is None


@settings(max_examples=30, deadline=None)
@given(payload=st.binary(max_size=100))
def test_signed_by_another_key_is_untrusted(payload: bytes) -> None:
    keys = _keys()
    envelope = sign_envelope(keys["ed25519"], payload)
    verdict = verify_envelope(envelope, {"auditor": keys["p256"].public_key()})
    assert verdict.verdict == "untrusted"


def test_payload_type_is_signed() -> None:
    key = _keys()["ed25519"]
    document = json.loads(sign_envelope(key, b"{}"))
    assert document["payloadType"] == PAYLOAD_TYPE
    document["payloadType"] = "text/plain"
    verdict = verify_envelope(json.dumps(document).encode(), {"k": key.public_key()})
    assert verdict.verdict == "invalid"


@pytest.mark.parametrize("envelope", [
    b"", b"[]", b"{}", b'{"payloadType": "x", "payload": "!!", "signatures": []}',
    b'{"payloadType": "x", "payload": "", "signatures": []}',
    b'{"payloadType": "x", "payload": "", "signatures": [7]}',
])
def test_malformed_envelope_raises(envelope: bytes) -> None:
    with pytest.raises(ValueError):
        verify_envelope(envelope, {"k": _keys()["ed25519"].public_key()})


def test_encrypted_key_refused() -> None:
    from cryptography.hazmat.primitives import serialization

    pem = _keys()["ed25519"].private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    with pytest.raises(InputError, match="unencrypted PEM"):
        load_private_key(pem, "--key k.pem")
