"""The decision service: every decision mlgate makes is made here, one step after another.

:func:`decide` is the whole decision for a model version read from a registry:

1. build the gate input from the evidence (facts, manifest, the target's enforcement, now);
2. attach the waivers active for that version now;
3. evaluate with the runner (the engine, then the fail-closed checks of its result);
4. for a protected target, record the model files it was made on (:func:`record_model_files`).

:func:`decide_input` is step 3 alone, for a gate input made elsewhere (``check --input``,
audit replaying a logged input). :func:`record` appends a decision to the decision log.
:func:`promote` is the CLI's promotion (decide, re-read, record, set the alias, tag).

Callers: ``mlgate check`` and ``mlgate promote`` (:mod:`mlgate.commands`), ``mlgate demo``
(:mod:`mlgate.demo`), ``mlgate audit`` and ``mlgate policy impact`` (:mod:`mlgate.audit`)
and the server store (:mod:`mlgate.registry.store`, which keeps only its locking
transaction around these). No other module calls the runner's ``evaluate``
(tests/test_architecture.py holds that).

This module sits below the registry reader (:mod:`mlgate.evidence`) and the decision log
(:mod:`mlgate.decisionlog`): it receives both as arguments, so it imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import EvidenceChangedError, one_line
from .gate_input import Evidence, build_gate_input
from .modelfiles import files_sha256
from .runner import attach_waivers, evaluate

if TYPE_CHECKING:
    from .engine.base import Engine
    from .models import Decision, GateInput, Provenance, TargetKind
    from .policy import PolicySet


class DecisionRecord(Protocol):
    """Where decisions are appended (:class:`mlgate.decisionlog.DecisionLog`)."""

    def append(
        self, decision: Decision, gate_input: GateInput, *, actor: str, source: str
    ) -> None: ...


class VersionRegistry(Protocol):
    """What :func:`promote` needs of a registry (:class:`mlgate.evidence.Registry`)."""

    def read(self, ref: Any) -> Evidence: ...

    def set_alias(self, model: str, alias: str, version: str) -> None: ...

    def write_decision_tags(self, decision: Decision) -> None: ...


def decide(
    evidence: Evidence,
    target: str,
    kind: TargetKind,
    engine: Engine,
    policy_set: PolicySet,
    *,
    now: tuple[str, int] | None = None,
    provenance: dict[str, Provenance] | None = None,
    promoted_by: str | None = None,
    record_files: bool = True,
) -> tuple[Decision, GateInput]:
    """Decide promoting ``evidence``'s version to ``target`` (an alias or a stage, by
    ``kind``) at ``now`` (default: this moment), waivers included; the decision and the
    gate input it was made on. ``provenance`` (the evidence ledger's, per compliance tag)
    and ``promoted_by`` (the verified user) matter when ``promotion.four_eyes`` is on;
    absent, they are unknown. ``record_files``: False for what-if decisions that need no
    model-files digest (``policy impact``)."""
    gate_input = build_gate_input(
        evidence,
        target=target,
        kind=kind,
        config=policy_set.config,
        now=now,
        declarations=policy_set.tag_declarations,
        provenance=provenance,
        promoted_by=promoted_by,
    )
    gate_input, warnings = attach_waivers(gate_input, policy_set)
    decision = decide_input(gate_input, engine, policy_set, warnings=warnings)
    if record_files and gate_input.request.enforcement == "deny":
        record_model_files(decision, evidence)
    return decision, gate_input


def record_model_files(decision: Decision, evidence: Evidence) -> None:
    """Put the digest and the per-file sha256 of ``evidence``'s model files on
    ``decision``: what audit later compares the files in production with.

    Outside the gate input on purpose: with the attestation gate off the Rego does not
    read them and the input digest stays what it was. A hashing failure changes no
    verdict (it is no evidence the gates read; with the attestation gate on, that gate
    fails closed on it): the digest stays null and the decision says why in a warning.
    """
    if evidence.model_files is None:
        return  # evidence not read from a registry: there are no files to hash
    try:
        files = evidence.model_files()
    except Exception as exc:  # noqa: BLE001 - recorded as unknown, said in one line
        decision.model_files_sha256 = None
        decision.warnings.append(
            "model files not hashed, no model-files digest recorded: "
            f"{one_line(str(exc)) or type(exc).__name__}"
        )
        return
    decision.model_files = files
    decision.model_files_sha256 = files_sha256(files)


def decide_input(
    gate_input: GateInput,
    engine: Engine,
    policy_set: PolicySet,
    *,
    warnings: list[str] | None = None,
) -> Decision:
    """Evaluate a ready gate input (its waivers already in it): the runner's validated
    decision, fail closed on any engine fault."""
    return evaluate(gate_input, engine, policy_set, warnings=warnings)


def record(
    log: DecisionRecord, decision: Decision, gate_input: GateInput, *, actor: str, source: str
) -> None:
    """Append ``decision`` and the input it was made on to the decision log."""
    log.append(decision, gate_input, actor=actor, source=source)


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` did: the decision, the input it was made on, and the alias."""

    decision: Decision
    gate_input: GateInput
    alias_set: bool


def promote(
    registry: VersionRegistry,
    ref: Any,
    alias: str,
    engine: Engine,
    policy_set: PolicySet,
    *,
    open_log: Callable[[], AbstractContextManager[DecisionRecord]],
    actor: Callable[[], str],
    dry_run: bool = False,
    source: str = "cli",
) -> Promotion:
    """Evaluate promoting ``ref`` to ``alias``; when allowed, set the alias.

    Order, so that nothing acts on evidence it did not check and nothing is promoted
    without an audit record:

    1. read the version and its manifest; :func:`decide`;
    2. when allowed, re-read tags and manifest and refuse (:class:`EvidenceChangedError`,
       exit 2, nothing written) if the evidence the gates read has changed since 1;
    3. append the decision to the decision log (``open_log()``, opened only now: a dry
       run or a refusal creates no log);
    4. set the alias (allowed only);
    5. write the decision tags on the version.

    ``dry_run`` stops after 1. A window remains between 2 and 4 (MLflow has no
    compare-and-set); the server plugin closes it by deciding inside the registry.
    """
    evidence = registry.read(ref)
    decision, gate_input = decide(evidence, alias, "alias", engine, policy_set)
    if dry_run:
        return Promotion(decision, gate_input, alias_set=False)
    if decision.allowed:
        changed = registry.read(ref).changes_since(evidence)
        if changed:
            raise EvidenceChangedError(
                f"promote: the evidence on model {evidence.model!r} version "
                f"{evidence.version} changed while it was being evaluated "
                f"({', '.join(changed)}); alias {alias!r} not set, nothing logged; "
                "run promote again"
            )
    with open_log() as log:
        record(log, decision, gate_input, actor=actor(), source=source)
    if decision.allowed:
        registry.set_alias(evidence.model, alias, evidence.version)
    registry.write_decision_tags(decision)
    return Promotion(decision, gate_input, alias_set=decision.allowed)
