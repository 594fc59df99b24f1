"""``mlgate audit``: every version holding a protected alias or stage, decided now.

The registry is read in bulk (:mod:`mlgate.bulk`). Audit explains every blocked holding
against the promotion on record in the decision log (:func:`explain`). It never writes:
not to the registry, not to the log.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from . import gate
from .bulk import (
    Clock,
    Holding,
    Progress,
    Timings,
    aliases_by_version,
    all_versions,
    default_workers,
    protected_holdings,
    unwaived_codes,
    with_evidence,
)
from .facts import MANIFEST_ARTIFACT
from .gate_input import now_rfc3339
from .integrity import check_files
from .integrity import since as promotion_named
from .jsondoc import canonical
from .models import Decision, GateInput
from .policy import PolicySet
from .runner import retarget

if TYPE_CHECKING:
    from .decisionlog import DecisionLog, LogEntry
    from .engine.base import Engine
    from .evidence import Registry

# The time of day does not matter for a date comparison: the first ten characters.
_DATE = slice(0, 10)

__all__ = ["AuditResult", "Holding", "Timings", "audit", "explain", "unwaived_codes"]


# --------------------------------------------------------------------------- why blocked

def _listed(codes: Iterable[str]) -> str:
    return ", ".join(sorted(codes)) or "no violation code (a gate errored)"


def evidence_sha256(document: dict[str, Any]) -> str:
    """The digest of what is *on the version*: its ``compliance.*`` tags and the manifest
    artifact's bytes (as their sha256). Time, target, aliases and waivers are left out,
    and so is everything Python derives from the evidence (facts, schema errors), so
    equal digests mean nobody changed the evidence, whatever the tool version."""
    manifest = document.get("manifest") or {}
    subset = {
        "tags": document.get("tags") or {},
        "manifest_attached": bool(manifest.get("attached")),
        "manifest_sha256": manifest.get("digest_computed"),
    }
    return hashlib.sha256(canonical(subset)).hexdigest()


def _shown(value: str | None, limit: int = 60) -> str:
    if value is None:
        return "absent"
    text = " ".join(value.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def changed_fields(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Each tag (old -> new value) and the manifest artifact that differ between two
    gate input documents."""
    old_tags, new_tags = before.get("tags") or {}, now.get("tags") or {}
    changed = [
        f"tag {key} ({_shown(old_tags.get(key))} -> {_shown(new_tags.get(key))})"
        for key in sorted(old_tags.keys() | new_tags.keys())
        if old_tags.get(key) != new_tags.get(key)
    ]
    old_m, new_m = before.get("manifest") or {}, now.get("manifest") or {}
    if (old_m.get("attached"), old_m.get("digest_computed")) != (
        new_m.get("attached"),
        new_m.get("digest_computed"),
    ):
        changed.append(
            f"artifact {MANIFEST_ARTIFACT} (sha256 {_digest(old_m)} -> {_digest(new_m)})"
        )
    return changed


def _digest(manifest: dict[str, Any]) -> str:
    digest = manifest.get("digest_computed")
    if not manifest.get("attached") or not digest:
        return "absent"
    return f"{digest[:12]}..."


def promotion_on_record(log: DecisionLog, holding: Holding) -> LogEntry | None:
    """The latest allowed decision to promote the holding's version to what it holds.

    An alias is matched exactly (MLflow aliases are case-sensitive). A stage is matched
    as MLflow spells it and in lower case, since clients may have asked either way; and
    the logged request must have been for a stage, not an alias of the same name.
    """
    model, version = holding.key
    targets = [holding.target]
    if holding.kind == "stage":
        targets += [t for t in (holding.target.lower(), holding.target.title()) if t not in targets]
    found = [
        entry
        for target in targets
        if (entry := log.last_allowed(model, version, target)) is not None
        and (entry.gate_input.get("request") or {}).get("kind", "alias") == holding.kind
    ]
    return max(found, key=lambda e: (e.created_at, e.id), default=None)


@dataclass(frozen=True)
class Record:
    """What the decision log can say about a holding: the promotion, or why not."""

    entry: LogEntry | None
    missing: str  # why there is no entry ("" when there is one)
    consulted: bool = True  # False: there was no record to look in


def explain(
    decision: Decision,
    gate_input: GateInput,
    holding: Holding,
    record: Record,
    engine: Engine,
    policy_set: PolicySet,
) -> list[str]:
    """Why a version holding a protected target would be blocked now.

    Against the allowed promotion on record: the evidence changed (digest of tags and
    manifest), the model files changed (:func:`mlgate.integrity.check_files`), a waiver
    applied then is no longer active, the assessment aged past its limit, or the policy
    changed (the logged gate input, replayed under the current policies, is blocked).
    Several can hold at once; each is one line.
    """
    now_codes = unwaived_codes(decision)
    what = "alias" if holding.kind == "alias" else "stage"
    if record.entry is None and not record.consulted:
        # No record to look in: how the alias was set cannot be told from here.
        return [
            f"no allowed promotion on record: {record.missing}; how {what} "
            f"{holding.target!r} was set cannot be told; blocked now by {_listed(now_codes)}"
        ]
    if record.entry is None:
        return [
            f"no allowed promotion on record: {record.missing}; {what} {holding.target!r} "
            f"was set outside mlgate or before it logged decisions; blocked now by "
            f"{_listed(now_codes)}"
        ]
    promoted = record.entry
    then_doc, now_doc = promoted.gate_input, gate_input.model_dump(mode="json")
    since = promotion_named(promoted)
    reasons: list[str] = []

    then_digest, now_digest = evidence_sha256(then_doc), evidence_sha256(now_doc)
    if then_digest != now_digest:
        fields = "; ".join(changed_fields(then_doc, now_doc))
        reasons.append(
            f"evidence changed since {since} (evidence sha256 {then_digest[:12]}... -> "
            f"{now_digest[:12]}...): {fields}"
        )

    files = check_files(promoted, decision, gate_input)
    if files.finding:
        reasons.append(files.finding)

    reasons.extend(_waiver_reasons(promoted, gate_input, now_codes, policy_set, since))

    replay = _replay(then_doc, holding, engine, policy_set)
    replay_codes = unwaived_codes(replay) if isinstance(replay, Decision) else set()
    if (
        "assessment.expired" in now_codes
        and "assessment.expired" not in replay_codes
        and _assessment_date(then_doc) == _assessment_date(now_doc)
    ):
        reasons.append(_aged(then_doc, gate_input, policy_set, since))

    if isinstance(replay, str):
        reasons.append(f"cannot replay {since} under the current policies: {replay}")
    elif not replay.allowed:
        before, after = promoted.policy_revision, decision.policy_revision
        if before != after:
            revisions = f"policy revision {before or 'none'} -> {after or 'none'}"
        else:
            revisions = (
                f"policy revision {after or 'none'} both times: edited without a new "
                "commit, or not under git"
            )
        reasons.append(
            f"policy changed since {since} ({revisions}): the gate input logged then is "
            f"blocked under the current policies by {_listed(replay_codes)}"
        )

    if not reasons:
        reasons.append(
            f"blocked now by {_listed(now_codes)}; the evidence, waivers and policy "
            f"verdict are those of {since}, which was allowed"
        )
    return reasons


def _replay(
    then_doc: dict[str, Any], holding: Holding, engine: Engine, policy_set: PolicySet
) -> Decision | str:
    """The logged gate input (its time, evidence and waivers) under today's policies,
    with today's enforcement for the target; a one-line reason when it cannot be."""
    from pydantic import ValidationError

    from .errors import MlgateError, one_line

    try:
        then_input = GateInput.model_validate(then_doc)
    except ValidationError as exc:
        return f"the logged gate input is not valid any more ({one_line(str(exc))[:200]})"
    replay_input = retarget(then_input, holding.target, holding.kind, policy_set.config)
    try:
        return gate.decide_input(replay_input, engine, policy_set)
    except MlgateError as exc:
        return one_line(str(exc))


def _waiver_reasons(
    promoted: LogEntry,
    gate_input: GateInput,
    now_codes: set[str],
    policy_set: PolicySet,
    since: str,
) -> list[str]:
    active = {w.id for w in gate_input.waivers}
    today = gate_input.now[_DATE]
    entries = {w.id: w for w in policy_set.waivers}
    reasons = []
    for waiver_id in sorted(set(promoted.decision.waivers_applied) - active):
        covered = {
            v.code
            for g in promoted.decision.gates
            for v in g.violations
            if v.waived_by == waiver_id
        }
        failing = covered & now_codes
        if not failing:
            continue  # what it waived is fixed: its end does not block anything
        entry = entries.get(waiver_id)
        if entry is not None and entry.expires.isoformat() < today:
            head = (
                f"waiver expired since {since}: {waiver_id} (ticket {entry.ticket}) "
                f"expired on {entry.expires}"
            )
        elif entry is not None:
            head = (
                f"waiver no longer applies since {since}: {waiver_id} (ticket "
                f"{entry.ticket}) does not cover this model version any more"
            )
        else:
            head = (
                f"waiver no longer applies since {since}: {waiver_id} is not in the "
                "policy waivers any more"
            )
        reasons.append(f"{head}; it waived {_listed(failing)}, which fail again")
    return reasons


def _assessment_date(document: dict[str, Any]) -> str | None:
    facts = document.get("facts") or {}
    return (facts.get("assessment") or {}).get("date")


def _aged(
    then_doc: dict[str, Any], gate_input: GateInput, policy_set: PolicySet, since: str
) -> str:
    assessed = (gate_input.facts.get("assessment") or {}).get("date") or "?"
    limit = policy_set.config.gate_setting("assessment", "max_age_days")

    def age(moment: str) -> str:
        try:
            return str((date.fromisoformat(moment[_DATE]) - date.fromisoformat(assessed)).days)
        except ValueError:
            return "?"

    return (
        f"assessment aged since {since}: the security assessment of {assessed} was "
        f"{age(str(then_doc.get('now', '')))} days old then and is {age(gate_input.now)} "
        f"days old now, past the {limit}-day limit"
    )


# --------------------------------------------------------------------------- audit


@dataclass
class AuditResult:
    """Every protected holding's decision now (blocked ones explained), in registry order."""

    decisions: list[Decision] = field(default_factory=list)
    versions_scanned: int = 0
    timings: Timings = field(default_factory=Timings)
    # Allowed holdings whose model files differ from (or cannot be compared with) those
    # of their promotion on record: reported, and audit exits 1, like a blocked one.
    files_changed: list[Decision] = field(default_factory=list)

    @property
    def blocked(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]

    @property
    def reported(self) -> list[Decision]:
        """The holdings audit reports: blocked, or allowed with changed model files."""
        changed = {id(d) for d in self.files_changed}
        return [d for d in self.decisions if not d.allowed or id(d) in changed]


def audit(
    registry: Registry,
    policy_set: PolicySet,
    engine: Engine,
    log: DecisionLog | None,
    *,
    log_missing: str = "",
    progress: Progress | None = None,
    workers: int | None = None,
) -> AuditResult:
    """Re-evaluate every version holding a protected alias or stage under the current
    policies, now, with one engine; explain each blocked one (see :func:`explain`), and
    compare each one's model files, hashed again, with those of its allowed promotion on
    record (:func:`mlgate.integrity.check_files`).

    ``log`` is the decision log to explain against; when it is None, ``log_missing``
    says why (e.g. "no decision log at ..."). ``workers``: concurrent manifest fetches,
    default :func:`default_workers`.
    """
    started = time.perf_counter()
    workers = workers or default_workers(registry)
    result = AuditResult()
    clock = result.timings
    with Clock(clock, "registry_reads"):
        aliases = aliases_by_version(registry)
        versions = all_versions(registry)
    result.versions_scanned = len(versions)
    holdings = protected_holdings(versions, aliases, [policy_set.config])
    now = now_rfc3339()
    fetched = with_evidence(
        registry, holdings, aliases, clock, workers, progress, hash_files=True
    )
    for holding, evidence in fetched:
        with Clock(clock, "evaluation"):
            decision, gate_input = gate.decide(
                evidence, holding.target, holding.kind, engine, policy_set, now=now
            )
        with Clock(clock, "decision_log"):
            record = _record(log, holding, log_missing)
        files = check_files(record.entry, decision, gate_input) if record.entry else None
        if not decision.allowed:
            with Clock(clock, "evaluation"):
                decision.warnings.extend(
                    explain(decision, gate_input, holding, record, engine, policy_set)
                )
        elif files is not None and files.finding:
            decision.warnings.append(files.finding)
            result.files_changed.append(decision)
        if files is not None and files.note:
            decision.warnings.append(files.note)
        result.decisions.append(decision)
    clock.total = time.perf_counter() - started
    return result


def _record(log: DecisionLog | None, holding: Holding, log_missing: str) -> Record:
    if log is None:
        return Record(None, log_missing or "no decision log", consulted=False)
    entry = promotion_on_record(log, holding)
    if entry is not None:
        return Record(entry, "")
    return Record(
        None,
        f"the decision log {log.masked_url} has no allowed decision promoting "
        f"{holding.version.name} v{holding.version.version} to {holding.target}",
    )
