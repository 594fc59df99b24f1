"""``--format junit``: JUnit XML for CI test-report views (GitLab, Jenkins, Azure, ...).

Valid against Jenkins' junit-10.xsd, the schema CI systems read JUnit with (pytest checks
its own output against it; tests/test_reports_consumers.py checks ours). One
``<testsuite>`` per decision, one ``<testcase>`` per gate (classname ``mlgate.<gate id>``,
name = the gate title). A ``fail`` gate is a ``<failure>`` listing codes, messages and the
fix; an ``error`` gate (the engine could not decide it) is an ``<error>``, counted in
``errors``; ``not_applicable`` is ``<skipped>``; a ``waived`` gate passes with a
``<system-out>`` naming its waivers. ``<testsuites>`` carries tests, failures and errors
only: junit-10.xsd allows no ``skipped`` there (each suite has its own).

A warn-mode decision's failing gates are still failures: the report says what the
evidence is, the exit code (0) says that it does not block. A CI view that fails a
pipeline on failed test cases should read this report from blocking targets only.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from ..models import Decision, GateResult
from .common import model_uri, single_line, subject, waiver_note

# Characters XML 1.0 cannot carry at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def render(decisions: list[Decision]) -> str:
    all_gates = [g for d in decisions for g in d.gates]
    totals = {k: v for k, v in _counts(all_gates).items() if k != "skipped"}
    root = ET.Element("testsuites", {"name": "mlgate", **totals})
    for decision in decisions:
        root.append(_testsuite(decision))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _counts(gates: list[GateResult]) -> dict[str, str]:
    return {
        "tests": str(len(gates)),
        "failures": str(sum(1 for g in gates if g.status == "fail")),
        "errors": str(sum(1 for g in gates if g.status == "error")),
        "skipped": str(sum(1 for g in gates if g.status == "not_applicable")),
    }


def _testsuite(decision: Decision) -> ET.Element:
    suite = ET.Element(
        "testsuite",
        {
            "name": xml_safe(subject(decision)),
            **_counts(decision.gates),
            "timestamp": xml_safe(decision.evaluated_at),
        },
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in _properties(decision):
        ET.SubElement(properties, "property", {"name": name, "value": xml_safe(value)})
    for gate in decision.gates:
        suite.append(_testcase(gate, decision.in_scope))
    return suite


def _properties(decision: Decision) -> list[tuple[str, str]]:
    return [
        ("model_uri", model_uri(decision)),
        ("target", decision.target),
        ("allowed", str(decision.allowed).lower()),
        ("enforcement", decision.enforcement),
        ("in_scope", "null" if decision.in_scope is None else str(decision.in_scope).lower()),
        ("decision_id", decision.decision_id),
        ("policy_revision", decision.policy_revision),
        ("engine", decision.engine),
        ("input_sha256", decision.input_sha256),
        ("waivers_applied", ",".join(decision.waivers_applied)),
    ]


def _testcase(gate: GateResult, in_scope: bool | None) -> ET.Element:
    case = ET.Element("testcase", {"classname": f"mlgate.{gate.id}", "name": xml_safe(gate.title)})
    if gate.status in ("fail", "error"):
        # <error>: the gate could not be decided, which blocks as a failure does.
        tag = "failure" if gate.status == "fail" else "error"
        failure = ET.SubElement(
            case, tag, {"message": xml_safe(_failure_message(gate)), "type": gate.status}
        )
        failure.text = xml_safe(_failure_body(gate))
    elif gate.status == "not_applicable":
        reason = "not applicable: out of scope" if in_scope is False else "not applicable"
        ET.SubElement(case, "skipped", {"message": reason})
    elif gate.status == "waived":
        out = ET.SubElement(case, "system-out")
        out.text = xml_safe(_waived_body(gate))
    return case


def _failure_message(gate: GateResult) -> str:
    active = [v for v in gate.violations if not v.waived_by]
    if not active:
        return f"gate {gate.id}: {gate.status}"
    return "; ".join(f"{v.code}: {single_line(v.message)}" for v in active)


def _failure_body(gate: GateResult) -> str:
    lines = []
    for v in gate.violations:
        line = f"{v.code} ({v.severity}): {single_line(v.message)}"
        if v.waived_by:
            line += f" [{waiver_note(v)}]"
        lines.append(line)
    if gate.remediation:
        lines.append(f"fix: {single_line(gate.remediation)}")
    if gate.references:
        lines.append(f"references: {'; '.join(gate.references)}")
    return "\n".join(lines)


def _waived_body(gate: GateResult) -> str:
    lines = [f"{v.code}: {single_line(v.message)} [{waiver_note(v)}]" for v in gate.violations]
    if gate.references:
        lines.append(f"references: {'; '.join(gate.references)}")
    return "\n".join(lines)
