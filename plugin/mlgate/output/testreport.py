"""``mlgate policy test``'s report: as lines for a terminal, or as one JSON document.

A failing test shows its failing expression (file:line and source text) and the values
its operands and earlier variables had (:mod:`mlgate.testexplain`); with coverage, the
lines covered per policy file, the total, and the violation codes no test produces.
"""

from __future__ import annotations

from typing import Any

from ..policytest import TestReport
from ..textsafe import printable


def table(report: TestReport, *, verbose: bool, coverage: bool, threshold: float | None) -> str:
    lines: list[str] = []
    for result in report.results:
        if not (verbose or not result.passed):
            continue
        mark = "PASS" if result.passed else "FAIL"
        detail = f": {result.error}" if result.error else ""
        lines.append(printable(f"{mark} {result.case.file}: {result.case.path}{detail}"))
        if result.explanation:
            lines += [printable("    " + line) for line in result.explanation.lines()]
    failed = len(report.failed)
    lines.append(f"{len(report.results) - failed} passed, {failed} failed")
    if coverage:
        lines.append("coverage:")
        for fc in report.coverage:
            missing = ",".join(str(n) for n in fc.not_covered) or "-"
            detail = f"not covered: {missing}" if fc.evaluated else "not evaluated by any test"
            lines.append(f"  {fc.percent:5.1f}%  {fc.file}  ({detail})")
        lines.append(f"  {report.coverage_percent:5.1f}%  total")
        if report.untested_codes:
            lines.append(f"violation codes no test produces ({len(report.untested_codes)}):")
            lines += [f"  {code}  ({file}:{line})" for code, file, line in report.untested_codes]
        else:
            lines.append("every violation code is produced by a test")
    if threshold is not None and report.coverage_percent < threshold:
        lines.append(
            f"coverage {report.coverage_percent:.1f}% is below the threshold {threshold:g}%"
        )
    return "\n".join(lines)


def document(report: TestReport, *, coverage: bool, threshold: float | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "passed": len(report.results) - len(report.failed),
        "failed": len(report.failed),
        "tests": [
            {
                "file": r.case.file,
                "test": r.case.path,
                "passed": r.passed,
                "error": r.error,
                "explanation": r.explanation.as_dict() if r.explanation else None,
            }
            for r in report.results
        ],
    }
    if coverage:
        doc["coverage"] = {
            "percent": round(report.coverage_percent, 2),
            "threshold": threshold,
            "files": [
                {
                    "file": f.file,
                    "percent": round(f.percent, 2),
                    "evaluated": f.evaluated,
                    "not_covered": f.not_covered,
                }
                for f in report.coverage
            ],
            "untested_codes": [
                {"code": code, "file": file, "line": line}
                for code, file, line in report.untested_codes
            ],
        }
    return doc
