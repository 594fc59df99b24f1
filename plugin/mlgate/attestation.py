"""Signed evidence attestations: ``mlgate attest`` and what the ``attestation`` gate reads.

``mlgate attest MODEL VERSION --key KEY.pem`` builds an in-toto Statement v1 whose subject
is the version's model files (name and sha256 of each, :mod:`mlgate.modelfiles`) and
whose predicate holds the version's ``compliance.*`` tags (all but the attestation's own
digest tag), the data manifest's digest, the attester and the time; signs it as a DSSE
envelope (:mod:`mlgate.dsse`); logs it as ``compliance/attestation.dsse.json`` beside the
data manifest; reads it back; tags ``compliance.attestation.sha256`` with its digest.

:func:`observe` is the other side, run when policy data lists trusted keys: it reads the
envelope, verifies the signature, hashes the model files now and compares; the result
(:class:`mlgate.models.AttestationEvidence`) reaches Rego as ``input.attestation`` and the
gate decides. Any error reading, verifying or hashing is recorded in ``error``: the gate
fails closed on it, never passes.

The registry is reached through :class:`AttestRegistry` (what :class:`mlgate.evidence.
Registry` offers) so that the registry reader can call :func:`observe` without a cycle.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .dsse import PAYLOAD_TYPE, key_id, load_public_key, sign_envelope, verify_envelope
from .errors import RegistryError, one_line
from .facts import TAG_PREFIX, sha256_hex
from .modelfiles import files_diff, files_sha256, hash_repository
from .models import AttestationEvidence

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from mlflow.entities.model_registry import ModelVersion

    from .gate_input import Evidence

ATTESTATION_TAG = "compliance.attestation.sha256"
ATTESTATION_ARTIFACT = "compliance/attestation.dsse.json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://mlgate.dev/attestation/compliance/v1"

TrustedKeys = tuple[tuple[str, str], ...]  # (name, public_key_pem), from policy data


class AttestRegistry(Protocol):
    """What this module needs of :class:`mlgate.evidence.Registry`."""

    @property
    def client(self) -> Any: ...

    def calling(self, what: str) -> AbstractContextManager[None]: ...

    def artifact_location(self, mv: ModelVersion) -> str: ...

    def _repository(self, location: str) -> Any: ...

    def _upload_manifest(self, mv: ModelVersion, local: str) -> None: ...


def trusted_keys(config_values: Mapping[str, Any]) -> TrustedKeys:
    """``attestation.trusted_keys`` of the policy data as (name, pem) pairs; () = gate off."""
    section = config_values.get("attestation")
    keys = section.get("trusted_keys") if isinstance(section, dict) else None
    if not isinstance(keys, list):
        return ()
    return tuple(
        (str(k.get("name", "")), str(k.get("public_key_pem", "")))
        for k in keys
        if isinstance(k, dict)
    )


def covered_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a statement covers: every ``compliance.*`` tag but its own digest tag."""
    return {
        k: v for k, v in sorted(tags.items()) if k.startswith(TAG_PREFIX) and k != ATTESTATION_TAG
    }


def statement(
    evidence: Evidence, files: Mapping[str, str], attester: str, signer_id: str, at: str
) -> dict[str, Any]:
    """The in-toto Statement v1 for ``evidence``'s version and its model ``files``."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": n, "digest": {"sha256": d}} for n, d in sorted(files.items())],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "model": {"name": evidence.model, "version": evidence.version},
            "compliance_tags": covered_tags(evidence.tags),
            "manifest": {"path": "compliance/data_manifest.json",
                         "sha256": evidence.manifest_sha256},
            "model_files_sha256": files_sha256(files),
            "attester": {"name": attester, "keyid": signer_id},
            "attested_at": at,
        },
    }


def model_files(registry: AttestRegistry, mv: ModelVersion) -> dict[str, str]:
    """name -> sha256 of the version's model files (everything but ``compliance/``)."""
    location = registry.artifact_location(mv)
    repo = registry._repository(location)
    with registry.calling(f"hash the model files of model {mv.name!r} version {mv.version}"):
        return hash_repository(repo)


def envelope_bytes(registry: AttestRegistry, mv: ModelVersion) -> bytes | None:
    """The bytes of ``compliance/attestation.dsse.json``, None when it is absent."""
    from .mlflowapi import download_artifact

    repo = registry._repository(registry.artifact_location(mv))
    with registry.calling(f"list compliance/ of model {mv.name!r} version {mv.version}"):
        listing = repo.list_artifacts("compliance")
    if not any(
        not item.is_dir and str(item.path).rstrip("/").endswith(ATTESTATION_ARTIFACT)
        for item in listing
    ):
        return None
    with tempfile.TemporaryDirectory(prefix="mlgate-") as tmp, registry.calling(
        f"download {ATTESTATION_ARTIFACT} of model {mv.name!r} version {mv.version}"
    ):
        return Path(download_artifact(repo, ATTESTATION_ARTIFACT, tmp)).read_bytes()


def attest(
    registry: AttestRegistry,
    mv: ModelVersion,
    evidence: Evidence,
    private_key: Any,
    attester: str,
    *,
    now: datetime | None = None,
) -> tuple[str, dict[str, Any]]:
    """Sign and attach the attestation of ``evidence`` (read from ``mv``); tag its digest.
    The envelope's digest and the statement."""
    files = model_files(registry, mv)
    at = (now or datetime.now(UTC)).isoformat(timespec="seconds").replace("+00:00", "Z")
    document = statement(evidence, files, attester, key_id(private_key.public_key()), at)
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode("utf-8")
    envelope = sign_envelope(private_key, payload)
    digest = sha256_hex(envelope)
    with tempfile.TemporaryDirectory(prefix="mlgate-") as tmp:
        local = Path(tmp) / ATTESTATION_ARTIFACT.rsplit("/", 1)[1]
        local.write_bytes(envelope)
        registry._upload_manifest(mv, str(local))
    stored = envelope_bytes(registry, mv)
    if stored is None or sha256_hex(stored) != digest:
        raise RegistryError(
            f"{ATTESTATION_ARTIFACT} of model {mv.name!r} version {mv.version} does not "
            "read back as written; digest tag not set"
        )
    with registry.calling(f"set tag {ATTESTATION_TAG} on model {mv.name!r} version {mv.version}"):
        registry.client.set_model_version_tag(mv.name, str(mv.version), ATTESTATION_TAG, digest)
    return digest, document


# --------------------------------------------------------------------------- the gate's facts


def _public_keys(keys: TrustedKeys) -> dict[str, Any]:
    found = {}
    for index, (name, pem) in enumerate(keys):
        where = f"policy data attestation.trusted_keys[{index}] ({name!r})"
        found[name] = load_public_key(pem, where)  # ValueError: the caller fails closed
    return found


def _parse_statement(payload: bytes, payload_type: str) -> dict[str, Any]:
    if payload_type != PAYLOAD_TYPE:
        raise ValueError(f"payloadType {payload_type!r}, expected {PAYLOAD_TYPE}")
    document = json.loads(payload.decode("utf-8"))
    if not isinstance(document, dict) or document.get("_type") != STATEMENT_TYPE:
        raise ValueError(f"the payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    if document.get("predicateType") != PREDICATE_TYPE:
        raise ValueError(f"predicateType is not {PREDICATE_TYPE}")
    predicate = document.get("predicate")
    subject = document.get("subject")
    if not isinstance(predicate, dict) or not isinstance(subject, list):
        raise ValueError("the statement has no predicate or no subject list")
    return document


def _subject_files(subject: Sequence[Any]) -> dict[str, str]:
    files: dict[str, str] = {}
    for item in subject:
        name = item.get("name") if isinstance(item, dict) else None
        digest = item.get("digest", {}).get("sha256") if isinstance(item, dict) else None
        if not isinstance(name, str) or not isinstance(digest, str) or name in files:
            raise ValueError("a subject entry has no name, no sha256 digest, or repeats a name")
        files[name] = digest.lower()
    return files


def observe(
    registry: AttestRegistry,
    mv: ModelVersion,
    evidence: Evidence,
    keys: TrustedKeys,
    files: Callable[[], dict[str, str]] | None = None,
) -> AttestationEvidence:
    """Check the version's attestation against ``keys`` and its current evidence. Never
    raises for what it finds: an error is recorded (the gate fails closed on it).
    ``files`` hashes the model files (default: :func:`model_files`); the registry reader
    passes the one the decision records too, so they are hashed once."""
    hashed = files or (lambda: model_files(registry, mv))
    found = AttestationEvidence(present=False)
    try:
        envelope = envelope_bytes(registry, mv)
        if envelope is None:
            found.files_sha256 = files_sha256(hashed())
            return found
        found.present = True
        found.envelope_sha256 = sha256_hex(envelope)
        verified = verify_envelope(envelope, _public_keys(keys))
        found.signature, found.signer = verified.verdict, verified.signer
        document = _parse_statement(verified.payload, verified.payload_type)
        predicate = document["predicate"]
        model = predicate.get("model") or {}
        found.statement_model, found.statement_version = model.get("name"), model.get("version")
        found.subject_match = (found.statement_model, found.statement_version) == (
            evidence.model, evidence.version)
        attested_tags = predicate.get("compliance_tags")
        if not isinstance(attested_tags, dict):
            raise ValueError("predicate.compliance_tags is not an object")
        now_tags = covered_tags(evidence.tags)
        found.tags_diff = sorted(
            k for k in attested_tags.keys() | now_tags.keys()
            if attested_tags.get(k) != now_tags.get(k)
        )
        manifest = predicate.get("manifest") or {}
        found.manifest_match = manifest.get("sha256") == evidence.manifest_sha256
        current = hashed()
        found.files_sha256 = files_sha256(current)
        found.files_diff = files_diff(_subject_files(document["subject"]), current)
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the gate fails closed
        found.error = one_line(str(exc)) or type(exc).__name__
    return found
