"""``mlgate policy test``: run every ``test_*`` rule of the policy set's test modules.

A test passes when its rule evaluates to ``true``; undefined, ``false`` or an error
fails it (as with ``opa test``). The engine is regorus (``embedded``) or OPA's own Go
library in-process (``opa``, through ``opa-golib-python-bindings``: see
:mod:`mlgate.engine.golib`). With coverage, the engine's report gives covered and
uncovered lines per policy file.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import one_line
from .policy import PolicySet
from .testexplain import Explanation, base_engine, explain


@dataclass(frozen=True)
class TestCase:
    file: str
    package: str
    name: str

    @property
    def path(self) -> str:
        return f"data.{self.package}.{self.name}"


@dataclass
class TestResult:
    case: TestCase
    passed: bool
    error: str = ""
    seconds: float = 0.0
    explanation: Explanation | None = None  # a failure's failing expression and values


@dataclass
class FileCoverage:
    file: str
    covered: list[int]
    not_covered: list[int]
    evaluated: bool = True

    @property
    def percent(self) -> float:
        total = len(self.covered) + len(self.not_covered)
        if not self.evaluated:
            return 0.0
        return 100.0 * len(self.covered) / total if total else 100.0


@dataclass
class TestReport:
    results: list[TestResult] = field(default_factory=list)
    coverage: list[FileCoverage] = field(default_factory=list)
    untested_codes: list[tuple[str, str, int]] = field(default_factory=list)  # code, file, line

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]

    @property
    def coverage_percent(self) -> float:
        """Covered lines over all lines of the policies (a file no test reached counts
        every line of its rules as not covered)."""
        covered = sum(len(f.covered) for f in self.coverage)
        total = covered + sum(len(f.not_covered) for f in self.coverage)
        return 100.0 * covered / total if total else 100.0


def discover(policy_set: PolicySet, pattern: str | None = None) -> list[TestCase]:
    """Test rules in test modules, in file order; ``pattern`` is a regex on the name."""
    cases: list[TestCase] = []
    seen: set[str] = set()
    for path in sorted(policy_set.tests):
        module = policy_set.rego_tests.get(path)
        if module is None:  # does not parse: compiling the set reports it
            continue
        for rule in module.rules:
            if not rule.name.startswith("test_") or rule.is_function:
                continue
            case = TestCase(path, module.package, rule.name)
            if case.path in seen or (pattern and not re.search(pattern, case.path)):
                continue
            seen.add(case.path)
            cases.append(case)
    return cases


def run_tests(
    policy_set: PolicySet,
    *,
    coverage: bool = False,
    pattern: str | None = None,
    engine: str = "embedded",
) -> TestReport:
    """Run the tests on ``engine`` (``embedded`` or ``opa``); compile errors raise
    PolicyError, OPA's Go library missing raises EngineError."""
    if engine == "opa":
        report = _run_on_opa(policy_set, coverage=coverage, pattern=pattern)
    else:
        report = _run_on_embedded(policy_set, coverage=coverage, pattern=pattern)
    base = base_engine(policy_set) if report.failed else None
    for result in report.failed:
        case = result.case
        result.explanation = explain(policy_set, case.file, case.package, case.name, base)
    if coverage:
        report.coverage = [_with_unreached_lines(f, policy_set) for f in report.coverage]
        report.untested_codes = untested_codes(policy_set, report.coverage)
    return report


def _run_on_embedded(policy_set: PolicySet, *, coverage: bool, pattern: str | None) -> TestReport:
    from .engine.embedded import compile_engine

    compiled = compile_engine(policy_set, with_tests=True)
    if coverage:
        compiled.set_enable_coverage(True)
    report = TestReport()
    for case in discover(policy_set, pattern):
        report.results.append(_run_one(compiled, case))
    if coverage:
        report.coverage = _coverage(compiled, policy_set)
    return report


def untested_codes(
    policy_set: PolicySet, coverage: list[FileCoverage]
) -> list[tuple[str, str, int]]:
    """Violation codes no test produces: the engines mark a rule's head covered only when
    the rule produced a value, so a code whose literal's line is not covered was never
    reported by any test."""
    covered = {f.file: set(f.covered) for f in coverage}
    missing = []
    for code, (file, line) in sorted(policy_set.violation_codes().items()):
        if line not in covered.get(file, set()):
            missing.append((code, file, line))
    return missing


def _with_unreached_lines(fc: FileCoverage, policy_set: PolicySet) -> FileCoverage:
    """A file no test reached: every line of its rules is not covered."""
    module = policy_set.rego.get(fc.file)
    if fc.evaluated or module is None:
        return fc
    lines = sorted({n for r in module.rules for n in range(r.line, r.end_line + 1)})
    return FileCoverage(fc.file, [], lines, evaluated=False)


def _run_one(engine: Any, case: TestCase) -> TestResult:
    started = time.perf_counter()
    try:
        value = engine.eval_rule(case.path)
    except BaseException as exc:  # noqa: BLE001 - a panic or eval error fails the test
        if isinstance(exc, KeyboardInterrupt):
            raise
        return TestResult(case, False, one_line(str(exc)), time.perf_counter() - started)
    elapsed = time.perf_counter() - started
    if value is True:
        return TestResult(case, True, seconds=elapsed)
    return TestResult(case, False, "undefined" if value is None else f"= {value!r}", elapsed)


def _coverage(engine: Any, policy_set: PolicySet) -> list[FileCoverage]:
    import json

    report = json.loads(engine.get_coverage_report_as_json())
    prefix = policy_set.root.rstrip("/") + "/"
    files = {}
    for entry in report.get("files", []):
        path = entry["path"].removeprefix(prefix)
        if path in policy_set.modules:  # coverage of the policies, not of the tests
            files[path] = FileCoverage(path, entry.get("covered", []), entry.get("not_covered", []))
    for path in policy_set.modules:  # a module no test reached is 0%, not absent
        files.setdefault(path, FileCoverage(path, [], [], evaluated=False))
    return sorted(files.values(), key=lambda f: f.file)


# --------------------------------------------------------------------------- OPA


def _run_on_opa(policy_set: PolicySet, *, coverage: bool, pattern: str | None) -> TestReport:
    """Every test rule evaluated by OPA's Go library, with the policies and data loaded.

    OPA prepares (compiles) the whole policy set again for every new query, ~0.2 s each
    here, so all test packages are read in one query; only when that fails (a test
    raising an error) is each test evaluated alone, to say which one and why.
    """
    from .engine import golib

    opa = golib.compile_policy_set(policy_set, with_tests=True)
    cases = discover(policy_set, pattern)
    report = TestReport()
    seen: dict[str, tuple[set[int], set[int]]] = {}
    try:
        packages = sorted({case.package for case in cases})
        started = time.perf_counter()
        documents = _packages_on_opa(opa, packages, coverage)
        if documents is not None:
            each = (time.perf_counter() - started) / max(len(cases), 1)
            for case in cases:
                value = documents[case.package].get(case.name)
                report.results.append(_verdict(case, value, each))
            if coverage and opa.last_coverage:
                _merge_coverage(seen, opa.last_coverage, policy_set)
        else:
            for case in cases:
                report.results.append(_run_one_on_opa(opa, case, coverage))
                if coverage and opa.last_coverage:
                    _merge_coverage(seen, opa.last_coverage, policy_set)
    finally:
        opa.close()
    if coverage:
        report.coverage = [
            FileCoverage(path, sorted(cov), sorted(un - cov), evaluated=path in seen)
            for path in sorted(policy_set.modules)
            for cov, un in [seen.get(path, (set(), set()))]
        ]
    return report


def _packages_on_opa(
    opa: Any, packages: list[str], coverage: bool
) -> dict[str, dict[str, Any]] | None:
    """Each package's document (test rule -> value; undefined rules absent), or None
    when evaluating them raised an error."""
    from opa_bindings import OpaError

    if not packages:
        return {}
    query = "; ".join(f"p{i} = data.{package}" for i, package in enumerate(packages))
    try:
        rows = opa.eval_query(query, coverage=coverage)
    except OpaError:
        return None
    if len(rows) != 1:
        return None
    return {package: rows[0].get(f"p{i}") or {} for i, package in enumerate(packages)}


def _verdict(case: TestCase, value: Any, seconds: float) -> TestResult:
    if value is True:
        return TestResult(case, True, seconds=seconds)
    return TestResult(case, False, "undefined" if value is None else f"= {value!r}", seconds)


def _run_one_on_opa(opa: Any, case: TestCase, coverage: bool) -> TestResult:
    from opa_bindings import OpaError, OpaUndefinedError

    started = time.perf_counter()
    try:
        value = opa.eval_document(case.path.removeprefix("data."), coverage=coverage)
    except OpaUndefinedError:
        return TestResult(case, False, "undefined", time.perf_counter() - started)
    except OpaError as exc:
        return TestResult(case, False, one_line(exc.message), time.perf_counter() - started)
    return _verdict(case, value, time.perf_counter() - started)


def _merge_coverage(
    seen: dict[str, tuple[set[int], set[int]]], report: dict[str, Any], policy_set: PolicySet
) -> None:
    """Add one evaluation's OPA coverage (row ranges per file) to the lines seen so far."""
    prefix = policy_set.root.rstrip("/") + "/"
    for name, entry in (report.get("files") or {}).items():
        path = name.removeprefix(prefix)
        if path not in policy_set.modules:  # coverage of the policies, not of the tests
            continue
        covered, not_covered = seen.setdefault(path, (set(), set()))
        for key, lines in (("covered", covered), ("not_covered", not_covered)):
            for span in entry.get(key) or []:
                lines.update(range(span["start"]["row"], span["end"]["row"] + 1))
