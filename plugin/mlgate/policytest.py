"""``mlgate policy test``: run every ``test_*`` rule of the policy set's test modules.

A test passes when its rule evaluates to ``true``; undefined, ``false`` or an error
fails it (as with ``opa test``). With coverage, regorus' built-in report gives covered
and uncovered lines per policy file.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import one_line
from .policy import PolicySet

_TEST_RULE = re.compile(r"^(test_[A-Za-z0-9_]+)\b", re.MULTILINE)
_PACKAGE = re.compile(r"^package\s+([\w.]+)", re.MULTILINE)


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

    @property
    def failed(self) -> list[TestResult]:
        return [r for r in self.results if not r.passed]


def discover(policy_set: PolicySet, pattern: str | None = None) -> list[TestCase]:
    """Test rules in test modules, in file order; ``pattern`` is a regex on the name."""
    cases: list[TestCase] = []
    seen: set[str] = set()
    for path, source in sorted(policy_set.tests.items()):
        package = _PACKAGE.search(source)
        if not package:
            continue
        for name in _TEST_RULE.findall(source):
            case = TestCase(path, package.group(1), name)
            if case.path in seen or (pattern and not re.search(pattern, case.path)):
                continue
            seen.add(case.path)
            cases.append(case)
    return cases


def run_tests(
    policy_set: PolicySet, *, coverage: bool = False, pattern: str | None = None
) -> TestReport:
    """Run the tests with the embedded engine (compile errors raise PolicyError)."""
    from .engine.embedded import compile_engine

    engine = compile_engine(policy_set, with_tests=True)
    if coverage:
        engine.set_enable_coverage(True)
    report = TestReport()
    for case in discover(policy_set, pattern):
        report.results.append(_run_one(engine, case))
    if coverage:
        report.coverage = _coverage(engine, policy_set)
    return report


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
