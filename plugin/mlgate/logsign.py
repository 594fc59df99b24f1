"""Optional Ed25519 signatures on the decision log's chain (``MLGATE_LOG_SIGNING_KEY``).

Without a key the chain (:mod:`mlgate.logchain`) shows edits, but whoever can write the
database can recompute every hash after theirs. With ``MLGATE_LOG_SIGNING_KEY`` (the path
of a PEM Ed25519 private key) every append signs its row's sha256 into ``row_signature``;
``mlgate log verify`` checks each chained row's signature against
``MLGATE_LOG_VERIFY_KEY`` (a PEM public key), or the public half of the signing key. Keys
are read with ``cryptography``, imported only here and only when a key is configured.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .logentry import DecisionLogError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

SIGNING_ENV = "MLGATE_LOG_SIGNING_KEY"
VERIFY_ENV = "MLGATE_LOG_VERIFY_KEY"


def _read(variable: str) -> bytes | None:
    path = os.environ.get(variable, "").strip()
    if not path:
        return None
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        raise DecisionLogError(f"{variable} {path}: cannot read: {exc.strerror or exc}") from exc


def signing_key() -> Ed25519PrivateKey | None:
    """The configured private key, or None; a key that is not Ed25519 is an error."""
    pem = _read(SIGNING_ENV)
    if pem is None:
        return None
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise DecisionLogError(
            f"{SIGNING_ENV}: expected an unencrypted PEM Ed25519 private key ({exc})"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise DecisionLogError(f"{SIGNING_ENV}: expected an Ed25519 key, not {type(key).__name__}")
    return key


def verify_key() -> Ed25519PublicKey | None:
    """The key ``log verify`` checks signatures with, or None (signatures not checked)."""
    pem = _read(VERIFY_ENV)
    if pem is None:
        private = signing_key()
        return None if private is None else private.public_key()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(pem)
    except ValueError as exc:
        raise DecisionLogError(f"{VERIFY_ENV}: expected a PEM Ed25519 public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise DecisionLogError(f"{VERIFY_ENV}: expected an Ed25519 key, not {type(key).__name__}")
    return key


def sign(key: Ed25519PrivateKey, sha256: str) -> str:
    return key.sign(bytes.fromhex(sha256)).hex()


def signed(key: Ed25519PublicKey, sha256: str, signature: str | None) -> bool:
    """Whether ``signature`` (hex) is ``key``'s signature of ``sha256``."""
    from cryptography.exceptions import InvalidSignature

    if not signature:
        return False
    try:
        key.verify(bytes.fromhex(signature), bytes.fromhex(sha256))
    except (InvalidSignature, ValueError):
        return False
    return True
