"""``mlgate policy check``: parse, lint and engine-capability check of a policy set.

Findings, each ``file:line: message``:
- parse errors (every module compiled alone, so each error names its own file);
- METADATA blocks missing a required field, on every package and violation rule;
- violation codes that are duplicated, malformed, not prefixed by their gate, or whose
  ``short_name`` disagrees with the code literal;
- calls to functions the embedded engine lacks. regorus resolves a function only when
  the call is reached, so a call behind a false condition would pass silently at run
  time: here every call in the AST is probed up front.
- gates missing from the set (policy data and waivers are validated on load);
- OPA's own verdict when its Go library is importable (``opa-golib-python-bindings``):
  the set, tests and data compiled by OPA's parser, compiler and type checker, each
  error as ``file:line: OPA <version>: <code>: <message>``. OPA reports the errors of
  the first stage that fails (parse, then compile), as ``opa check`` does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from .engine.embedded import regorus_module
from .errors import one_line
from .policy import PolicySet

PACKAGE_FIELDS = ("title", "description", "short_name", "failure_msg", "solution", "severity")
RULE_FIELDS = PACKAGE_FIELDS
SEVERITIES = {"critical", "high", "medium", "low"}
_CODE_SHAPE = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_VIOLATION_HEAD = re.compile(r"^violations\s+contains\b")
_UNKNOWN = "could not find function"


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


def check_policy_set(policy_set: PolicySet) -> list[Finding]:
    findings: list[Finding] = []
    findings += _parse_errors(policy_set)
    findings += _metadata_findings(policy_set)
    findings += _code_findings(policy_set)
    findings += _unknown_functions(policy_set)
    findings += _config_findings(policy_set)
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
    annotated_packages = {a.file for a in policy_set.annotations if a.scope == "package"}
    for path in sorted(policy_set.modules):
        if path not in annotated_packages:
            found.append(Finding(path, 1, "package has no # METADATA block"))
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
    for path, source in sorted(policy_set.modules.items()):
        for number, line in enumerate(source.splitlines(), start=1):
            if _VIOLATION_HEAD.match(line):
                code = _code_in(line)
                if code and (path, code) not in annotated_rules:
                    found.append(Finding(path, number, f"violation {code} has no # METADATA"))
    return found


def _code_in(line: str) -> str | None:
    match = re.search(r'"code":\s*"([^"]+)"', line)
    return match.group(1) if match else None


def _code_findings(policy_set: PolicySet) -> list[Finding]:
    found: list[Finding] = []
    seen: dict[str, str] = {}
    for path, source in sorted(policy_set.modules.items()):
        package = re.search(r"^package\s+([\w.]+)", source, re.MULTILINE)
        gate = package.group(1).rsplit(".", 1)[-1] if package else ""
        for number, line in enumerate(source.splitlines(), start=1):
            if not _VIOLATION_HEAD.match(line):
                continue
            code = _code_in(line)
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


def _render_ref(node: Any) -> str | None:
    if not isinstance(node, dict):
        return None
    if "Var" in node:
        return str(node["Var"]["value"])
    if "RefDot" in node:
        base = _render_ref(node["RefDot"]["refr"])
        field = node["RefDot"]["field"]
        name = field[1] if isinstance(field, list) else field
        return f"{base}.{name}" if base else None
    return None


def _calls(node: Any, out: list[tuple[str, int, int]]) -> None:
    if isinstance(node, dict):
        call = node.get("Call")
        if isinstance(call, dict):
            name = _render_ref(call.get("fcn"))
            if name:
                out.append((name, call["span"]["line"], len(call.get("params") or [])))
        for value in node.values():
            _calls(value, out)
    elif isinstance(node, list):
        for value in node:
            _calls(value, out)


def _module_info(ast: dict[str, Any]) -> tuple[str, dict[str, str], set[str]]:
    """The package path, import aliases (alias -> data path) and local function names."""
    package = _render_ref(ast["package"]["refr"]) or ""
    aliases: dict[str, str] = {}
    for imp in ast.get("imports", []):
        path = _render_ref(imp.get("refr")) or ""
        alias = imp.get("as") or path.rsplit(".", 1)[-1]
        aliases[str(alias)] = path
    functions = set()
    for rule in ast.get("rules", []):
        head = (rule.get("Spec") or {}).get("head") or {}
        if "Func" in head:
            name = _render_ref(head["Func"]["refr"])
            if name:
                functions.add(name)
    return package, aliases, functions


def _unknown_functions(policy_set: PolicySet) -> list[Finding]:
    return unknown_function_calls({**policy_set.modules, **policy_set.tests})


def unknown_function_calls(sources: dict[str, str]) -> list[Finding]:
    """Calls to functions that are neither defined in ``sources`` nor regorus builtins.

    Modules that do not parse are skipped (``_parse_errors`` reports them).
    """
    regorus = regorus_module()
    engine = regorus.Engine()
    for path, source in sorted(sources.items()):
        try:
            engine.add_policy(path, source)
        except BaseException:  # noqa: BLE001 - a parse error, reported elsewhere
            continue
    try:
        modules = json.loads(engine.get_ast_as_json())
    except BaseException:  # noqa: BLE001
        return []
    user_functions: set[str] = set()
    per_module = []
    for module in modules:
        package, aliases, functions = _module_info(module["ast"])
        user_functions |= {f"data.{package}.{f}" for f in functions}
        calls: list[tuple[str, int, int]] = []
        _calls(module["ast"].get("rules", []), calls)
        per_module.append((module["source"]["file"], package, aliases, functions, calls))
    found: list[Finding] = []
    builtin_calls: list[tuple[str, int, str, int]] = []
    for file, package, aliases, functions, calls in per_module:
        for name, line, arity in calls:
            head = name.split(".", 1)[0]
            if name in functions or f"data.{package}.{name}" in user_functions:
                continue
            if head in aliases or head == "data":
                full = name if head == "data" else aliases[head] + name[len(head) :]
                if full not in user_functions:
                    found.append(Finding(file, line, f"call to undefined function {name}"))
                continue
            builtin_calls.append((file, line, name, arity))
    missing = _missing_builtins(regorus, {(name, arity) for _, _, name, arity in builtin_calls})
    for file, line, name, arity in builtin_calls:
        if (name, arity) in missing:
            found.append(
                Finding(file, line, f"function {name} is not supported by the embedded engine")
            )
    return found


_KNOWN_BUILTINS: dict[tuple[str, int], bool] = {}


def _missing_builtins(regorus: Any, calls: set[tuple[str, int]]) -> set[tuple[str, int]]:
    """Which (name, arity) calls regorus cannot resolve: probed once per process, all in
    one engine (one rule per call), since regorus resolves a function only when reached."""
    unknown = sorted(c for c in calls if c not in _KNOWN_BUILTINS)
    if unknown:
        rules = "\n".join(
            f"p{i} if {{\n\t{name}({', '.join(['1'] * arity)})\n}}"
            for i, (name, arity) in enumerate(unknown)
        )
        probe = regorus.Engine()
        probe.add_policy("probe.rego", f"package probe\n\n{rules}\n")
        for i, call in enumerate(unknown):
            try:
                probe.eval_rule(f"data.probe.p{i}")
                _KNOWN_BUILTINS[call] = True
            except BaseException as exc:  # noqa: BLE001 - type errors mean it exists
                _KNOWN_BUILTINS[call] = _UNKNOWN not in str(exc)
    return {c for c in calls if not _KNOWN_BUILTINS[c]}


def _config_findings(policy_set: PolicySet) -> list[Finding]:
    # Policy data and waivers were validated when the set was loaded (exit 2 there). A
    # key left to its default is a finding: the engines get the default filled in, but a
    # reviewer of data.json (or of an OPA server's data) should read what decides.
    from .policy import DATA_FILE, missing_config_keys, missing_gates

    found = []
    for gate in missing_gates(policy_set):
        found.append(Finding(f"gates/{gate}", 1, f"gate {gate} is missing from the policy set"))
    defaults = policy_set.config.model_dump(mode="json")
    for path in missing_config_keys(policy_set):
        value: Any = defaults
        for key in path.split(".")[2:]:
            value = value[key]
        found.append(
            Finding(
                DATA_FILE,
                1,
                f"{path} is missing; the engines use the default {json.dumps(value)}: "
                "write it out in data.json",
            )
        )
    return found
