"""Why a Rego test failed: its first expression that does not hold, and the values its
operands and the variables bound before it had, as ``opa test --explain=fails`` shows.

The test's body is read from regorus's AST (:mod:`mlgate.regosource`) and re-evaluated
expression by expression on the embedded engine: a helper rule per prefix of the body,
in the test's package with its imports, finds the first expression after which the body
is undefined; helper rules then collect each operand's values under the same preceding
expressions (and the same ``with`` modifiers). Whatever engine ran the test, the
explanation comes from regorus; when it cannot be made, the test still fails as reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .policy import PolicySet
from .regosource import Module, walk

HELPER = "__mlgate_explain"
LITERALS = ("String", "RawString", "Number", "Bool", "Null")
MAX_VALUE = 300


@dataclass(frozen=True)
class Explanation:
    file: str
    line: int
    expression: str
    values: dict[str, str] = field(default_factory=dict)  # operand text -> JSON value
    note: str = ""

    def lines(self) -> list[str]:
        out = [f"{self.file}:{self.line}: {self.expression}"]
        out += [f"  {text} = {value}" for text, value in self.values.items()]
        if self.note:
            out.append(f"  ({self.note})")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "expression": self.expression,
            "values": self.values,
            "note": self.note,
        }


def explain(
    policy_set: PolicySet, file: str, package: str, name: str, base: Any = None
) -> Explanation | None:
    """The failing expression of test ``name``, or None when it cannot be told (a test
    without a body, a module that does not parse). ``base``: the set and its tests
    compiled on regorus (:func:`base_engine`), shared by the explanations of one run."""
    module = policy_set.rego_tests.get(file)
    rule = next((r for r in module.rules if r.name == name), None) if module else None
    bodies = rule.node.get("Spec", {}).get("bodies") if rule else None
    if module is None or rule is None or not bodies:
        return None
    stmts: list[dict[str, Any]] = bodies[0]["query"]["stmts"]
    texts = [module.text(s) for s in stmts]
    try:
        engine = (base or base_engine(policy_set)).clone()
        _add_prefixes(engine, module, package, texts)
        failing = _first_failing(engine, package, len(texts))
    except BaseException as exc:  # noqa: BLE001 - regorus panics are BaseException
        if isinstance(exc, KeyboardInterrupt):
            raise
        return None
    if failing is None:
        return None
    stmt = stmts[failing]
    line = int(stmt["span"]["line"])
    operands = _operands(module, stmt) + _bound_before(stmts[:failing])
    values = _values(engine, module, package, texts[:failing], stmt, operands)
    note = "" if values or not operands else "its operands could not be evaluated"
    return Explanation(file, line, texts[failing], values, note)


def _imports(module: Module) -> str:
    lines = []
    for alias, path in module.imports.items():
        if path.startswith(("rego.", "future.")):
            continue
        lines.append(f"import {path} as {alias}")
    return "\n".join(lines)


def base_engine(policy_set: PolicySet) -> Any:
    """The policy set and its tests on regorus, to clone for each explanation."""
    from .engine.embedded import compile_engine

    return compile_engine(policy_set, with_tests=True)


def _add_prefixes(engine: Any, module: Module, package: str, texts: list[str]) -> None:
    rules = [
        f"{HELPER}_{k} if {{\n" + "\n".join(texts[:k]) + "\n}" for k in range(1, len(texts) + 1)
    ]
    source = f"package {package}\n\n{_imports(module)}\n\n" + "\n\n".join(rules) + "\n"
    engine.add_policy(f"{HELPER}.rego", source)


def _first_failing(engine: Any, package: str, count: int) -> int | None:
    for k in range(1, count + 1):
        try:
            value = engine.eval_rule(f"data.{package}.{HELPER}_{k}")
        except BaseException as exc:  # noqa: BLE001 - an error also stops the body
            if isinstance(exc, KeyboardInterrupt):
                raise
            return k - 1
        if value is not True:
            return k - 1
    return None


def _operands(module: Module, stmt: dict[str, Any]) -> list[str]:
    """The source texts of a statement's operands worth showing (not literals)."""
    literal = stmt.get("literal") or {}
    nodes: list[Any] = []
    if "Expr" in literal:
        expr = literal["Expr"]["expr"]
        kind, body = next(iter(expr.items()))
        if kind in ("BoolExpr", "AssignExpr", "ArithExpr", "BinExpr"):
            nodes = [body["lhs"], body["rhs"]] if kind != "AssignExpr" else [body["rhs"]]
        elif kind == "Membership":
            nodes = [body.get("value"), body.get("collection")]
        elif kind == "Call":
            nodes = list(body.get("params") or [])
        else:
            nodes = [expr]
    elif "NotExpr" in literal:
        nodes = [literal["NotExpr"]["expr"]]
    elif "Every" in literal:
        nodes = [literal["Every"]["domain"]]
    elif "SomeIn" in literal:
        nodes = [literal["SomeIn"]["collection"]]
    texts = []
    for node in nodes:
        has_var = any("Var" in n for n in walk(node))
        if isinstance(node, dict) and node and next(iter(node)) not in LITERALS and has_var:
            body = next(iter(node.values()))
            if isinstance(body, dict) and "span" in body:
                text = module.text(body)
                if text and text not in texts:
                    texts.append(text)
    return texts


def _bound_before(stmts: list[dict[str, Any]]) -> list[str]:
    """Variables the preceding statements assign (``x := ...``, ``some x in ...``)."""
    names: list[str] = []
    for node in walk(stmts):
        assign = node.get("AssignExpr")
        if isinstance(assign, dict) and "Var" in assign["lhs"]:
            name = str(assign["lhs"]["Var"]["value"])
            if name != "_" and name not in names:
                names.append(name)
    return names


def _values(
    engine: Any,
    module: Module,
    package: str,
    before: list[str],
    stmt: dict[str, Any],
    operands: list[str],
) -> dict[str, str]:
    if not operands:
        return {}
    withs = "".join(
        f" with {module.text(next(iter(w['refr'].values())))} as {module.text(_spanned(w['as']))}"
        for w in stmt.get("with_mods") or []
    )
    rules = [
        f"{HELPER}_v{i} := [{HELPER}_x |\n"
        + "".join(f"{t}\n" for t in before)
        + f"{HELPER}_x := ({text}){withs}\n]"
        for i, text in enumerate(operands)
    ]
    source = f"package {package}\n\n{_imports(module)}\n\n" + "\n\n".join(rules) + "\n"
    values: dict[str, str] = {}
    try:
        engine.add_policy(f"{HELPER}_values.rego", source)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return values
    for i, text in enumerate(operands):
        try:
            found = engine.eval_rule(f"data.{package}.{HELPER}_v{i}")
        except BaseException as exc:  # noqa: BLE001 - shown as the error it is
            if isinstance(exc, KeyboardInterrupt):
                raise
            values[text] = "error"
            continue
        values[text] = _show(found)
    return values


def _spanned(node: dict[str, Any]) -> dict[str, Any]:
    body = next(iter(node.values()))
    return body if isinstance(body, dict) else node


def _show(found: Any) -> str:
    if not isinstance(found, list) or not found:
        return "undefined"
    value = found[0] if len(found) == 1 else found
    text = json.dumps(value, sort_keys=True, default=_jsonable)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 3] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, set):
        return sorted(value, key=repr)
    return repr(value)
