"""Everything that builds the engine's input from one read of a model version: the
evidence, the evaluation time, the enforcement of the target, the gate input document.

Below :mod:`mlgate.runner` and :mod:`mlgate.gate`; reads no registry (the caller hands
it an :class:`Evidence`), so the decision service can sit below the registry reader.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache

from .facts import MANIFEST_ARTIFACT, TAG_PREFIX, manifest_evidence, parse_facts, sha256_hex
from .models import (
    AttestationEvidence,
    Enforcement,
    EvaluationEvidence,
    GateInput,
    ModelRef,
    Provenance,
    Request,
    TargetKind,
)
from .policydata import PolicySettings
from .tags import TagDeclarations


def now_rfc3339(moment: datetime | None = None) -> tuple[str, int]:
    """Evaluation time as RFC 3339 UTC and as ns since the epoch (what Rego compares)."""
    if moment is None:
        ns = time.time_ns()
        moment = datetime.fromtimestamp(ns / 1e9, tz=UTC)
    else:
        moment = moment.astimezone(UTC)
        ns = int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z"), ns


def enforcement_for(target: str, kind: TargetKind, config: PolicySettings) -> Enforcement:
    """``deny`` for a protected alias or stage, else ``warn``.

    Compared by folded form (:func:`mlgate.names.protected_match`): a database matches
    ``prodúction`` or ``PRODUCTİON`` to the row of ``production``, so they are protected too.
    """
    protected = config.protected_stages if kind == "stage" else config.protected_aliases
    return _enforcement(target, tuple(protected))


@lru_cache(maxsize=1024)
def _enforcement(target: str, protected: tuple[str, ...]) -> Enforcement:
    # Cached: folding costs tens of microseconds, and every decision asks twice.
    from .names import protected_match

    return "deny" if protected_match(target, protected) else "warn"



@dataclass(frozen=True)
class Evidence:
    """One read of a model version: what a decision is made on."""

    model: str
    version: str
    source: str
    tags: dict[str, str]
    aliases: list[str]
    manifest: bytes | None = field(repr=False)
    # Only when the attestation gate has trusted keys (mlgate.attestation.observe).
    attestation: AttestationEvidence | None = field(default=None, repr=False, compare=False)
    # The run compliance.evaluation.run_id names, read with the version (None: no tag).
    evaluation: EvaluationEvidence | None = field(default=None, repr=False)
    # Hashes the version's model files (name -> sha256) once, when first called; set by
    # the registry reader. Never part of the gate input: the decision records what it
    # returns (mlgate.gate.record_model_files), the Rego does not see it.
    model_files: Callable[[], dict[str, str]] | None = field(
        default=None, repr=False, compare=False
    )

    @property
    def compliance_tags(self) -> dict[str, str]:
        return {k: v for k, v in self.tags.items() if k.startswith(TAG_PREFIX)}

    @property
    def manifest_sha256(self) -> str | None:
        return None if self.manifest is None else sha256_hex(self.manifest)

    def changes_since(self, earlier: Evidence) -> list[str]:
        """What differs from ``earlier`` in the evidence the gates read (tag keys, manifest)."""
        mine, theirs = self.compliance_tags, earlier.compliance_tags
        changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        if self.manifest_sha256 != earlier.manifest_sha256:
            changed.append(MANIFEST_ARTIFACT)
        if self.attestation != earlier.attestation:
            changed.append("attestation or model files")
        if self.evaluation != earlier.evaluation:
            changed.append("evaluation run")  # its status or metrics moved meanwhile
        if (self.model, self.version) != (earlier.model, earlier.version):
            changed.append("version")  # an alias moved to another version
        return changed


def build_gate_input(
    evidence: Evidence,
    *,
    target: str,
    kind: TargetKind,
    config: PolicySettings,
    now: tuple[str, int] | None = None,
    declarations: TagDeclarations | None = None,
    provenance: dict[str, Provenance] | None = None,
    promoted_by: str | None = None,
) -> GateInput:
    """The gate input document for promoting ``evidence``'s version to ``target``.

    ``tags`` carries the raw ``compliance.*`` tags only: they are what the gates read, and
    other tags (team notes, tokens someone pasted) have no place in a decision log. The
    waivers are left empty: :func:`mlgate.runner.attach_waivers` fills them in. The facts
    follow ``declarations``, the policy set's tag declarations (default: the bundled
    policies'; pass ``policy_set.tag_declarations`` when deciding with another set).

    With ``promotion.four_eyes`` on, the input carries ``provenance`` for every compliance
    tag (unknown where ``provenance`` has none: a plain registry keeps no evidence ledger)
    and ``promoted_by`` (None: unknown); otherwise they are left out, as they always were.
    """
    if declarations is None:
        from .policy import bundled_declarations

        declarations = bundled_declarations()
    facts, digest = parse_facts(evidence.tags, declarations)
    moment, moment_ns = now or now_rfc3339()
    gate_input = GateInput(
        model=ModelRef(name=evidence.model, version=evidence.version),
        request=Request(
            target=target,
            kind=kind,
            enforcement=enforcement_for(target, kind, config),
        ),
        facts=facts,
        tags=evidence.compliance_tags,
        aliases=sorted(evidence.aliases),
        manifest=manifest_evidence(evidence.manifest, digest),
        attestation=evidence.attestation,
        evaluation=evidence.evaluation,
        now=moment,
        now_ns=moment_ns,
    )
    if config.evidence.four_eyes:
        known = provenance or {}
        gate_input.provenance = {
            k: known.get(k, Provenance()) for k in sorted(evidence.compliance_tags)
        }
        gate_input.promoted_by = promoted_by
    return gate_input
