"""DSSE envelopes (https://github.com/secure-systems-lab/dsse, protocol v1) signed with
ECDSA P-256 (SHA-256, DER signature) or Ed25519 PEM keys, through ``cryptography``.

The signature covers the pre-authentication encoding (PAE) of the payload type and the
payload bytes, never the JSON of the envelope::

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

with LEN the ASCII decimal byte length. A key's id is the sha256 of its public key in
DER SubjectPublicKeyInfo form (hex): a hint for the verifier, never trusted by itself.
``cryptography`` is imported inside the functions: ``mlgate --help`` never loads it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal

from .errors import InputError

PAYLOAD_TYPE = "application/vnd.in-toto+json"

Verdict = Literal["valid", "invalid", "untrusted"]


def pae(payload_type: str, payload: bytes) -> bytes:
    """The DSSE v1 pre-authentication encoding of ``payload`` of type ``payload_type``."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def _public_der(key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    der: bytes = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return der


def key_id(public_key: Any) -> str:
    """sha256 (hex) of the public key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(_public_der(public_key)).hexdigest()


def _supported(key: Any) -> bool:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return True
    return isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and (
        isinstance(key.curve, ec.SECP256R1)
    )


def load_private_key(pem: bytes, where: str) -> Any:
    """An unencrypted PEM Ed25519 or ECDSA P-256 private key; :class:`InputError` if not."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(
            f"{where}: expected an unencrypted PEM private key, Ed25519 or ECDSA P-256 ({first})"
        ) from exc
    if not _supported(key):
        raise InputError(
            f"{where}: expected an Ed25519 or ECDSA P-256 key, not {type(key).__name__}"
        )
    return key


PUBLIC_KEY_EXPECTED = (
    "a PEM public key (-----BEGIN PUBLIC KEY-----), Ed25519 or ECDSA P-256"
)


def _read_public_key(pem: str | bytes) -> tuple[Any, str]:
    """The supported public key in ``pem`` and "", or None and what the text is instead.
    The text is never quoted back: a private key pasted by mistake must not reach a log."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.serialization import (
        load_pem_private_key,
        load_pem_public_key,
    )

    data = pem.encode("utf-8", "replace") if isinstance(pem, str) else pem
    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        try:
            load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            if b"PRIVATE KEY-----" in data:
                return None, "a private key (never list one: give its public key)"
            return None, "text that is not a PEM public key"
        return None, "a private key (never list one: give its public key)"
    if not _supported(key):
        return None, _kind(key)
    return key, ""


def _kind(key: Any) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an ECDSA key on {key.curve.name}"
    if isinstance(key, rsa.RSAPublicKey):
        return "an RSA key"
    return f"a {type(key).__name__.lstrip('_')}"


def public_key_problem(pem: str | bytes) -> str | None:
    """None when ``pem`` holds a supported public key, else what it holds instead."""
    return _read_public_key(pem)[1] or None


def load_public_key(pem: str | bytes, where: str) -> Any:
    """A PEM Ed25519 or ECDSA P-256 public key; :class:`ValueError` naming ``where`` if not."""
    key, problem = _read_public_key(pem)
    if key is None:
        raise ValueError(f"{where}: expected {PUBLIC_KEY_EXPECTED}, got {problem}")
    return key


def sign_bytes(private_key: Any, message: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(message)
    assert isinstance(private_key, ec.EllipticCurvePrivateKey)
    return private_key.sign(message, ec.ECDSA(hashes.SHA256()))


def verify_bytes(public_key: Any, signature: bytes, message: bytes) -> bool:
    """Whether ``signature`` is ``public_key``'s over ``message``; never raises."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    try:
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            public_key.verify(signature, message)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def sign_envelope(private_key: Any, payload: bytes, payload_type: str = PAYLOAD_TYPE) -> bytes:
    """The DSSE envelope (canonical JSON bytes) of ``payload`` signed by ``private_key``."""
    signature = sign_bytes(private_key, pae(payload_type, payload))
    envelope = {
        "payload": base64.b64encode(payload).decode("ascii"),
        "payloadType": payload_type,
        "signatures": [
            {
                "keyid": key_id(private_key.public_key()),
                "sig": base64.b64encode(signature).decode("ascii"),
            }
        ],
    }
    return json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Verified:
    """What :func:`verify_envelope` found: the verdict, the trusted signer's name, the
    payload (decoded, whether or not the signature holds) and its type."""

    verdict: Verdict
    signer: str | None
    payload: bytes
    payload_type: str


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"{what} is not valid base64") from exc


def verify_envelope(envelope: bytes, trusted: dict[str, Any]) -> Verified:
    """Check a DSSE envelope against ``trusted`` (name -> public key).

    ``valid``: a signature verifies under a trusted key; ``invalid``: a signature names a
    trusted key (key id) but does not verify under it (the payload or signature was
    altered); ``untrusted``: no trusted key verifies a signature and none is named.
    A malformed envelope is :class:`ValueError` (the caller fails closed).
    """
    try:
        document = json.loads(envelope.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("the envelope is not JSON") from exc
    if not isinstance(document, dict):
        raise ValueError("the envelope is not a JSON object")
    payload_type = document.get("payloadType")
    if not isinstance(payload_type, str):
        raise ValueError("the envelope has no payloadType")
    payload = _b64(document.get("payload"), "payload")
    signatures = document.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ValueError("the envelope has no signatures")
    message = pae(payload_type, payload)
    ids = {key_id(key): name for name, key in trusted.items()}
    named_trusted = False
    for entry in signatures:
        if not isinstance(entry, dict):
            raise ValueError("a signature is not a JSON object")
        sig = _b64(entry.get("sig"), "sig")
        hint = entry.get("keyid")
        if isinstance(hint, str) and hint in ids:
            named_trusted = True
        for name, key in sorted(trusted.items()):
            if verify_bytes(key, sig, message):
                return Verified("valid", name, payload, payload_type)
    return Verified("invalid" if named_trusted else "untrusted", None, payload, payload_type)
