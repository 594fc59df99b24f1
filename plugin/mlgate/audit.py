"""``mlgate audit`` and ``mlgate policy impact``: many versions, one compiled engine.

Both commands evaluate many model versions, so both read the registry in bulk:

- one paged ``search_registered_models`` gives every alias (a model version found by
  search carries none), and one paged ``search_model_versions`` gives every version
  with its tags, stage and source; pages are ordered by name and version so a version
  updated mid-scan is neither skipped nor read twice;
- only the manifest is fetched per version (it is an artifact, not a registry field),
  through :meth:`Registry.manifest_bytes`, the same code ``mlgate check`` uses; against
  a tracking server on a small thread pool, since each fetch is two or three HTTP round
  trips and waiting for them one at a time dominates the run (see
  :data:`REMOTE_WORKERS`);
- every decision is evaluated on the calling thread by the one engine it was given
  (the embedded engine is compiled once per policy set and thread).

Versions are processed in chunks (fetch a chunk's manifests, then evaluate it), so
memory stays bounded on a large registry and the time split in :class:`Timings` is
honest: fetching and evaluating never overlap.

Audit explains every blocked holding against the promotion on record in the decision
log (:func:`explain`). It never writes: not to the registry, not to the log.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from . import gate
from .evidence import Registry
from .facts import MANIFEST_ARTIFACT
from .gate_input import Evidence, now_rfc3339
from .jsondoc import canonical
from .models import Decision, GateInput, PolicyConfig, TargetKind
from .policy import PolicySet
from .runner import retarget

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from .decisionlog import DecisionLog, LogEntry
    from .engine.base import Engine

# Rows per search page: MLflow's own default for model versions (its server accepts up to
# 200,000), and the most it accepts for registered models.
VERSIONS_PAGE = 10_000
MODELS_PAGE = 1_000
# Versions whose manifests are fetched, then evaluated, per chunk.
CHUNK = 500
# Concurrent manifest fetches against a tracking server, where each fetch waits on HTTP
# round trips (measured, 5,000 versions, local `mlflow server`: 264 s with 1, 40 s with
# 8). Against a database the client reads itself (sqlite, PostgreSQL, MySQL) a fetch is
# Python work under the GIL and threads only contend (sqlite: 17 s with 1, 26 s with 8).
REMOTE_WORKERS = 8
# The time of day does not matter for a date comparison: the first ten characters.
_DATE = slice(0, 10)

Progress = Callable[[int, int], None]
Key = tuple[str, str]  # (model name, version)


@dataclass(frozen=True)
class Holding:
    """A version holding a protected alias or stage: what audit re-evaluates."""

    version: ModelVersion
    target: str
    kind: TargetKind

    @property
    def key(self) -> Key:
        return (self.version.name, str(self.version.version))


@dataclass
class Timings:
    """Wall-clock seconds per phase of a run; the phases never overlap."""

    registry_reads: float = 0.0
    manifest_downloads: float = 0.0
    evaluation: float = 0.0
    decision_log: float = 0.0
    total: float = 0.0

    def line(self) -> str:
        return (
            f"registry reads {self.registry_reads:.2f} s, manifest downloads "
            f"{self.manifest_downloads:.2f} s, evaluation {self.evaluation:.2f} s, "
            f"decision log {self.decision_log:.2f} s, total {self.total:.2f} s"
        )


class _Clock:
    """Adds the time spent in a ``with`` block to one field of :class:`Timings`."""

    def __init__(self, timings: Timings, phase: str) -> None:
        self.timings, self.phase = timings, phase

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        spent = time.perf_counter() - self.started
        setattr(self.timings, self.phase, getattr(self.timings, self.phase) + spent)


# --------------------------------------------------------------------------- reading


def _paged(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def all_versions(registry: Registry, model: str | None = None) -> list[ModelVersion]:
    """Every model version (of ``model``, if given), paged, in name and version order."""
    client = registry.client
    filter_string = f"name = {_quoted(model)}" if model else None
    what = f"search model versions of {model!r}" if model else "search model versions"
    with registry.calling(what):
        return list(
            _paged(
                lambda token: client.search_model_versions(
                    filter_string=filter_string,
                    max_results=VERSIONS_PAGE,
                    order_by=["name ASC", "version_number ASC"],
                    page_token=token,
                )
            )
        )


def aliases_by_version(registry: Registry, model: str | None = None) -> dict[Key, list[str]]:
    """``(model, version) -> aliases``, from the registered models (paged)."""
    client = registry.client
    filter_string = f"name = {_quoted(model)}" if model else None
    found: dict[Key, list[str]] = {}
    with registry.calling("search registered models"):
        for rm in _paged(
            lambda token: client.search_registered_models(
                filter_string=filter_string,
                max_results=MODELS_PAGE,
                order_by=["name ASC"],
                page_token=token,
            )
        ):
            for alias, version in (rm.aliases or {}).items():
                found.setdefault((rm.name, str(version)), []).append(alias)
    return found


def protected_holdings(
    versions: Iterable[ModelVersion],
    aliases: dict[Key, list[str]],
    configs: Sequence[PolicyConfig],
) -> list[Holding]:
    """Each protected alias or stage a version holds, protected under any of ``configs``
    (case-insensitive, as the policies compare them)."""
    protected = {a.lower() for c in configs for a in c.protected_aliases}
    stages = {s.lower() for c in configs for s in c.protected_stages}
    holdings = []
    for mv in versions:
        for alias in sorted(aliases.get((mv.name, str(mv.version)), [])):
            if alias.lower() in protected:
                holdings.append(Holding(mv, alias, "alias"))
        stage = (mv.current_stage or "").strip()
        if stage.lower() in stages:
            holdings.append(Holding(mv, stage, "stage"))
    return holdings


def default_workers(registry: Registry) -> int:
    """:data:`REMOTE_WORKERS` for a registry behind HTTP, else 1."""
    scheme = registry.where.partition(":")[0].lower()
    return REMOTE_WORKERS if scheme in ("http", "https", "databricks", "uc") else 1


def read_evidence(
    registry: Registry,
    versions: Sequence[ModelVersion],
    aliases: dict[Key, list[str]],
    *,
    workers: int = 1,
) -> dict[Key, Evidence]:
    """The evidence of each version: fields from the search, manifests fetched in
    parallel. Any fetch failing is a :class:`~mlgate.errors.RegistryError` (exit 2)."""
    registry.client  # noqa: B018 - connect once, before the threads share the client

    def one(mv: ModelVersion) -> Evidence:
        return registry.evidence(mv, aliases.get((mv.name, str(mv.version)), []))

    if workers <= 1 or len(versions) <= 1:
        found = [one(mv) for mv in versions]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlgate-fetch") as pool:
            found = list(pool.map(one, versions))
    return {(e.model, e.version): e for e in found}


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _unique_versions(holdings: Sequence[Holding]) -> list[ModelVersion]:
    seen: dict[Key, ModelVersion] = {}
    for holding in holdings:
        seen.setdefault(holding.key, holding.version)
    return list(seen.values())


# --------------------------------------------------------------------------- why blocked


def unwaived_codes(decision: Decision) -> set[str]:
    """Codes of the violations no waiver covers, in failing or errored gates."""
    return set(decision.failing_codes)


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
    manifest), a waiver applied then is no longer active, the assessment aged past its
    limit, or the policy changed (the logged gate input, replayed under the current
    policies, is blocked). Several can hold at once; each is one line.
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
    when = promoted.decision.evaluated_at[_DATE]
    since = f"promotion {promoted.decision_id} on {when}"
    reasons: list[str] = []

    then_digest, now_digest = evidence_sha256(then_doc), evidence_sha256(now_doc)
    if then_digest != now_digest:
        fields = "; ".join(changed_fields(then_doc, now_doc))
        reasons.append(
            f"evidence changed since {since} (evidence sha256 {then_digest[:12]}... -> "
            f"{now_digest[:12]}...): {fields}"
        )

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
    assessed = gate_input.facts.assessment.date or "?"
    limit = policy_set.config.assessment.max_age_days

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

    @property
    def blocked(self) -> list[Decision]:
        return [d for d in self.decisions if not d.allowed]


def _with_evidence(
    registry: Registry,
    work: list[Holding],
    aliases: dict[tuple[str, str], list[str]],
    clock: Timings,
    workers: int,
    progress: Progress | None,
) -> Iterator[tuple[Holding, Evidence]]:
    """Each holding with its version's evidence, fetched a chunk at a time (bounded
    memory, separate timings), reporting progress after each holding is handled."""
    if progress:
        progress(0, len(work))
    done = 0
    for chunk in _chunks(work, CHUNK):
        with _Clock(clock, "manifest_downloads"):
            evidence = read_evidence(registry, _unique_versions(chunk), aliases, workers=workers)
        for holding in chunk:
            yield holding, evidence[holding.key]
            done += 1
            if progress:
                progress(done, len(work))


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
    policies, now, with one engine; explain each blocked one (see :func:`explain`).

    ``log`` is the decision log to explain against; when it is None, ``log_missing``
    says why (e.g. "no decision log at ..."). ``workers``: concurrent manifest fetches,
    default :func:`default_workers`.
    """
    started = time.perf_counter()
    workers = workers or default_workers(registry)
    result = AuditResult()
    clock = result.timings
    with _Clock(clock, "registry_reads"):
        aliases = aliases_by_version(registry)
        versions = all_versions(registry)
    result.versions_scanned = len(versions)
    holdings = protected_holdings(versions, aliases, [policy_set.config])
    now = now_rfc3339()
    for holding, evidence in _with_evidence(registry, holdings, aliases, clock, workers, progress):
        with _Clock(clock, "evaluation"):
            decision, gate_input = gate.decide(
                evidence, holding.target, holding.kind, engine, policy_set, now=now
            )
        if not decision.allowed:
            with _Clock(clock, "decision_log"):
                record = _record(log, holding, log_missing)
            with _Clock(clock, "evaluation"):
                decision.warnings.extend(
                    explain(decision, gate_input, holding, record, engine, policy_set)
                )
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


# --------------------------------------------------------------------------- impact


@dataclass(frozen=True)
class ViolationChange:
    code: str
    message: str


@dataclass
class Flip:
    """A decision whose verdict differs between the base and the head policies."""

    model: str
    version: str
    target: str
    base: Decision
    head: Decision

    @property
    def direction(self) -> str:
        return "allowed -> blocked" if self.base.allowed else "blocked -> allowed"

    @property
    def added(self) -> list[ViolationChange]:
        """Violations failing under head and not under base (head's wording)."""
        return _violations(self.head, unwaived_codes(self.head) - unwaived_codes(self.base))

    @property
    def removed(self) -> list[ViolationChange]:
        """Violations failing under base and not under head (base's wording)."""
        return _violations(self.base, unwaived_codes(self.base) - unwaived_codes(self.head))

    def as_document(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "target": self.target,
            "direction": self.direction,
            "added": [vars(v) for v in self.added],
            "removed": [vars(v) for v in self.removed],
            "base": self.base.model_dump(mode="json"),
            "head": self.head.model_dump(mode="json"),
        }


def _violations(decision: Decision, codes: set[str]) -> list[ViolationChange]:
    found = {
        v.code: v.message
        for g in decision.blocking_gates
        for v in g.violations
        if v.code in codes and not v.waived_by
    }
    return [ViolationChange(code, found.get(code, "")) for code in sorted(codes)]


@dataclass
class ImpactResult:
    base_revision: str = ""
    head_revision: str = ""
    evaluated: int = 0
    flips: list[Flip] = field(default_factory=list)
    blocked_both: int = 0
    allowed_both: int = 0
    timings: Timings = field(default_factory=Timings)

    @property
    def to_blocked(self) -> list[Flip]:
        return [f for f in self.flips if f.base.allowed]

    @property
    def to_allowed(self) -> list[Flip]:
        return [f for f in self.flips if not f.base.allowed]


def impact(
    registry: Registry,
    base: tuple[PolicySet, Engine],
    head: tuple[PolicySet, Engine],
    *,
    protected_only: bool,
    model: str | None = None,
    target: str | None = None,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImpactResult:
    """Evaluate the selected versions under two policy sets, now, and list the flips.

    ``protected_only``: only versions holding an alias or stage protected under either
    policy set, each evaluated for what it holds (a version holding two is evaluated
    twice). Otherwise every version (of ``model``, if given) is evaluated for
    ``target``, default the head policies' ``default_target``. Each side uses its own
    policy data and waivers; both share one evaluation time.
    """
    started = time.perf_counter()
    workers = workers or default_workers(registry)
    base_set, base_engine = base
    head_set, head_engine = head
    result = ImpactResult(base_revision=base_set.revision, head_revision=head_set.revision)
    clock = result.timings
    with _Clock(clock, "registry_reads"):
        aliases = aliases_by_version(registry, model)
        versions = all_versions(registry, model)
    if protected_only:
        work = protected_holdings(versions, aliases, [base_set.config, head_set.config])
    else:
        goal = target or head_set.config.default_target
        work = [Holding(mv, goal, "alias") for mv in versions]
    now = now_rfc3339()
    for holding, evidence in _with_evidence(registry, work, aliases, clock, workers, progress):
        with _Clock(clock, "evaluation"):
            before, _ = gate.decide(evidence, holding.target, holding.kind, base_engine, base_set,
                                     now=now)
            after, _ = gate.decide(evidence, holding.target, holding.kind, head_engine, head_set,
                                    now=now)
        result.evaluated += 1
        if before.allowed != after.allowed:
            model_name, version = holding.key
            result.flips.append(Flip(model_name, version, holding.target, before, after))
        elif after.allowed:
            result.allowed_both += 1
        else:
            result.blocked_both += 1
    clock.total = time.perf_counter() - started
    return result
