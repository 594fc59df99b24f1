"""``mlgate policy check``: parse, lint and engine-capability check of a policy set.

Findings, each ``file:line: message``:
- parse errors (every module compiled alone, so each error names its own file);
- METADATA blocks missing a required field (a package: title and description, once per
  package; a violation rule: everything its report shows);
- violation codes that are duplicated, malformed, not prefixed by their gate, or whose
  ``short_name`` disagrees with the code literal (read from the AST, wherever the head
  writes it);
- calls to functions the embedded engine lacks, with "did you mean". regorus resolves a
  function only when the call is reached, so a call behind a false condition would pass
  silently at run time: here every call in the AST is probed up front;
- what :mod:`mlgate.regolint` finds: unbound key names, unknown input fields and
  policy-data keys, impure builtins, placeholders the params lack (unused params: a
  warning), orphaned METADATA blocks and METADATA YAML errors;
- gates missing from the set (policy data and waivers are validated on load);
- OPA's own verdict when its Go library is importable (``opa-golib-python-bindings``):
  the set, tests and data compiled by OPA's parser, compiler and type checker, each
  error as ``file:line: OPA <version>: <code>: <message>``. OPA reports the errors of
  the first stage that fails (parse, then compile), as ``opa check`` does.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .engine.regoast import Finding, unknown_function_calls
from .errors import PolicyError, one_line
from .policy import PolicySet
from .regolint import ast_findings
from .regosource import regorus_module

# A package's block is shown as the gate's title and description (SARIF: its solution);
# a violation's is what the user reads when it fires.
PACKAGE_FIELDS = ("title", "description")
RULE_FIELDS = ("title", "description", "short_name", "failure_msg", "solution", "severity")
SEVERITIES = {"critical", "high", "medium", "low"}
_CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")


def check_policy_set(policy_set: PolicySet) -> list[Finding]:
    findings: list[Finding] = []
    findings += _parse_errors(policy_set)
    try:
        policy_set.annotations  # noqa: B018 - a METADATA block's YAML may not parse
    except PolicyError:
        pass  # ast_findings reports each such block with its file line
    else:
        findings += _metadata_findings(policy_set)
        findings += _code_findings(policy_set)
        findings += _config_findings(policy_set)
    findings += _unknown_functions(policy_set)
    findings += ast_findings(policy_set)
    findings += opa_findings(policy_set)
    return sorted(set(findings), key=lambda f: (f.file, f.line, f.message))


def opa_findings(policy_set: PolicySet) -> list[Finding]:
    """OPA's compile errors for the policies, their tests and data; ``[]`` when OPA
    accepts them or when its Go library is not importable (see ``opa_unavailable``)."""
    from .engine import golib

    if golib.unavailable_reason():
        return []
    sources = {**policy_set.modules, **policy_set.tests}
    try:
        golib.compile_modules(sources, policy_set.data).close()
    except golib.OpaRejected as exc:
        return [_opa_finding(error) for error in exc.errors]
    return []


def _opa_finding(error: dict[str, Any]) -> Finding:
    from .engine.golib import OPA_VERSION

    loc = error.get("location") or {}
    what = f"OPA {OPA_VERSION}: {error.get('code')}: {error.get('message')}"
    return Finding(str(loc.get("file") or "(policy set)"), int(loc.get("row") or 1), what)


def _location(message: str, default_file: str) -> tuple[str, int, str]:
    """Split regorus' ``--> file:line:col ... error: what`` into its parts."""
    match = re.search(r"-->\s*([^:\s]+):(\d+):\d+", message)
    what = message.split("error:", 1)[-1].strip() if "error:" in message else message
    if match:
        return match.group(1), int(match.group(2)), what
    return default_file, 1, what


def _parse_errors(policy_set: PolicySet) -> list[Finding]:
    regorus = regorus_module()
    found = []
    for path, source in sorted({**policy_set.modules, **policy_set.tests}.items()):
        try:
            regorus.Engine().add_policy(path, source)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            file, line, what = _location(one_line(str(exc)), path)
            found.append(Finding(file, line, f"parse error: {what}"))
    return found


def _metadata_findings(policy_set: PolicySet) -> list[Finding]:
    found: list[Finding] = []
    # One block per package, on any of its modules (a gate may span several files).
    annotated = {a.package for a in policy_set.annotations if a.scope == "package"}
    for path, module in sorted(policy_set.rego.items()):
        if module.package not in annotated:
            found.append(Finding(path, module.package_line, "package has no # METADATA block"))
    for ann in policy_set.annotations:
        for name in RULE_FIELDS if ann.scope == "rule" else PACKAGE_FIELDS:
            if not getattr(ann, name):
                found.append(Finding(ann.file, ann.line, f"METADATA is missing {name}"))
        if ann.severity and ann.severity not in SEVERITIES:
            found.append(
                Finding(
                    ann.file,
                    ann.line,
                    f"severity '{ann.severity}' is not one of " + ", ".join(sorted(SEVERITIES)),
                )
            )
        if (
            ann.scope == "package"
            and ann.package.startswith("mlgate.gates.")
            and not ann.references
        ):
            found.append(Finding(ann.file, ann.line, "gate METADATA has no related_resources"))
    # Every violation rule must carry its own block.
    annotated_rules = {(a.file, a.code) for a in policy_set.annotations if a.code}
    for path, module in sorted(policy_set.rego.items()):
        for rule in module.violations:
            if rule.code and (path, rule.code) not in annotated_rules:
                found.append(Finding(path, rule.line, f"violation {rule.code} has no # METADATA"))
    return found


def _code_findings(policy_set: PolicySet) -> list[Finding]:
    found: list[Finding] = []
    seen: dict[str, str] = {}
    for path, module in sorted(policy_set.rego.items()):
        gate = module.package.rsplit(".", 1)[-1]
        for rule in module.violations:
            code, number = rule.code, rule.code_line or rule.line
            where = f"{path}:{number}"
            if code is None:
                found.append(Finding(path, number, 'violation without a literal "code"'))
                continue
            if not _CODE_SHAPE.match(code):
                found.append(Finding(path, number, f"code {code} is not <gate>.<short_name>"))
            elif code.split(".")[0] != gate:
                found.append(Finding(path, number, f"code {code} is not prefixed by gate {gate}"))
            if code in seen:
                found.append(Finding(path, number, f"duplicate code {code} (also {seen[code]})"))
            else:
                seen[code] = where
    for ann in policy_set.annotations:
        if ann.code and ann.short_name and ann.code.split(".", 1)[-1] != ann.short_name:
            found.append(
                Finding(
                    ann.file,
                    ann.line,
                    f"short_name {ann.short_name} does not match code {ann.code}",
                )
            )
    return found


# --------------------------------------------------------------------------- functions


def _unknown_functions(policy_set: PolicySet) -> list[Finding]:
    return unknown_function_calls({**policy_set.modules, **policy_set.tests})


def _config_findings(policy_set: PolicySet) -> list[Finding]:
    # Policy data and waivers were validated when the set was loaded (exit 2 there). A
    # key left to its default is a finding: the engines get the default filled in, but a
    # reviewer of data.json (or of an OPA server's data) should read what decides.
    from .policy import DATA_FILE, default_value, missing_config_keys, missing_gates

    found = []
    for gate in missing_gates(policy_set):
        found.append(Finding(f"gates/{gate}", 1, f"gate {gate} is missing from the policy set"))
    found += _unwired_data(policy_set)
    for path in missing_config_keys(policy_set):
        value = default_value(policy_set, path)
        found.append(
            Finding(
                DATA_FILE,
                1,
                f"{path} is missing; the engines use the default {json.dumps(value)}: "
                "write it out in data.json",
            )
        )
    return found


def _unwired_data(policy_set: PolicySet) -> list[Finding]:
    """A gate's policy data (its ``gates/<gate>/data.schema.json``, its section of
    ``mlgate.config``) while no gate of that id is wired in ``required_gates``: nothing
    decides with it, and a reader of data.json would think it does (switching a gate on
    or off is its data's ``required``, not its absence from the list)."""
    from .policydata import SCHEMA_FILE
    from .policygates import LIST_RULE, declared_gates

    wired = declared_gates(policy_set.modules, policy_set.root)
    found = []
    for path in sorted(policy_set.declaration_files):
        parts = path.split("/")
        if len(parts) != 3 or parts[0] != "gates" or parts[2] != SCHEMA_FILE:
            continue
        gate = parts[1]
        if gate not in wired.ids:
            where = "its section of data.json and " if gate in _config(policy_set) else ""
            found.append(
                Finding(
                    path,
                    1,
                    f"policy data for gate '{gate}' ({where}{path}) but no gate '{gate}' is "
                    f"wired in {LIST_RULE} ({wired.file}:{wired.line}): nothing decides with "
                    "it; wire the gate or remove its data",
                )
            )
    return found


def _config(policy_set: PolicySet) -> dict[str, Any]:
    config = policy_set.data_file.get("mlgate", {}).get("config", {})
    return config if isinstance(config, dict) else {}
