"""regorus, the embedded engine's library: loading it, and what it tells about Rego sources
from their AST (calls to functions neither defined in the sources nor regorus builtins).

Here, below :mod:`mlgate.engine.embedded` (which refuses such a policy set up front) and
:mod:`mlgate.policylint` (which reports them among its findings), so neither imports the
other.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from ..regosource import regorus_module

_UNKNOWN = "could not find function"


@dataclass(frozen=True)
class Finding:
    file: str
    line: int
    message: str
    severity: str = "error"  # or "warning": reported, not failing the check

    def __str__(self) -> str:
        mark = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}: {mark}{self.message}"


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
                    near = _near(full, user_functions, head, aliases.get(head, ""))
                    found.append(Finding(file, line, f"call to undefined function {name}{near}"))
                continue
            builtin_calls.append((file, line, name, arity))
    missing = _missing_builtins(regorus, {(name, arity) for _, _, name, arity in builtin_calls})
    known = sorted({n for n, a in _KNOWN_BUILTINS if _KNOWN_BUILTINS[(n, a)]} | COMMON_BUILTINS)
    for file, line, name, arity in builtin_calls:
        if (name, arity) in missing:
            close = difflib.get_close_matches(name, known, n=1)
            near = f"; did you mean {close[0]}?" if close else ""
            found.append(
                Finding(
                    file, line, f"function {name} is not supported by the embedded engine{near}"
                )
            )
    return found


def _near(full: str, user_functions: set[str], head: str, alias_path: str) -> str:
    """``; did you mean lib.gate_result?`` for a misspelt function of the set."""
    close = difflib.get_close_matches(full, sorted(user_functions), n=1)
    if not close:
        return ""
    shown = close[0]
    if alias_path and shown.startswith(alias_path + "."):
        shown = head + shown[len(alias_path) :]
    return f"; did you mean {shown}?"


# Builtins offered as "did you mean" beside those the set already calls successfully.
COMMON_BUILTINS = frozenset(
    [
        "abs",
        "all",
        "any",
        "array.concat",
        "array.reverse",
        "array.slice",
        "base64.decode",
        "base64.encode",
        "ceil",
        "concat",
        "contains",
        "count",
        "endswith",
        "floor",
        "format_int",
        "graph.reachable",
        "indexof",
        "is_array",
        "is_boolean",
        "is_null",
        "is_number",
        "is_object",
        "is_set",
        "is_string",
        "json.marshal",
        "json.unmarshal",
        "lower",
        "max",
        "min",
        "numbers.range",
        "object.filter",
        "object.get",
        "object.keys",
        "object.remove",
        "object.union",
        "regex.match",
        "regex.split",
        "replace",
        "round",
        "sort",
        "split",
        "sprintf",
        "startswith",
        "strings.replace_n",
        "substring",
        "sum",
        "time.add_date",
        "time.date",
        "time.diff",
        "time.parse_rfc3339_ns",
        "to_number",
        "trim",
        "trim_left",
        "trim_prefix",
        "trim_right",
        "trim_space",
        "trim_suffix",
        "union",
        "upper",
        "units.parse",
        "walk",
    ]
)


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
