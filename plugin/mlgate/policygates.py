"""Which gates a policy set has: the ``required_gates`` literal of ``mlgate.main`` (ids
and order, the one place a gate is wired) and the ``mlgate.gates.<id>`` packages.

A gate package missing from ``required_gates``, an id there without its package, a
duplicate id or an id that is not ``[a-z][a-z0-9_]*`` is a wiring error: ``mlgate policy
check`` reports each with file:line (exit 2), and no decision is made on such a set
(``PolicySet.require_wired``, called where an engine is made).

Only the main module is parsed (by regorus, for its AST); gate packages are found by
their ``package`` line, so reading the list costs one small parse per policy set.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError, one_line

MAIN_PACKAGE = "mlgate.main"
GATES_PACKAGE = "mlgate.gates"
LIST_RULE = "required_gates"
GATE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PACKAGE_LINE = re.compile(r"^package[ \t]+([\w.]+)[ \t]*(?:#.*)?$", re.MULTILINE)


@dataclass(frozen=True)
class DeclaredGates:
    """The ``required_gates`` array literal: where it is, its ids and each id's line."""

    file: str
    line: int
    ids: tuple[str, ...]
    lines: tuple[int, ...]


def package_of(source: str) -> tuple[str, int] | None:
    """The package a module declares, and the line it is on."""
    match = _PACKAGE_LINE.search(source)
    if match is None:
        return None
    return match.group(1), source.count("\n", 0, match.start()) + 1


def gate_packages(modules: dict[str, str]) -> dict[str, tuple[str, int]]:
    """Each ``mlgate.gates.<id>`` package: id -> (first file declaring it, its line)."""
    found: dict[str, tuple[str, int]] = {}
    for path, source in sorted(modules.items()):
        package = package_of(source)
        if package is None:
            continue
        name, line = package
        parts = name.split(".")
        if len(parts) == 3 and ".".join(parts[:2]) == GATES_PACKAGE:
            found.setdefault(parts[2], (path, line))
    return found


def _parse(path: str, source: str) -> dict[str, Any]:
    os.environ.setdefault("RUST_LIB_BACKTRACE", "0")  # as engine.regoast does
    regorus: Any = importlib.import_module("regorus")  # below engine/: not through it
    engine = regorus.Engine()
    try:
        engine.add_policy(path, source)
        module: dict[str, Any] = json.loads(engine.get_ast_as_json())[0]["ast"]
    except BaseException as exc:  # noqa: BLE001 - regorus parse errors are Rust panics too
        raise PolicyError(f"{path}: does not parse: {one_line(str(exc))}") from exc
    return module


def _head_name(refr: Any) -> str | None:
    """The rule name a head's reference starts with (``x``, ``x[k]``, ``x.y``)."""
    if not isinstance(refr, dict):
        return None
    if "Var" in refr:
        return str(refr["Var"]["value"])
    for form in ("RefDot", "RefBrack"):
        if form in refr:
            return _head_name(refr[form].get("refr"))
    return None


def _rule(rule: Any) -> tuple[str, Any, int] | None:
    """(name, value node of ``name := value`` else None, line) of a rule."""
    spec = rule.get("Spec") if isinstance(rule, dict) else None
    if not isinstance(spec, dict):
        return None
    head = spec.get("head") or {}
    for form_name, form in head.items():
        if not isinstance(form, dict):
            continue
        name = _head_name(form.get("refr"))
        if name is None:
            continue
        plain = form_name == "Compr" and "Var" in (form.get("refr") or {})
        value = (
            (form.get("assign") or {}).get("value") if plain and not spec.get("bodies") else None
        )
        return name, value, int(form["span"]["line"])
    return None


def _string_items(value: Any) -> list[tuple[str, int]] | None:
    if not isinstance(value, dict) or "Array" not in value:
        return None
    items: list[tuple[str, int]] = []
    for item in value["Array"].get("items") or []:
        literal = item.get("String") or item.get("RawString") if isinstance(item, dict) else None
        if not isinstance(literal, dict) or not isinstance(literal.get("value"), str):
            return None
        items.append((literal["value"], int(literal["span"]["line"])))
    return items


def declared_gates(modules: dict[str, str], root: str) -> DeclaredGates:
    """The ``required_gates`` of package ``mlgate.main``: exactly one rule, whose value is
    an array literal of strings, else :class:`PolicyError` with file:line."""
    mains = [p for p, s in sorted(modules.items()) if (package_of(s) or ("",))[0] == MAIN_PACKAGE]
    if not mains:
        raise PolicyError(
            f"{root}: no module declares package {MAIN_PACKAGE}, so no {LIST_RULE} "
            "says which gates decide"
        )
    found: list[tuple[str, Any, int]] = []
    for path in mains:
        for rule in _parse(path, modules[path]).get("rules") or []:
            named = _rule(rule)
            if named is not None and named[0] == LIST_RULE:
                found.append((path, named[1], named[2]))
    if not found:
        raise PolicyError(
            f"{root}: {mains[0]}: package {MAIN_PACKAGE} has no {LIST_RULE} "
            '(an array literal of gate ids, e.g. required_gates := ["scope", "filing"])'
        )
    if len(found) > 1:
        where = ", ".join(f"{p}:{n}" for p, _, n in found)
        raise PolicyError(f"{root}: {LIST_RULE} is defined more than once ({where})")
    path, value, line = found[0]
    items = _string_items(value)
    if items is None:
        raise PolicyError(
            f"{root}: {path}:{line}: {LIST_RULE} must be an array literal of gate id "
            'strings (required_gates := ["scope", ...]); Python reads the gate list from it'
        )
    return DeclaredGates(
        file=path,
        line=line,
        ids=tuple(v for v, _ in items),
        lines=tuple(n for _, n in items),
    )


def wiring_errors(modules: dict[str, str], root: str) -> list[str]:
    """Every wiring error of a policy set, each ``file:line: message``."""
    declared = declared_gates(modules, root)
    packages = gate_packages(modules)
    at = f"{declared.file}:{declared.line}"
    errors: list[str] = []
    seen: dict[str, int] = {}
    for gate_id, line in zip(declared.ids, declared.lines, strict=True):
        where = f"{declared.file}:{line}"
        if not GATE_ID.match(gate_id):
            errors.append(
                f"{where}: {LIST_RULE} lists {gate_id!r}, which is not a gate id "
                "([a-z][a-z0-9_]*, the last part of its package mlgate.gates.<id>)"
            )
        elif gate_id in seen:
            errors.append(f"{where}: {LIST_RULE} lists gate '{gate_id}' twice")
        elif gate_id not in packages:
            errors.append(
                f"{where}: gate '{gate_id}' is wired in {LIST_RULE} but no module declares "
                f"package {GATES_PACKAGE}.{gate_id}"
            )
        seen.setdefault(gate_id, line)
    for gate_id, (path, line) in sorted(packages.items(), key=lambda kv: kv[1]):
        if gate_id not in seen:
            errors.append(
                f"{path}:{line}: gate '{gate_id}' is not wired: add it to {LIST_RULE} in {at}"
            )
    return errors
