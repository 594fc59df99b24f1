"""A small validator for the JSON Schema subset the policy-data schemas use.

:data:`KEYWORDS` is the whole subset; :func:`check_schema` refuses a schema using
anything else, naming the file and keyword path. :func:`first_error` says, in one line,
where a document breaks a checked schema, what was expected and what was found. JSON
semantics throughout: ``true`` is no integer, ``3.0`` is one, ``1 == 1.0``. Standard
library only (the CLI's fast path loads policies); tests hold its verdicts to
``jsonschema``'s.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import PolicyError

TYPES = ("null", "boolean", "integer", "number", "string", "array", "object")
# The JSON Schema subset the policy-data schemas may use; anything else is refused.
KEYWORDS = frozenset(
    ("type", "enum", "const", "properties", "required", "additionalProperties", "items")
    + ("minItems", "maxItems", "uniqueItems", "minimum", "maximum", "minLength", "pattern")
    + ("default", "title", "description", "$comment")
)
_ROOT_KEYWORDS = frozenset({"$schema"})  # an annotation, allowed at a file's root only
_STRINGS = ("title", "description", "$comment", "pattern")
_COUNTS = ("minItems", "maxItems", "minLength")


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
