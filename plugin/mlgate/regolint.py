"""``mlgate policy check``'s readings of the Rego AST (:mod:`mlgate.regosource`): the
mistakes that compile and run, and silently change what a gate decides.

- a name used as a key or index that nothing binds (``input.tags[complaints_tagg]``):
  Rego makes it a loop over every key, so the expression holds for any of them;
- a reference to an ``input`` field that the gate input schema does not have, or to a
  ``data.mlgate.config`` key the policy data does not hold: it is undefined, and a
  violation reading it never fires;
- impure or non-deterministic builtins (``http.send``, ``time.now_ns``, ``rand.intn``,
  ...) in a policy module: a decision must replay from its logged input;
- a ``{placeholder}`` in a violation's failure_msg that its params object lacks (shown
  literally to the user), and, as a warning, params no message or remedy uses;
- METADATA blocks that annotate nothing (a blank line or other text before the rule), or
  whose YAML does not parse.
"""

from __future__ import annotations

import difflib
import string
from typing import Any

from .engine.regoast import Finding
from .errors import PolicyError
from .metadata import parse_metadata_yaml
from .policy import PolicySet
from .regosource import Module, field_name, walk

IMPURE_BUILTINS = frozenset(
    {
        "http.send",
        "time.now_ns",
        "opa.runtime",
        "net.lookup_ip_addr",
        "io.jwt.decode_verify",
        "crypto.x509.parse_and_verify_certificates",
        "providers.aws.sign_req",
    }
)
IMPURE_PREFIXES = ("rand.", "uuid.rfc4122")
NOT_A_KEY_VAR = frozenset({"_", "input", "data"})


def gate_input_schema(policy_set: PolicySet) -> dict[str, Any]:
    """The JSON schema of the gate input, which ``input.<path>`` references are checked
    against: the policy set's own, its facts from its tag declarations."""
    from .tags import gate_input_schema as schema_of

    return schema_of(policy_set)


def ast_findings(policy_set: PolicySet) -> list[Finding]:
    found: list[Finding] = []
    schema = gate_input_schema(policy_set)
    aliases = _alias_rules(policy_set)
    packages: dict[str, set[str]] = {}
    for module in [*policy_set.rego.values(), *policy_set.rego_tests.values()]:
        packages.setdefault(module.package, set()).update(r.name for r in module.rules)
    for _, module in sorted(policy_set.rego.items()):
        found += _impure_calls(module)
        found += _unbound_keys(module, packages.get(module.package, set()))
        found += _references(module, aliases, schema, policy_set)
        found += _metadata(module, policy_set)
    for _, module in sorted(policy_set.rego_tests.items()):
        found += _unbound_keys(module, packages.get(module.package, set()))
    return found


# --------------------------------------------------------------------------- builtins


def _impure_calls(module: Module) -> list[Finding]:
    from .regosource import render_ref

    found = []
    for node in walk(module.ast.get("rules", [])):
        call = node.get("Call")
        if not isinstance(call, dict):
            continue
        name = render_ref(call.get("fcn")) or ""
        if name in IMPURE_BUILTINS or name.startswith(IMPURE_PREFIXES):
            found.append(
                Finding(
                    module.file,
                    int(call["span"]["line"]),
                    f"{name} is impure or non-deterministic: a decision must replay from "
                    "its logged input (pass the value in the input or the policy data)",
                )
            )
    return found


# --------------------------------------------------------------------------- unbound keys


def _unbound_keys(module: Module, package_rules: set[str]) -> list[Finding]:
    known = NOT_A_KEY_VAR | package_rules | set(module.imports)
    found = []
    for rule in module.rules:
        bound = set(rule.args) | _bound_vars(module, rule.node)
        for node in walk(rule.node):
            brack = node.get("RefBrack")
            if not isinstance(brack, dict):
                continue
            index = brack.get("index")
            if not (isinstance(index, dict) and "Var" in index):
                continue
            name = str(index["Var"]["value"])
            if name in known or name in bound:
                continue
            found.append(
                Finding(
                    module.file,
                    int(index["Var"]["span"]["line"]),
                    f"{name} is used as a key but bound nowhere: Rego iterates over every "
                    f"key instead (bind it, or declare `some {name}` if a loop is meant)",
                )
            )
    return found


def _bound_vars(module: Module, rule: dict[str, Any]) -> set[str]:
    """Names a rule binds: assigned or unified, declared by ``some``, every's key and
    value (an over-approximation: a name bound anywhere in the rule counts)."""
    bound: set[str] = set()
    for node in walk(rule):
        if "SomeVars" in node:
            bound |= {module.text({"span": v}) for v in node["SomeVars"]["vars"]}
        elif "SomeIn" in node:
            some = node["SomeIn"]
            bound |= _vars(some.get("key")) | _vars(some.get("value"))
        elif "Every" in node:
            every = node["Every"]
            bound |= {module.text({"span": s}) for s in (every.get("key"), every.get("value")) if s}
        elif "AssignExpr" in node:
            assign = node["AssignExpr"]
            bound |= _vars(assign["lhs"])
            if assign.get("op") == "Eq":
                bound |= _vars(assign["rhs"])
    return bound


def _vars(node: Any) -> set[str]:
    """Bare variables of a pattern (not the bases or indices of references)."""
    if isinstance(node, list):
        return set().union(*(_vars(n) for n in node)) if node else set()
    if not isinstance(node, dict):
        return set()
    if "Var" in node:
        return {str(node["Var"]["value"])}
    if "Array" in node:
        return _vars(node["Array"]["items"])
    if "Object" in node:
        return _vars([v for _, _, v in node["Object"]["fields"]])
    return set()


# --------------------------------------------------------------------------- references


def _alias_rules(policy_set: PolicySet) -> dict[str, list[str]]:
    """Rules that merely name part of the input or the policy data (``facts :=
    input.facts``, ``config := data.mlgate.config``), by full path: what they stand for."""
    aliases: dict[str, list[str]] = {}
    for module in policy_set.rego.values():
        for rule in module.rules:
            head = rule.node.get("Spec", {}).get("head", {}).get("Compr")
            if not head or rule.node["Spec"].get("bodies") or rule.name != _head_name(head):
                continue
            value = (head.get("assign") or {}).get("value")
            path = _segments(value)
            if path and path[0] in ("input", "data"):
                aliases[f"data.{module.package}.{rule.name}"] = path
    return aliases


def _head_name(head: dict[str, Any]) -> str:
    refr = head.get("refr") or {}
    return str(refr.get("Var", {}).get("value", ""))


def _segments(node: Any) -> list[str] | None:
    """``input.facts[x].y`` -> ["input", "facts", "*", "y"]; None if not a reference."""
    if not isinstance(node, dict):
        return None
    if "Var" in node:
        return [str(node["Var"]["value"])]
    if "RefDot" in node:
        base = _segments(node["RefDot"]["refr"])
        return None if base is None else [*base, field_name(node["RefDot"]["field"])]
    if "RefBrack" in node:
        base = _segments(node["RefBrack"]["refr"])
        index = node["RefBrack"]["index"]
        literal = isinstance(index, dict) and "String" in index
        key = str(index["String"]["value"]) if literal else "*"
        return None if base is None else [*base, key]
    return None


def _references(
    module: Module, aliases: dict[str, list[str]], schema: dict[str, Any], policy_set: PolicySet
) -> list[Finding]:
    found: list[Finding] = []
    config = policy_set.data.get("mlgate", {}).get("config", {})
    for rule in module.rules:
        local: dict[str, list[str]] = {}
        for node in walk(rule.node):
            assign = node.get("AssignExpr")
            if isinstance(assign, dict) and "Var" in assign["lhs"]:
                target = _resolve(_segments(assign["rhs"]) or [], module, aliases, {})
                if target:
                    local[str(assign["lhs"]["Var"]["value"])] = target
        for ref, line in _maximal_refs(rule.node):
            path = _resolve(ref, module, aliases, local)
            if not path:
                continue
            if path[0] == "input":
                problem = _schema_problem(path, schema)
            elif path[:3] == ["data", "mlgate", "config"]:
                problem = _data_problem(path, config)
            else:
                continue
            if problem:
                found.append(Finding(module.file, line, problem))
    return found


def _maximal_refs(node: Any) -> list[tuple[list[str], int]]:
    """Every whole reference (not its prefixes, not function names) with its line."""
    out: list[tuple[list[str], int]] = []

    def visit(n: Any) -> None:
        if isinstance(n, list):
            for v in n:
                visit(v)
            return
        if not isinstance(n, dict):
            return
        if "Call" in n:
            visit(n["Call"].get("params"))
            return
        if "RefDot" in n or "RefBrack" in n:
            segments = _segments(n)
            if segments:
                body = n.get("RefDot") or n.get("RefBrack") or {}
                out.append((segments, int(body.get("span", {}).get("line", 0))))
            inner: Any = n
            while isinstance(inner, dict) and ("RefDot" in inner or "RefBrack" in inner):
                if "RefBrack" in inner:
                    visit(inner["RefBrack"]["index"])
                    inner = inner["RefBrack"]["refr"]
                else:
                    inner = inner["RefDot"]["refr"]
            return
        for v in n.values():
            visit(v)

    visit(node)
    return out


def _resolve(
    ref: list[str], module: Module, aliases: dict[str, list[str]], local: dict[str, list[str]]
) -> list[str]:
    """A reference as a full ``input...`` or ``data...`` path, aliases followed."""
    if not ref:
        return []
    head, rest = ref[0], ref[1:]
    if head in local:
        return [*local[head], *rest]
    if head in ("input", "data"):
        full = ref
    elif head in module.imports:
        full = [*module.imports[head].split("."), *rest]
    elif f"data.{module.package}.{head}" in aliases:
        full = [*f"data.{module.package}.{head}".split("."), *rest]
    else:
        return []
    for cut in range(len(full), 1, -1):
        alias = aliases.get(".".join(full[:cut]))
        if alias:
            return [*alias, *full[cut:]]
    return full


def _schema_problem(path: list[str], schema: dict[str, Any]) -> str | None:
    defs = schema.get("$defs", {})
    nodes = [schema]
    for depth, key in enumerate(path[1:], start=1):
        nodes = [n for node in nodes for n in _alternatives(node, defs)]
        following: list[dict[str, Any]] = []
        names: list[str] = []
        for node in nodes:
            props = node.get("properties")
            extra = node.get("additionalProperties", props is None)
            if key == "*" or key.isdigit():
                if isinstance(node.get("items"), dict):
                    following.append(node["items"])
                elif extra is not False:
                    return None
                continue
            if isinstance(props, dict) and key in props:
                following.append(props[key])
            elif extra is not False and node.get("type") in (None, "object"):
                return None  # a free-form object: anything may be in it
            elif isinstance(props, dict):
                names += list(props)
        if not following:
            if not names:
                return None  # not an object here (a string, a number): not checked
            where = ".".join(path[:depth])
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"; did you mean {where}.{near[0]}?" if near else ""
            return f"{'.'.join(path[: depth + 1])}: the gate input has no field {key}{hint}"
        nodes = following
    return None


def _alternatives(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    if "$ref" in node:
        return _alternatives(defs.get(node["$ref"].rsplit("/", 1)[-1], {}), defs)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in node:
            return [a for alt in node[key] for a in _alternatives(alt, defs)]
    return [node]


def _data_problem(path: list[str], config: Any) -> str | None:
    value = config
    for depth, key in enumerate(path[3:], start=3):
        if not isinstance(value, dict) or key == "*":
            return None
        if key not in value:
            where = ".".join(path[:depth])
            near = difflib.get_close_matches(key, [str(k) for k in value], n=1)
            hint = f"; did you mean {where}.{near[0]}?" if near else ""
            return f"{'.'.join(path[: depth + 1])}: the policy data has no key {key}{hint}"
        value = value[key]
    return None


# --------------------------------------------------------------------------- METADATA


def _metadata(module: Module, policy_set: PolicySet) -> list[Finding]:
    found: list[Finding] = []
    for block in module.metadata:
        if block.target is None:
            found.append(
                Finding(
                    module.file,
                    block.line,
                    "METADATA block annotates nothing: the rule or package must start on "
                    "the line right after it (no blank line)",
                )
            )
            continue
        try:
            meta = parse_metadata_yaml(block.text, module.file, block.line + 1)
        except PolicyError as exc:
            file, line, what = str(exc).split(":", 2)
            found.append(Finding(file, int(line), what.strip()))
            continue
        rule = block.rule
        if rule is None or rule.code is None or rule.params is None:
            continue
        custom = meta.get("custom") or {}
        message = str(custom.get("failure_msg", ""))
        wanted = _placeholders(message)
        for name in sorted(wanted - set(rule.params)):
            found.append(
                Finding(
                    module.file,
                    rule.code_line,
                    f"failure_msg of {rule.code} uses {{{name}}} but its params have no "
                    f"{name} (it would be shown literally)",
                )
            )
        used = wanted | _placeholders(str(custom.get("solution", "")))
        for name in sorted(set(rule.params) - used):
            found.append(
                Finding(
                    module.file,
                    rule.code_line,
                    f"params {name} of {rule.code} is used by no failure_msg or solution",
                    "warning",
                )
            )
    return found


def _placeholders(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}
    except ValueError:
        return set()
