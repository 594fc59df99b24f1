"""``--format sarif``: SARIF 2.1.0 that GitHub code scanning ingests.

What GitHub needs, and so what every report has:

- one run per model and target, its ``automationDetails.id`` ``mlgate/<model>/<target>/``:
  code scanning keeps one analysis per category, so a later run for the same model and
  target (an allowed one has no results) closes that model's alerts, and gate runs for
  different models on one commit do not overwrite each other;
- one result per violation with a physical location (GitHub refuses a file holding a
  result without one): a repository-relative ``artifactLocation.uri`` and a start line.
  It is the violated rule's ``# METADATA`` block when the policies are in the caller's
  repository, else the file the caller anchors the report at (``--sarif-anchor``). The
  logical location ``models:/<model>/<version>`` stays beside it;
- ``partialFingerprints`` from model, target and code, so an alert stays the same alert
  across runs and versions (never the decision id, which is new every run);
- one rule per violation code in the run, its ``fullDescription`` the rule's METADATA
  description and its help the rule's solution and the gate's article references.

Levels follow severity (critical/high error, medium warning, low note). A waived
violation is no alert: it is left out unless asked for (``include_waived``), and then it is
a ``kind: pass`` result with an external suppression naming the waiver. The run's
properties carry its decisions (allowed ones have no results).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .. import __version__
from ..errors import InputError
from ..models import Decision, GateResult, Violation
from .common import model_uri, single_line, unique

if TYPE_CHECKING:
    from ..metadata import Annotation
    from ..policy import PolicySet

SCHEMA_URI = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
# Placeholder until the project has a public home; SARIF requires an absolute URI here.
INFORMATION_URI = "https://github.com/mlgate/mlgate"
FINGERPRINT_KEY = "mlgateFinding/v1"
AUTOMATION_PREFIX = "mlgate"

LEVELS: dict[str, str] = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
}
# GitHub code scanning ranks alerts by this CVSS-like score (critical >= 9, high >= 7, ...).
SECURITY_SEVERITY: dict[str, str] = {
    "critical": "9.5",
    "high": "8.0",
    "medium": "5.5",
    "low": "3.0",
}

Occurrence = tuple[Decision, GateResult, Violation]


@dataclass(frozen=True)
class SourceLocation:
    """A line of a file, the path relative to the repository root (forward slashes)."""

    uri: str
    line: int = 1


@dataclass(frozen=True)
class RuleSource:
    """What the policies say about one violation code: where it is defined (when that is
    in the caller's repository), its description and its fix."""

    location: SourceLocation | None
    description: str = ""
    solution: str = ""


# --------------------------------------------------------------------------- render


def render(
    decisions: list[Decision],
    *,
    rules: Mapping[str, RuleSource] | None = None,
    anchor: SourceLocation | None = None,
    include_waived: bool = False,
) -> str:
    """The SARIF log for ``decisions``. Each result is located at its rule's source, else
    at ``anchor``; a code with neither is an :class:`InputError` (exit 2), since code
    scanning refuses the whole file for one result without a file location."""
    rules = rules or {}
    groups: dict[tuple[str, str], list[Decision]] = {}
    for decision in decisions:
        groups.setdefault((decision.model, decision.target), []).append(decision)
    document = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [_run(group, rules, anchor, include_waived) for group in groups.values()],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _run(
    decisions: list[Decision],
    rules: Mapping[str, RuleSource],
    anchor: SourceLocation | None,
    include_waived: bool,
) -> dict[str, Any]:
    occurrences = [
        (d, g, v)
        for d in decisions
        for g in d.gates
        for v in g.violations
        if include_waived or not v.waived_by
    ]
    codes = unique(v.code for _, _, v in occurrences)
    first = decisions[0]
    return {
        "tool": {"driver": _driver([_rule(c, occurrences, _source(c, rules)) for c in codes])},
        "automationDetails": {
            "id": automation_id(first.model, first.target),
            "description": {"text": f"mlgate: model {first.model} promoted to {first.target}"},
        },
        "results": [
            _result(occ, codes.index(occ[2].code), _location(occ[2].code, rules, anchor), n)
            for occ, n in zip(occurrences, _ordinals(occurrences), strict=True)
        ],
        "properties": {"decisions": [_decision_summary(d) for d in decisions]},
    }


def automation_id(model: str, target: str) -> str:
    """``mlgate/<model>/<target>/``: GitHub's category is the id up to its last slash, so a
    slash inside a name is percent-encoded to keep one category per model and target."""
    return f"{AUTOMATION_PREFIX}/{quote(model, safe='')}/{quote(target, safe='')}/"


def _ordinals(occurrences: list[Occurrence]) -> list[int]:
    """How many earlier results of the run share the code: two findings with one code
    (one rule matching twice, or two versions of a model holding one stage) must not share
    a fingerprint, or GitHub merges them into one alert."""
    seen: dict[str, int] = {}
    ordinals = []
    for _, _, violation in occurrences:
        ordinals.append(seen.get(violation.code, 0))
        seen[violation.code] = ordinals[-1] + 1
    return ordinals


def _driver(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "mlgate",
        "version": __version__,
        "semanticVersion": __version__,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }


def _rule(code: str, occurrences: list[Occurrence], source: RuleSource | None) -> dict[str, Any]:
    gates = [g for _, g, v in occurrences if v.code == code]
    # A waived gate carries no remediation; describe the rule from one that does.
    gate = next((g for g in gates if g.remediation), gates[0])
    severity = next(v.severity for _, _, v in occurrences if v.code == code)
    fix = single_line(source.solution if source and source.solution else gate.remediation)
    description = single_line(source.description) if source and source.description else ""
    return {
        "id": code,
        "name": rule_name(code),
        "shortDescription": {"text": f"{gate.title} ({code})"},
        "fullDescription": {"text": description or f"{gate.title}: violation {code}."},
        "help": {"text": _help_text(fix, gate), "markdown": _help_markdown(fix, gate)},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {
            "gate": gate.id,
            "severity": severity,
            "security-severity": SECURITY_SEVERITY[severity],
            "references": gate.references,
            "tags": ["compliance", gate.id],
        },
    }


def rule_name(code: str) -> str:
    """``filing.not_completed`` -> ``FilingNotCompleted``: SARIF wants a readable name that
    differs from the opaque id."""
    return "".join(part.capitalize() for part in code.replace(".", "_").split("_"))


def _help_text(fix: str, gate: GateResult) -> str:
    fix = fix or "See the references."
    if not gate.references:
        return fix
    return fix + "\nReferences: " + "; ".join(gate.references)


def _help_markdown(fix: str, gate: GateResult) -> str:
    lines = [f"**Fix:** {fix or 'See the references.'}"]
    if gate.references:
        lines += ["", "**References:**", *(f"- {r}" for r in gate.references)]
    return "\n".join(lines)


def _source(code: str, rules: Mapping[str, RuleSource]) -> RuleSource | None:
    """The code's rule, else its gate's package (a rule without METADATA of its own)."""
    return rules.get(code) or rules.get(code.split(".", 1)[0])


def _location(
    code: str, rules: Mapping[str, RuleSource], anchor: SourceLocation | None
) -> SourceLocation:
    source = _source(code, rules)
    if source is not None and source.location is not None:
        return source.location
    if anchor is not None:
        return anchor
    raise no_location(code)


def no_location(code: str | None = None) -> InputError:
    what = f"locate {code}" if code else "locate the alerts"
    return InputError(
        f"--format sarif: no file to {what} at: the policies are not in the current git "
        "repository; give --sarif-anchor PATH[:LINE], a file of your repository the alerts "
        "should point at"
    )


def _result(
    occurrence: Occurrence, rule_index: int, where: SourceLocation, ordinal: int
) -> dict[str, Any]:
    decision, gate, violation = occurrence
    result: dict[str, Any] = {
        "ruleId": violation.code,
        "ruleIndex": rule_index,
        "level": LEVELS[violation.severity],
        "message": {"text": _message(decision, violation)},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": where.uri},
                    "region": {"startLine": where.line},
                },
                "logicalLocations": [_logical_location(decision)],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: fingerprint(decision, violation.code, ordinal)},
        "properties": {
            "decision_id": decision.decision_id,
            "model": decision.model,
            "version": decision.version,
            "target": decision.target,
            "enforcement": decision.enforcement,
            "allowed": decision.allowed,
            "gate": gate.id,
            "severity": violation.severity,
        },
    }
    if violation.waived_by:
        result["kind"] = "pass"
        result["level"] = "none"
        result["suppressions"] = [_suppression(violation.waived_by)]
    return result


def _message(decision: Decision, violation: Violation) -> str:
    # The alert sits on a policy file: the message names the model version it is about.
    return single_line(f"{model_uri(decision)} -> {decision.target}: {violation.message}")


def fingerprint(decision: Decision, code: str, ordinal: int = 0) -> str:
    """Stable across runs and versions: model, target and code (not the decision id)."""
    parts = [decision.model, decision.target, code] + ([str(ordinal)] if ordinal else [])
    return hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _suppression(waiver_id: str) -> dict[str, str]:
    return {"kind": "external", "status": "accepted", "justification": f"waiver {waiver_id}"}


def _logical_location(decision: Decision) -> dict[str, str]:
    return {
        "name": f"{decision.model}/{decision.version}",
        "fullyQualifiedName": model_uri(decision),
        "kind": "resource",
    }


def _decision_summary(decision: Decision) -> dict[str, Any]:
    return decision.model_dump(mode="json", exclude={"gates"})


# --------------------------------------------------------------------------- locating


def repository_root(start: Path) -> Path | None:
    """The git work tree holding ``start`` (a ``.git`` directory or, in a worktree or a
    submodule, a ``.git`` file), or None."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return None


def rule_sources(policy_set: PolicySet, repo: Path | None) -> dict[str, RuleSource]:
    """Each violation code's METADATA description and solution, and each gate's (keyed by
    gate id, for a code whose rule has none); the location too when the policy directory
    is inside ``repo``, the caller's repository."""
    root = Path(policy_set.root).resolve()
    inside = repo is not None and root.is_relative_to(repo)

    def located(ann: Annotation) -> SourceLocation | None:
        if not inside or repo is None:
            return None
        return SourceLocation(_uri((root / ann.file).relative_to(repo)), ann.line)

    sources = {
        gate_id: RuleSource(located(ann), ann.description, ann.solution)
        for gate_id, ann in policy_set.gate_meta.items()
    }
    for code, ann in policy_set.violation_meta.items():
        gate = policy_set.gate_meta.get(code.split(".", 1)[0])
        description = ann.description or (gate.description if gate else "")
        sources[code] = RuleSource(located(ann), description, ann.solution)
    return sources


def parse_anchor(text: str, cwd: Path, repo: Path | None) -> SourceLocation:
    """``--sarif-anchor PATH[:LINE]``: a path relative to the current directory, made
    relative to the repository root when there is one (in CI without a checkout there is
    none, and the path is taken as relative to the repository's root)."""
    path, line = text, 1
    head, sep, tail = text.rpartition(":")
    if sep and tail.isdigit():
        path, line = head, int(tail)
    if not path.strip() or line < 1:
        raise InputError(f"--sarif-anchor {text!r}: expected PATH[:LINE] with LINE >= 1")
    if repo is not None:
        full = (cwd / path).resolve()
        if not full.is_relative_to(repo) or full == repo:
            raise InputError(f"--sarif-anchor {path}: not a file in the git repository {repo}")
        return SourceLocation(_uri(full.relative_to(repo)), line)
    pure = PurePosixPath(path.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or pure.as_posix() == ".":
        raise InputError(
            f"--sarif-anchor {path}: outside a git repository the path must be a file "
            "relative to the repository root, without '..'"
        )
    return SourceLocation(_uri(pure), line)


def _uri(path: PurePath) -> str:
    """A relative path as a URI reference: a space or a colon in a file name is
    percent-encoded (SARIF's artifactLocation.uri is a URI, not a file name)."""
    return quote(path.as_posix())
