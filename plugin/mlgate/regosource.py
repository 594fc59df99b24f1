"""Rego sources read from regorus's AST (``Engine.get_ast_as_json``), never by regexes.

What Python needs to know about a module: its package, its imports, every rule (name,
line, whether a function, its arguments) and, for a violation rule, the code literal
and the keys of its params object, wherever in the head they are written; and where each
``# METADATA`` comment block sits and which statement (a rule or the package) it
annotates. Comments are not in the AST, so a block is found in the text, then matched to
the statement that starts on the line right after it.

Here, in the policy layer, so that :mod:`mlgate.policy` (METADATA), the linter and the
test runner read Rego the same way.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import EngineError

METADATA_MARK = "# METADATA"


def regorus_module() -> Any:
    """The regorus module, with Rust error backtraces off unless asked for.

    Capturing a backtrace for every evaluation error costs milliseconds (regorus errors
    are anyhow errors, which honour RUST_LIB_BACKTRACE before RUST_BACKTRACE); set
    RUST_LIB_BACKTRACE=1 to get them back when debugging the engine.
    """
    os.environ.setdefault("RUST_LIB_BACKTRACE", "0")
    try:
        import regorus
    except ImportError as exc:  # pragma: no cover - a broken install
        raise EngineError(f"embedded engine unavailable: {exc}") from exc
    return regorus


@dataclass(frozen=True)
class Rule:
    """One rule of a module, as its head declares it."""

    name: str  # the head's first name: "violations", "test_x", "f"
    line: int  # where the rule starts
    end_line: int
    is_function: bool
    args: tuple[str, ...]  # a function's parameter names (Vars only)
    code: str | None  # a violation's code literal
    code_line: int  # where the code literal is written (0 without one)
    params: tuple[str, ...] | None  # keys of its params object literal; None: not a literal
    node: dict[str, Any] = field(compare=False, repr=False)


@dataclass(frozen=True)
class MetadataBlock:
    """A ``# METADATA`` comment block: its YAML (comment marks removed), its first YAML
    line, and what it annotates: ``package``, the rule starting right below it, or
    nothing (``target`` None: an orphan)."""

    line: int  # the line of "# METADATA" (its YAML starts on the next)
    text: str
    target: str | None  # "package", "rule" or None
    rule: Rule | None


@dataclass(frozen=True)
class Module:
    file: str
    source: str
    package: str
    package_line: int
    imports: dict[str, str]  # alias -> imported path ("lib" -> "data.mlgate.lib")
    rules: tuple[Rule, ...]
    ast: dict[str, Any] = field(compare=False, repr=False)

    def text(self, node: dict[str, Any]) -> str:
        """The source text of a node (or statement) with a span."""
        span = node.get("span") or {}
        return self.source.encode()[span.get("start", 0) : span.get("end", 0)].decode()

    @property
    def violations(self) -> list[Rule]:
        return [r for r in self.rules if r.name == "violations"]

    @property
    def metadata(self) -> list[MetadataBlock]:
        return metadata_blocks(self)


def render_ref(node: Any) -> str | None:
    """``a.b.c`` for a Var/RefDot chain (string indices shown dotted); None otherwise."""
    if not isinstance(node, dict):
        return None
    if "Var" in node:
        return str(node["Var"]["value"])
    if "RefDot" in node:
        base = render_ref(node["RefDot"]["refr"])
        name = field_name(node["RefDot"]["field"])
        return f"{base}.{name}" if base else None
    if "RefBrack" in node:
        index = node["RefBrack"]["index"]
        base = render_ref(node["RefBrack"]["refr"])
        if base and isinstance(index, dict) and "String" in index:
            return f"{base}.{index['String']['value']}"
    return None


def field_name(field_node: Any) -> str:
    return str(field_node[1] if isinstance(field_node, list) else field_node)


def span_line(node: Any) -> int:
    """The line of the first span found in a node."""
    if isinstance(node, dict):
        span = node.get("span")
        if isinstance(span, dict) and "line" in span:
            return int(span["line"])
        for value in node.values():
            line = span_line(value)
            if line:
                return line
    elif isinstance(node, list):
        for value in node:
            line = span_line(value)
            if line:
                return line
    return 0


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict in a node, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def parse_modules(sources: dict[str, str]) -> tuple[dict[str, Module], dict[str, str]]:
    """The modules that parse, by path, and the parse error of each one that does not."""
    regorus = regorus_module()
    engine = regorus.Engine()
    errors: dict[str, str] = {}
    for path, source in sorted(sources.items()):
        try:
            engine.add_policy(path, source)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            if isinstance(exc, KeyboardInterrupt):
                raise
            errors[path] = str(exc)
    modules: dict[str, Module] = {}
    if len(errors) < len(sources):
        for entry in json.loads(engine.get_ast_as_json()):
            path = entry["source"]["file"]
            if path in sources:
                modules[path] = _module(path, sources[path], entry["ast"])
    return modules, errors


def parse_module(path: str, source: str) -> Module | None:
    """One module, or None when it does not parse."""
    return parse_modules({path: source})[0].get(path)


def _module(path: str, source: str, ast: dict[str, Any]) -> Module:
    imports: dict[str, str] = {}
    for imp in ast.get("imports", []):
        ref = render_ref(imp.get("refr")) or ""
        alias = imp.get("as") or ref.rsplit(".", 1)[-1]
        imports[str(alias)] = ref
    return Module(
        file=path,
        source=source,
        package=render_ref(ast["package"]["refr"]) or "",
        package_line=int(ast["package"]["span"]["line"]),
        imports=imports,
        rules=tuple(_rule(node, source.encode()) for node in ast.get("rules", [])),
        ast=ast,
    )


def _rule(node: dict[str, Any], source: bytes) -> Rule:
    kind, body = next(iter(node.items()))
    span = body.get("span") or {}
    line = int(span.get("line", 0))
    end_line = line + source[span.get("start", 0) : span.get("end", 0)].count(b"\n")
    head: dict[str, Any] = {}
    if kind == "Spec":
        head_kind, head = next(iter(body["head"].items()))
    else:  # Default
        head_kind, head = "Default", body
    refr = head.get("refr")
    name = render_ref(_ref_base(refr)) or ""
    args = tuple(
        str(a["Var"]["value"]) for a in head.get("args") or [] if isinstance(a, dict) and "Var" in a
    )
    key = head.get("key") if head_kind == "Set" else None
    if head_kind == "Compr" and isinstance(refr, dict) and "RefBrack" in refr:
        key = refr["RefBrack"]["index"]  # violations[{"code": ...}] (old style)
    code, code_line, params = _violation_literal(key)
    return Rule(
        name=name,
        line=line,
        end_line=end_line,
        is_function=head_kind == "Func",
        args=args,
        code=code,
        code_line=code_line,
        params=params,
        node=node,
    )


def _ref_base(node: Any) -> Any:
    """The leftmost Var of a head reference (``x`` of ``x.y[z]``)."""
    while isinstance(node, dict) and ("RefDot" in node or "RefBrack" in node):
        node = node["RefDot" if "RefDot" in node else "RefBrack"]["refr"]
    return node


def _violation_literal(key: Any) -> tuple[str | None, int, tuple[str, ...] | None]:
    """The code literal, its line and the params keys of a violation key: an object
    ``{"code": "...", "params": {...}}`` or a call ``violation("...", {...})``."""
    if not isinstance(key, dict):
        return None, 0, None
    code_node: Any = None
    params_node: Any = None
    if "Object" in key:
        for _, k, v in key["Object"]["fields"]:
            name = k.get("String", {}).get("value") if isinstance(k, dict) else None
            if name == "code":
                code_node = v
            elif name == "params":
                params_node = v
    elif "Call" in key:
        params = key["Call"].get("params") or []
        if len(params) == 2:
            code_node, params_node = params
    if not (isinstance(code_node, dict) and "String" in code_node):
        return None, 0, None
    keys: tuple[str, ...] | None = None
    if isinstance(params_node, dict) and "Object" in params_node:
        keys = tuple(
            str(k["String"]["value"])
            for _, k, _ in params_node["Object"]["fields"]
            if isinstance(k, dict) and "String" in k
        )
    code = code_node["String"]
    return str(code["value"]), int(code["span"]["line"]), keys


def metadata_blocks(module: Module) -> list[MetadataBlock]:
    """Every ``# METADATA`` block of a module and the statement it annotates: the one
    starting on the line right after the block (a blank line in between orphans it)."""
    lines = module.source.splitlines()
    starts = {r.line: r for r in module.rules}
    blocks: list[MetadataBlock] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != METADATA_MARK:
            i += 1
            continue
        j = i + 1
        text: list[str] = []
        while j < len(lines) and lines[j].startswith("#"):
            text.append(lines[j][2:] if lines[j].startswith("# ") else lines[j][1:])
            j += 1
        below = j + 1  # 1-based number of the line after the block
        rule = starts.get(below)
        target = "package" if below == module.package_line else ("rule" if rule else None)
        blocks.append(MetadataBlock(i + 1, "\n".join(text), target, rule))
        i = j
    return blocks
