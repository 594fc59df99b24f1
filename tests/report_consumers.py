"""What the tools that read mlgate's reports accept: the official SARIF 2.1.0 schema with
format checking, GitHub code scanning's ingestion rules, and Jenkins' junit-10.xsd.

The schemas are vendored in tests/vendored/ (sources and licences in its README.md).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import xmlschema

VENDORED = Path(__file__).resolve().parent / "vendored"
SARIF_SCHEMA = VENDORED / "sarif-schema-2.1.0.json"
JUNIT_XSD = VENDORED / "junit-10.xsd"
# GitHub's hard limit: a file with more runs is rejected as a whole.
GITHUB_MAX_RUNS = 20
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@cache
def sarif_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SARIF_SCHEMA.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    # Every format jsonschema knows, not only draft-04's: the schema also says
    # uri-reference. Without their optional packages jsonschema skips these formats
    # silently, so a missing checker would make the validation toothless.
    checker = jsonschema.FormatChecker()
    missing = {"uri", "uri-reference", "date-time"} - set(checker.checkers)
    assert not missing, f"jsonschema cannot check formats {missing}: install the test extra"
    return cls(schema, format_checker=checker)


def sarif_schema_errors(document: Any) -> list[str]:
    """Every violation of the official SARIF 2.1.0 schema, formats included."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sarif_validator().iter_errors(document)
    ]


def github_problems(document: dict[str, Any]) -> list[str]:
    """What GitHub code scanning's ingestion needs and the schema does not require: a
    repository-relative file and start line for every result, rules with a full
    description, fingerprints, one automation id (category) per run."""
    problems: list[str] = []
    runs = document.get("runs", [])
    if len(runs) > GITHUB_MAX_RUNS:
        problems.append(f"{len(runs)} runs, GitHub accepts {GITHUB_MAX_RUNS}")
    ids = [run.get("automationDetails", {}).get("id", "") for run in runs]
    if len(set(ids)) != len(ids):
        problems.append(f"automation ids repeat: {ids}")
    for n, run in enumerate(runs):
        problems += [f"runs/{n}: {p}" for p in _run_problems(run)]
    return problems


def _run_problems(run: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not run.get("automationDetails", {}).get("id"):
        problems.append("no automationDetails.id")
    rules = run["tool"]["driver"].get("rules", [])
    for rule in rules:
        for field in ("shortDescription", "fullDescription", "help"):
            if not rule.get(field, {}).get("text", "").strip():
                problems.append(f"rule {rule.get('id')}: no {field}.text")
    fingerprints: list[str] = []
    for i, result in enumerate(run.get("results", [])):
        where = f"results/{i} ({result.get('ruleId')})"
        problems += [f"{where}: {p}" for p in _result_problems(result, rules)]
        fingerprints.append(json.dumps(result.get("partialFingerprints"), sort_keys=True))
    if len(set(fingerprints)) != len(fingerprints):
        problems.append("two results share their partialFingerprints")
    return problems


def _result_problems(result: dict[str, Any], rules: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    index = result.get("ruleIndex")
    if index is None or index >= len(rules) or rules[index]["id"] != result.get("ruleId"):
        problems.append("ruleIndex does not name the rule")
    if not result.get("message", {}).get("text", "").strip():
        problems.append("no message.text")
    locations = result.get("locations") or []
    if not locations:
        return [*problems, "no locations"]
    physical = locations[0].get("physicalLocation", {})
    uri = physical.get("artifactLocation", {}).get("uri", "")
    if not uri or _SCHEME.match(uri) or uri.startswith("/") or ".." in uri.split("/"):
        problems.append(f"artifactLocation.uri {uri!r} is not repository-relative")
    line = physical.get("region", {}).get("startLine")
    if not isinstance(line, int) or line < 1:
        problems.append(f"region.startLine {line!r}")
    fingerprints = result.get("partialFingerprints") or {}
    if not fingerprints or not all(isinstance(v, str) and v for v in fingerprints.values()):
        problems.append("no partialFingerprints")
    return problems


@cache
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(JUNIT_XSD))


def junit_errors(text: str) -> list[str]:
    """Every violation of junit-10.xsd."""
    return [f"{e.path}: {e.reason}" for e in junit_schema().iter_errors(text)]
