"""Policy data: ``data.json``'s ``mlgate.config``, validated by schemas in the policy set.

Each gate describes its own section beside its Rego, in ``gates/<gate>/data.schema.json``;
``main/data.schema.json`` describes the sections that are no gate's (protected targets,
the default target, waivers, prompts). At load time they are assembled into one schema
(``schemas/policy_data.schema.json`` is generated from the bundled set's), ``data.json`` is
validated against it, and keys it leaves out take the schemas' ``default`` values: the
defaults live in the policy directory, never in Python.

The schemas use a small subset of JSON Schema (:data:`KEYWORDS`), checked here by a
validator of our own: no new dependency, nothing slow on the CLI's fast path, and one
line per refusal naming the file, the dotted path, what was expected and what was found.
A test holds it to ``jsonschema``'s verdicts on random documents.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PolicyError

SCHEMA_FILE = "data.schema.json"
MAIN_SCHEMA = f"main/{SCHEMA_FILE}"
_GATE_SCHEMA = re.compile(r"^gates/([A-Za-z0-9_]+)/" + re.escape(SCHEMA_FILE) + "$")

TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
# The JSON Schema subset the policy-data schemas may use; anything else is refused.
KEYWORDS = frozenset(
    {
        "type",
        "enum",
        "const",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minimum",
        "maximum",
        "minLength",
        "pattern",
        "default",
        "title",
        "description",
        "$comment",
    }
)
_ROOT_KEYWORDS = frozenset({"$schema"})  # an annotation, allowed at a file's root only
_STRINGS = ("title", "description", "$comment", "pattern")
_COUNTS = ("minItems", "maxItems", "minLength")


def is_schema_file(path: str) -> bool:
    """``main/data.schema.json`` or ``gates/<gate>/data.schema.json`` (relative paths)."""
    return path == MAIN_SCHEMA or _GATE_SCHEMA.match(path) is not None


# --------------------------------------------------------------------------- values


def is_type(value: Any, name: str) -> bool:
    """JSON Schema's types: ``true`` is no integer, ``3.0`` is one."""
    if name == "null":
        return value is None
    if name == "boolean":
        return isinstance(value, bool)
    if name == "string":
        return isinstance(value, str)
    if name == "array":
        return isinstance(value, list)
    if name == "object":
        return isinstance(value, dict)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if name == "number":
        return True
    return isinstance(value, int) or (math.isfinite(value) and value.is_integer())


def equal(a: Any, b: Any) -> bool:
    """JSON equality: ``1 == 1.0``, but ``true`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, list | dict) or isinstance(b, list | dict):
        return False
    return bool(a == b)


def show(value: Any) -> str:
    """A value as JSON, cut short: what an error line says it found."""
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f"{path}[{show(key)}]"


# --------------------------------------------------------------------------- validation


def describe(schema: Mapping[str, Any]) -> str:
    """What ``schema`` accepts, in words: ``an integer >= 1``, ``one of "a", "b"``."""
    if "const" in schema:
        return show(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(show(v) for v in schema["enum"])
    types = schema.get("type", [])
    names = [types] if isinstance(types, str) else list(types)
    words = " or ".join(_describe_type(schema, t) for t in names) or "any value"
    return words


def _describe_type(schema: Mapping[str, Any], name: str) -> str:
    if name in ("integer", "number"):
        low, high = schema.get("minimum"), schema.get("maximum")
        word = "an integer" if name == "integer" else "a number"
        if low is not None and high is not None:
            return f"{word} from {show(low)} to {show(high)}"
        if low is not None:
            return f"{word} >= {show(low)}"
        return f"{word} <= {show(high)}" if high is not None else word
    if name == "string":
        least = schema.get("minLength", 0)
        word = "a non-empty string" if least == 1 else "a string"
        if least > 1:
            word += f" of at least {least} characters"
        return word + (f" matching {schema['pattern']}" if "pattern" in schema else "")
    if name == "array":
        parts = []
        if "items" in schema:
            parts.append(f"each item {describe(schema['items'])}")
        if "minItems" in schema:
            parts.append(f"at least {schema['minItems']} items")
        if "maxItems" in schema:
            parts.append(f"at most {schema['maxItems']} items")
        if schema.get("uniqueItems"):
            parts.append("no item twice")
        return "a list" + (f" ({', '.join(parts)})" if parts else "")
    return {"boolean": "true or false", "null": "null", "object": "an object"}[name]


def first_error(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    """``path: what was expected, got what`` for the first place ``value`` breaks
    ``schema`` (a checked schema of the subset), else None."""
    wrong = f"{path}: expected {describe(schema)}, got {show(value)}"
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(is_type(value, t) for t in names):
            return wrong
    if "const" in schema and not equal(value, schema["const"]):
        return wrong
    if "enum" in schema and not any(equal(value, v) for v in schema["enum"]):
        return wrong
    if is_type(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            return wrong
        if "maximum" in schema and value > schema["maximum"]:
            return wrong
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            return wrong
        if "pattern" in schema and re.search(schema["pattern"], value) is None:
            return wrong
    if isinstance(value, list):
        return _array_error(value, schema, path, wrong)
    if isinstance(value, dict):
        return _object_error(value, schema, path)
    return None


def _array_error(value: list[Any], schema: Mapping[str, Any], path: str, wrong: str) -> str | None:
    if len(value) < schema.get("minItems", 0) or len(value) > schema.get("maxItems", len(value)):
        return f"{wrong} ({len(value)} items)"
    if schema.get("uniqueItems"):
        for i, item in enumerate(value):
            if any(equal(item, other) for other in value[:i]):
                return f"{wrong} ({show(item)} twice)"
    if "items" in schema:
        for i, item in enumerate(value):
            found = first_error(item, schema["items"], child(path, i))
            if found:
                return found
    return None


def _object_error(value: dict[str, Any], schema: Mapping[str, Any], path: str) -> str | None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    for key in schema.get("required", []):
        if key not in value:
            return f"{child(path, key)}: missing; expected {describe(properties.get(key, {}))}"
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        if key in properties:
            found = first_error(item, properties[key], child(path, key))
        elif extra is False:
            known = ", ".join(sorted(properties)) or "none"
            found = f"{child(path, key)}: unknown key (the keys here are: {known})"
        elif isinstance(extra, dict):
            found = first_error(item, extra, child(path, key))
        else:
            found = None
        if found:
            return found
    return None


# --------------------------------------------------------------------------- the schemas


def check_schema(schema: Any, where: str, path: str = "", root: bool = True) -> None:
    """Refuse a schema outside the subset: one line naming the file and keyword path."""
    here = path or "(root)"
    if not isinstance(schema, dict):
        raise PolicyError(f"{where}: {here}: a schema must be an object, got {show(schema)}")
    for keyword, value in schema.items():
        at = f"{path}.{keyword}" if path else keyword
        if keyword not in KEYWORDS and not (root and keyword in _ROOT_KEYWORDS):
            raise PolicyError(
                f"{where}: {at}: keyword {keyword!r} is not supported in policy-data schemas "
                f"(supported: {', '.join(sorted(KEYWORDS))})"
            )
        problem = _keyword_problem(keyword, value)
        if problem:
            raise PolicyError(f"{where}: {at}: {problem}, got {show(value)}")
    for name, sub in schema.get("properties", {}).items():
        check_schema(
            sub, where, f"{path}.properties.{name}" if path else f"properties.{name}", root=False
        )
    for keyword in ("items", "additionalProperties"):
        if isinstance(schema.get(keyword), dict):
            check_schema(
                schema[keyword], where, f"{path}.{keyword}" if path else keyword, root=False
            )
    if "default" in schema:
        found = first_error(schema["default"], schema, "default")
        if found:
            raise PolicyError(f"{where}: {path + '.' if path else ''}{found}")


def _keyword_problem(keyword: str, value: Any) -> str | None:
    """What is wrong with one keyword's value, or None."""
    if keyword == "type":
        names = [value] if isinstance(value, str) else value
        ok = isinstance(names, list) and names and all(n in TYPES for n in names)
        return None if ok else f"expected one of {', '.join(TYPES)} (or a list of them)"
    if keyword in _STRINGS or keyword == "$schema":
        if not isinstance(value, str):
            return "expected a string"
        if keyword == "pattern":
            try:
                re.compile(value)
            except re.error as exc:
                return f"not a valid regular expression ({exc})"
        return None
    if keyword == "enum":
        return None if isinstance(value, list) and value else "expected a non-empty list"
    if keyword in ("properties",):
        return None if isinstance(value, dict) else "expected an object of schemas"
    if keyword == "required":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return None if ok else "expected a list of property names"
    if keyword in ("additionalProperties", "uniqueItems"):
        if keyword == "additionalProperties" and isinstance(value, dict):
            return None
        return None if isinstance(value, bool) else "expected true or false"
    if keyword == "items":
        return None if isinstance(value, dict) else "expected a schema object"
    if keyword in _COUNTS:
        ok = is_type(value, "integer") and value >= 0
        return None if ok else "expected an integer >= 0"
    if keyword in ("minimum", "maximum"):
        ok = is_type(value, "number") and math.isfinite(value)
        return None if ok else "expected a number"
    return None  # const, default: any JSON value


def parse_schema_file(text: str, where: str) -> dict[str, Any]:
    from .jsondoc import loads

    try:
        schema = loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{where}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    check_schema(schema, where)
    if schema.get("type") != "object":
        raise PolicyError(
            f'{where}: type: a section of mlgate.config is an object: "type": '
            f'"object", got {show(schema.get("type"))}'
        )
    return dict(schema)


def assemble(files: Mapping[str, str], root: str) -> dict[str, Any]:
    """The schema of ``mlgate.config``: main's sections and one per gate that has a
    schema file, nothing else allowed. Each section without a ``default`` defaults to
    ``{}`` (then filled from its own properties' defaults)."""
    if MAIN_SCHEMA not in files:
        raise PolicyError(
            f"{root}/{MAIN_SCHEMA}: not found; it describes the sections of mlgate.config "
            "that are no gate's (protected_aliases, default_target, waivers, ...)"
        )
    main = parse_schema_file(files[MAIN_SCHEMA], f"{root}/{MAIN_SCHEMA}")
    properties: dict[str, Any] = dict(main.get("properties", {}))
    for path in sorted(files):
        match = _GATE_SCHEMA.match(path)
        if not match:
            continue
        gate = match.group(1)
        section = parse_schema_file(files[path], f"{root}/{path}")
        if gate in properties:
            raise PolicyError(
                f"{root}/{MAIN_SCHEMA}: properties.{gate}: the gate {gate} declares this "
                f"section in {root}/{path}; declare it in one place"
            )
        section.pop("$schema", None)
        properties[gate] = {**section, "default": section.get("default", {})}
    assembled: dict[str, Any] = {
        "title": main.get("title", "mlgate policy data"),
        "description": main.get(
            "description", "data.mlgate.config, assembled from the policy set's schemas"
        ),
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if main.get("required"):
        assembled["required"] = list(main["required"])
    return assembled


def validate_config(
    raw: dict[str, Any],
    schema: Mapping[str, Any],
    where: str,
    root: str,
    packages: Mapping[str, str],
) -> tuple[dict[str, Any], list[str]]:
    """``mlgate.config`` as written, checked against the assembled ``schema``: the filled
    copy the engines get and the dotted paths left to defaults. ``packages`` maps each
    Rego package to its file, to say when a gate exists but declares no schema."""
    properties: Mapping[str, Any] = schema["properties"]
    for key in raw:
        if key not in properties:
            raise PolicyError(f"{where}: {_unknown_section(key, root, properties, packages)}")
    found = first_error(raw, schema, "mlgate.config")
    if found:
        raise PolicyError(f"{where}: {found}")
    filled, defaults = fill_defaults(raw, schema, "mlgate.config")
    return filled, defaults


def _unknown_section(
    key: str, root: str, properties: Mapping[str, Any], packages: Mapping[str, str]
) -> str:
    from difflib import get_close_matches

    at = child("mlgate.config", key)
    schema = f"{root}/gates/{key}/{SCHEMA_FILE}"
    module = packages.get(f"mlgate.gates.{key}")
    if module:
        return (
            f"{at}: no gate declares this section: package mlgate.gates.{key} exists "
            f"({root}/{module}) but has no schema; add {schema}"
        )
    close = get_close_matches(key, list(properties), n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return (
        f"{at}: no gate declares this section (a gate {key!r} would declare it in {schema}){hint}"
    )


# --------------------------------------------------------------------------- defaults


def fill_defaults(value: Any, schema: Mapping[str, Any], path: str) -> tuple[Any, list[str]]:
    """A copy of valid ``value`` with each absent property that has a ``default`` filled
    in (and integers written 3.0 made 3), and the dotted paths it filled, outermost only."""
    filled: list[str] = []
    result = _fill(copy.deepcopy(value), schema, path, filled)
    return result, filled


def _fill(value: Any, schema: Mapping[str, Any], path: str, filled: list[str] | None) -> Any:
    if isinstance(value, float) and schema.get("type") == "integer" and value.is_integer():
        return int(value)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            _fill(item, schema["items"], child(path, i), filled) for i, item in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value
    properties: Mapping[str, Any] = schema.get("properties", {})
    for key, sub in properties.items():
        if key in value:
            value[key] = _fill(value[key], sub, child(path, key), filled)
        elif "default" in sub:
            if filled is not None:
                filled.append(child(path, key))
            value[key] = _fill(copy.deepcopy(sub["default"]), sub, child(path, key), None)
    return value


def lookup(value: Any, dotted: str) -> Any:
    """The value at a dotted path below ``mlgate.config`` (``mlgate.config.a.b``)."""
    for key in dotted.split(".")[2:]:
        value = value[key]
    return value


# --------------------------------------------------------------------------- Python's view


@dataclass(frozen=True)
class WaiverSettings:
    max_validity_days: int
    warn_within_days: int


@dataclass(frozen=True)
class PromptSettings:
    gated: bool


@dataclass(frozen=True)
class PolicySettings:
    """The settings mlgate's Python reads, from validated and filled policy data; no
    defaults here. Gate settings stay with Rego (:meth:`gate_setting` for the few a
    report quotes)."""

    protected_aliases: tuple[str, ...]
    protected_stages: tuple[str, ...]
    default_target: str
    waivers: WaiverSettings
    prompts: PromptSettings
    values: Mapping[str, Any]  # the whole of mlgate.config as the engines get it

    def gate_setting(self, gate: str, key: str) -> Any:
        """A gate's setting (``assessment``, ``max_age_days``), None when it has none."""
        section = self.values.get(gate)
        return section.get(key) if isinstance(section, dict) else None


def settings_from(config: Mapping[str, Any], where: str) -> PolicySettings:
    """Python's view of a validated, filled ``mlgate.config``; a policy set whose schemas
    leave out (or retype) a setting Python reads is refused, naming it."""

    def read(dotted: str, kind: str) -> Any:
        value: Any = config
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        ok = (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
            if kind == "array"
            else is_type(value, kind)
        )
        if not ok:
            raise PolicyError(
                f"{where}: mlgate.config.{dotted}: mlgate reads this setting and expected "
                f"{'a list of strings' if kind == 'array' else describe({'type': kind})}, "
                f"got {show(value) if value is not None else 'nothing'} (give it a value, "
                f"or a default in {MAIN_SCHEMA})"
            )
        return value

    return PolicySettings(
        protected_aliases=tuple(read("protected_aliases", "array")),
        protected_stages=tuple(read("protected_stages", "array")),
        default_target=read("default_target", "string"),
        waivers=WaiverSettings(
            max_validity_days=int(read("waivers.max_validity_days", "integer")),
            warn_within_days=int(read("waivers.warn_within_days", "integer")),
        ),
        prompts=PromptSettings(gated=read("prompts.gated", "boolean")),
        values=config,
    )
