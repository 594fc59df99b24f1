"""``mlgate policy impact``: what a policy change does to the registry, for its author.

Two sides, each a policy set with its own engine, data, waivers and gate list: ``base``
(a git revision, default ``HEAD``) and ``head`` (the working tree of the policy
directory by default, or a git revision). Every selected version is decided now under
both (:mod:`mlgate.bulk` reads the registry), and the report says:

- which decisions flip (allowed -> blocked, blocked -> allowed), with the violation codes
  added and removed;
- for versions blocked on both sides, the violation codes new and gone
  (``violations_changed``);
- which versions allowed under head become blocked within ``expiring_within`` days
  because of time alone (the assessment ages, a waiver ends): head is evaluated again
  at now + N days, and the first day it blocks is found by bisection;
- what changed in the policy data (dotted keys, old -> new, of the data the engines
  get, defaults filled in) and in the wording (METADATA title, failure_msg and solution
  of each violation code and gate: changed, added, removed).

A side that cannot decide (a policy set that does not load, an engine error) is exit 2
with a message naming the side and its revision.

JSON shape (``--format json``)::

    {
      "policies": "policies",                    # the directory, as given
      "comparing": "comparing the working tree of policies/ (uncommitted changes) ...",
      "warnings": ["..."],                       # e.g. uncommitted changes not compared
      "base": {"ref": "HEAD", "revision": "<sha>", "working_tree": false},
      "head": {"ref": null, "revision": "<sha>+dirty", "working_tree": true},
      "evaluated": 4, "allowed_to_blocked": 1, "blocked_to_allowed": 1,
      "allowed_both": 1, "blocked_both": 1,
      "data_changes": [{"key": "mlgate.config.assessment.max_age_days",
                        "change": "changed", "base": 365, "head": 20}],
      "wording_changes": [{"code": "filing.not_completed", "change": "changed",
                           "fields": {"solution": {"base": "...", "head": "..."}}}],
      "flips": [{"model", "version", "target", "direction", "added": [{"code",
                 "message"}], "removed": [...], "base": <decision>, "head": <decision>}],
      "violations_changed": [<as a flip, direction "blocked -> blocked">],
      "expiring_within_days": 30,
      "expiring": [{"model", "version", "target", "blocked_from": "YYYY-MM-DD",
                    "added": [{"code", "message"}], "decision": <head's, that day>}]
    }

``change`` is ``changed``, ``added`` (head only; ``base`` is null) or ``removed`` (base
only; ``head`` is null). A wording entry's ``code`` is a violation code, or
``gate:<id>`` for a gate's own METADATA.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
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
from .errors import MlgateError, one_line
from .gate_input import now_rfc3339
from .models import Decision

if TYPE_CHECKING:
    from .engine.base import Engine
    from .evidence import Registry
    from .gate_input import Evidence
    from .policy import PolicySet

WORDING_FIELDS = ("title", "failure_msg", "solution")


# --------------------------------------------------------------------------- sides


@dataclass
class Side:
    """One side of the comparison: ``ref`` is None for the working tree."""

    name: str  # "base" or "head"
    ref: str | None
    policy_set: PolicySet
    engine: Engine

    @property
    def working_tree(self) -> bool:
        return self.ref is None

    def describe(self, label: str) -> str:
        """``the head policies (the working tree of policies/, revision abc...)``."""
        where = f"the working tree of {label}" if self.ref is None else f"{label} at {self.ref}"
        revision = short_revision(self.policy_set.revision)
        return f"the {self.name} policies ({where}, revision {revision})"


def short_revision(revision: str) -> str:
    """A commit's first 12 hex digits (``+dirty`` kept), a content digest's 12."""
    if not revision:
        return "none"
    if revision.startswith("+"):
        return revision  # tracked, never committed: "+dirty"
    if revision.startswith("sha256:"):
        return revision[: len("sha256:") + 12]
    return revision[:12] + ("+dirty" if revision.endswith("+dirty") else "")


def load_policies(name: str, ref: str | None, directory: Path, label: str) -> PolicySet:
    """The policy set at ``ref`` (None: the working tree); an error names the side."""
    from .gitpolicy import load_policy_at
    from .policy import load_policy_dir

    where = f"the working tree of {label}" if ref is None else f"{label} at {ref}"
    try:
        return load_policy_dir(directory) if ref is None else load_policy_at(ref, directory)
    except MlgateError as exc:
        message = str(exc)
        if message.startswith("--base/--head: "):  # name the option that was given
            raise _renamed(exc, f"--{name}: " + message.removeprefix("--base/--head: ")) from exc
        raise _renamed(exc, f"the {name} policies ({where}): {one_line(message)}") from exc


def _renamed(exc: MlgateError, message: str) -> MlgateError:
    """``exc``'s kind of error with another message (same exit code)."""
    try:
        return type(exc)(message)
    except TypeError:
        return MlgateError(message)


def same_policies(one: PolicySet, other: PolicySet) -> bool:
    """The same files: modules, tests, data as written and waivers."""
    return (one.modules, one.tests, one.data_file, one.waivers) == (
        other.modules,
        other.tests,
        other.data_file,
        other.waivers,
    )


# --------------------------------------------------------------------------- text diffs


@dataclass(frozen=True)
class ValueChange:
    """A dotted key of the policy data, or a METADATA field: its value on each side
    (None where it is absent) and ``change``: changed, added (head only), removed."""

    key: str
    base: Any
    head: Any
    change: str = "changed"


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        for key in sorted(value):
            _flatten(value[key], f"{prefix}.{key}" if prefix else str(key), out)
    else:
        out[prefix] = value
    return out


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def data_diff(base: PolicySet, head: PolicySet) -> list[ValueChange]:
    """Every leaf of the engines' data (lists are leaves) that differs, by dotted key."""
    old, new = _flatten(base.data, "", {}), _flatten(head.data, "", {})
    changes = []
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            changes.append(ValueChange(key, old[key], None, "removed"))
        elif key not in old:
            changes.append(ValueChange(key, None, new[key], "added"))
        elif _json(old[key]) != _json(new[key]):  # 1, 1.0 and true are three values
            changes.append(ValueChange(key, old[key], new[key]))
    return changes


@dataclass(frozen=True)
class WordingChange:
    """The METADATA of one violation code (or ``gate:<id>``) that differs."""

    code: str
    change: str  # changed, added, removed
    fields: dict[str, ValueChange]


def _wording(policy_set: PolicySet) -> dict[str, dict[str, str]]:
    found = {
        f"gate:{gate_id}": {f: getattr(a, f) for f in WORDING_FIELDS}
        for gate_id, a in policy_set.gate_meta.items()
    }
    found.update(
        {code: {f: getattr(a, f) for f in WORDING_FIELDS} for code, a in
         policy_set.violation_meta.items()}
    )
    return found


def wording_diff(base: PolicySet, head: PolicySet) -> list[WordingChange]:
    """Titles, failure messages and solutions per code: changed, added, removed."""
    old, new = _wording(base), _wording(head)
    changes = []
    for code in sorted(old.keys() | new.keys()):
        before, after = old.get(code), new.get(code)
        if before == after:
            continue
        fields = {
            name: ValueChange(
                name, before.get(name) if before else None, after.get(name) if after else None
            )
            for name in WORDING_FIELDS
            if (before or {}).get(name) != (after or {}).get(name)
        }
        change = "added" if before is None else "removed" if after is None else "changed"
        changes.append(WordingChange(code, change, fields))
    return changes


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True)
class ViolationChange:
    code: str
    message: str


@dataclass
class Flip:
    """A decision that differs between the base and the head policies: its verdict
    (a flip), or, blocked on both sides, its violation codes."""

    model: str
    version: str
    target: str
    base: Decision
    head: Decision

    @property
    def direction(self) -> str:
        before = "allowed" if self.base.allowed else "blocked"
        after = "allowed" if self.head.allowed else "blocked"
        return f"{before} -> {after}"

    @property
    def added(self) -> list[ViolationChange]:
        """Violations failing under head and not under base (head's wording)."""
        return violations(self.head, unwaived_codes(self.head) - unwaived_codes(self.base))

    @property
    def removed(self) -> list[ViolationChange]:
        """Violations failing under base and not under head (base's wording)."""
        return violations(self.base, unwaived_codes(self.base) - unwaived_codes(self.head))

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


def violations(decision: Decision, codes: set[str]) -> list[ViolationChange]:
    found = {
        v.code: v.message
        for g in decision.blocking_gates
        for v in g.violations
        if v.code in codes and not v.waived_by
    }
    return [ViolationChange(code, found.get(code, "")) for code in sorted(codes)]


@dataclass
class Expiring:
    """A version allowed under head now and blocked by head from ``blocked_from``."""

    model: str
    version: str
    target: str
    blocked_from: date
    decision: Decision  # head's, on that day

    @property
    def added(self) -> list[ViolationChange]:
        return violations(self.decision, unwaived_codes(self.decision))

    def as_document(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "target": self.target,
            "blocked_from": self.blocked_from.isoformat(),
            "added": [vars(v) for v in self.added],
            "decision": self.decision.model_dump(mode="json"),
        }


@dataclass
class ImpactResult:
    base_revision: str = ""
    head_revision: str = ""
    evaluated: int = 0
    flips: list[Flip] = field(default_factory=list)
    changed: list[Flip] = field(default_factory=list)  # blocked on both, codes differ
    expiring: list[Expiring] = field(default_factory=list)
    expiring_within: int = 0
    blocked_both: int = 0
    allowed_both: int = 0
    data_changes: list[ValueChange] = field(default_factory=list)
    wording_changes: list[WordingChange] = field(default_factory=list)
    timings: Timings = field(default_factory=Timings)

    @property
    def to_blocked(self) -> list[Flip]:
        return [f for f in self.flips if f.base.allowed]

    @property
    def to_allowed(self) -> list[Flip]:
        return [f for f in self.flips if not f.base.allowed]


def _decide(side: Side, label: str, evidence: Evidence, holding: Holding,
            now: tuple[str, int]) -> Decision:
    try:
        decision, _ = gate.decide(  # what-if: the model files are not what it compares
            evidence, holding.target, holding.kind, side.engine, side.policy_set, now=now,
            record_files=False,
        )
    except MlgateError as exc:
        model, version = holding.key
        raise _renamed(
            exc,
            f"{side.describe(label)} cannot decide {model} v{version} -> {holding.target}: "
            f"{one_line(str(exc))}",
        ) from exc
    return decision


def _first_blocked_day(
    side: Side, label: str, evidence: Evidence, holding: Holding, start: datetime, days: int
) -> tuple[int, Decision] | None:
    """The first day in 1..``days`` after ``start`` on which ``side`` blocks (bisection:
    time only makes evidence older and waivers closer to their end), with that decision."""

    def at(day: int) -> Decision:
        return _decide(side, label, evidence, holding, now_rfc3339(start + timedelta(days=day)))

    last = at(days)
    if last.allowed:
        return None
    low, high, found = 0, days, last  # allowed at low (now), blocked at high
    while high - low > 1:
        middle = (low + high) // 2
        decision = at(middle)
        if decision.allowed:
            low = middle
        else:
            high, found = middle, decision
    return high, found


def impact(
    registry: Registry,
    base: Side,
    head: Side,
    *,
    protected_only: bool,
    label: str = "policies",
    model: str | None = None,
    target: str | None = None,
    expiring_within: int = 0,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImpactResult:
    """Evaluate the selected versions under both sides, now, and compare.

    ``protected_only``: only versions holding an alias or stage protected under either
    policy set, each evaluated for what it holds (a version holding two is evaluated
    twice). Otherwise every version (of ``model``, if given) is evaluated for
    ``target``, default the head policies' ``default_target``. Each side uses its own
    policy data, waivers and gates; both share one evaluation time. ``expiring_within``
    (days, 0 for none): see the module docstring.
    """
    started = time.perf_counter()
    workers = workers or default_workers(registry)
    base_set, head_set = base.policy_set, head.policy_set
    result = ImpactResult(
        base_revision=base_set.revision,
        head_revision=head_set.revision,
        expiring_within=expiring_within,
        data_changes=data_diff(base_set, head_set),
        wording_changes=wording_diff(base_set, head_set),
    )
    clock = result.timings
    with Clock(clock, "registry_reads"):
        aliases = aliases_by_version(registry, model)
        versions = all_versions(registry, model)
    if protected_only:
        work = protected_holdings(versions, aliases, [base_set.config, head_set.config])
    else:
        goal = target or head_set.config.default_target
        work = [Holding(mv, goal, "alias") for mv in versions]
    moment = datetime.now(UTC).replace(microsecond=0)
    now = now_rfc3339(moment)
    for holding, evidence in with_evidence(registry, work, aliases, clock, workers, progress):
        with Clock(clock, "evaluation"):
            before = _decide(base, label, evidence, holding, now)
            after = _decide(head, label, evidence, holding, now)
            later = (
                _first_blocked_day(head, label, evidence, holding, moment, expiring_within)
                if after.allowed and expiring_within > 0
                else None
            )
        result.evaluated += 1
        model_name, version = holding.key
        pair = Flip(model_name, version, holding.target, before, after)
        if before.allowed != after.allowed:
            result.flips.append(pair)
        elif after.allowed:
            result.allowed_both += 1
        else:
            result.blocked_both += 1
            if unwaived_codes(before) != unwaived_codes(after):
                result.changed.append(pair)
        if later is not None:
            day, decision = later
            when = (moment + timedelta(days=day)).date()
            result.expiring.append(Expiring(model_name, version, holding.target, when, decision))
    clock.total = time.perf_counter() - started
    return result
