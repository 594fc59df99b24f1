"""``--format sarif``: SARIF 2.1.0 for code-scanning dashboards.

One run; one rule per violation code that occurs (help = the gate's remediation and its
article references); one result per violation, located logically at
``models:/<model>/<version>``. Levels follow severity (critical/high error, medium
warning, low note). A waived violation is reported as ``kind: pass`` with an external
suppression naming the waiver, so dashboards keep the audit trail without alerting.
The decisions themselves (allowed ones have no results) are in the run's properties.
"""

from __future__ import annotations

import json
from typing import Any

from .. import __version__
from ..models import Decision, GateResult, Violation
from .common import model_uri, single_line, unique

SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
# Placeholder until the project has a public home; SARIF requires an absolute URI here.
INFORMATION_URI = "https://github.com/mlgate/mlgate"

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


def render(decisions: list[Decision]) -> str:
    occurrences = [(d, g, v) for d in decisions for g in d.gates for v in g.violations]
    rule_ids = unique(v.code for _, _, v in occurrences)
    document = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": _driver([_rule(c, occurrences) for c in rule_ids])},
                "results": [_result(occ, rule_ids.index(occ[2].code)) for occ in occurrences],
                "properties": {"decisions": [_decision_summary(d) for d in decisions]},
            }
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _driver(rules: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "name": "mlgate",
        "version": __version__,
        "informationUri": INFORMATION_URI,
        "rules": rules,
    }


def _rule(code: str, occurrences: list[Occurrence]) -> dict[str, Any]:
    gates = [g for _, g, v in occurrences if v.code == code]
    # A waived gate carries no remediation; describe the rule from one that does.
    gate = next((g for g in gates if g.remediation), gates[0])
    severity = next(v.severity for _, _, v in occurrences if v.code == code)
    return {
        "id": code,
        "shortDescription": {"text": f"{gate.title} ({code})"},
        "help": {"text": _help_text(gate), "markdown": _help_markdown(gate)},
        "defaultConfiguration": {"level": LEVELS[severity]},
        "properties": {
            "gate": gate.id,
            "severity": severity,
            "security-severity": SECURITY_SEVERITY[severity],
            "references": gate.references,
            "tags": ["compliance", gate.id],
        },
    }


def _help_text(gate: GateResult) -> str:
    fix = single_line(gate.remediation) or "See the references."
    if not gate.references:
        return fix
    return fix + "\nReferences: " + "; ".join(gate.references)


def _help_markdown(gate: GateResult) -> str:
    fix = single_line(gate.remediation) or "See the references."
    lines = [f"**Fix:** {fix}"]
    if gate.references:
        lines += ["", "**References:**", *(f"- {r}" for r in gate.references)]
    return "\n".join(lines)


def _result(occurrence: Occurrence, rule_index: int) -> dict[str, Any]:
    decision, gate, violation = occurrence
    result: dict[str, Any] = {
        "ruleId": violation.code,
        "ruleIndex": rule_index,
        "level": LEVELS[violation.severity],
        "message": {"text": single_line(violation.message)},
        "locations": [{"logicalLocations": [_logical_location(decision)]}],
        "properties": {
            "decision_id": decision.decision_id,
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
