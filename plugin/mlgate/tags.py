"""Tag declarations: which ``compliance.*`` tags the policy set reads, and how each one
reaches Rego.

Each gate declares the tags it owns in ``policies/gates/<gate>/tags.json``; tags several
gates read go in ``policies/lib/tags.json``. A declaration names the tag's type (enum,
list, boolean, date, reference, digest), an ``expected`` wording for the error a bad value
gets, and a description. The fact's place in the gate input is the key without
``compliance.``, split on dots (``compliance.filing.status`` -> ``facts.filing.status``);
a ``date`` also gives ``<name>_ns`` (00:00 UTC). The one tag-derived value outside
``facts`` is named by ``input_path`` (``compliance.data_manifest.sha256`` ->
``manifest.digest_tagged``).

:mod:`mlgate.facts` parses tags with these declarations; :func:`facts_model` and
:func:`gate_input_schema` give the facts' pydantic model and the gate input JSON Schema.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

from .errors import PolicyError
from .jsondoc import loads

if TYPE_CHECKING:
    from pydantic import BaseModel

TAGS_FILE = "tags.json"
TAG_PREFIX = "compliance."
TYPES = ("enum", "list", "boolean", "date", "reference", "digest")
INPUT_PATHS = ("manifest.digest_tagged",)  # tag-derived fields outside facts
RESERVED = ("errors",)  # facts.errors holds the invalid tags

_KEY = re.compile(r"^compliance\.[a-z0-9_]+(\.[a-z0-9_]+)*$")
_NAME = re.compile(r"^[a-z0-9_]+$")
_FIELDS = {"type", "expected", "description", "values", "item_pattern", "case", "input_path"}
_BY_TYPE = {
    "enum": {"values"},
    "list": {"values", "item_pattern", "case"},
    "boolean": set(),
    "date": set(),
    "reference": set(),
    "digest": {"input_path"},
}
_DEFAULT_EXPECTED = {
    "boolean": "one of true, false",
    "date": "an ISO 8601 date (YYYY-MM-DD)",
    "reference": "non-empty text: a URI or document id",
    "digest": "a 64-character hex sha256 digest",
}


@dataclass(frozen=True)
class TagDeclaration:
    """One declared ``compliance.*`` tag."""

    key: str
    type: str
    expected: str
    description: str
    file: str
    values: tuple[str, ...] | None = None
    item_pattern: str | None = None
    case: str = "lower"
    input_path: str | None = None

    @property
    def path(self) -> tuple[str, ...]:
        """Where the fact goes in ``input.facts`` (or ``input_path`` in the input)."""
        if self.input_path is not None:
            return tuple(self.input_path.split("."))
        return tuple(self.key[len(TAG_PREFIX) :].split("."))

    @property
    def fact_paths(self) -> list[tuple[str, ...]]:
        """Every path this tag writes under ``facts`` (a date writes two)."""
        if self.input_path is not None:
            return []
        if self.type == "date":
            return [self.path, (*self.path[:-1], self.path[-1] + "_ns")]
        return [self.path]


@dataclass(frozen=True)
class TagDeclarations:
    """The policy set's declared tags, in a fixed order (lib first, then by file path)."""

    tags: tuple[TagDeclaration, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def keys(self) -> frozenset[str]:
        return frozenset(d.key for d in self.tags)

    @cached_property
    def folded(self) -> dict[str, str]:
        """Folded key -> declared key: how look-alike keys are found (contract §7)."""
        from .names import fold

        return {fold(d.key): d.key for d in self.tags}

    def by_key(self, key: str) -> TagDeclaration | None:
        return next((d for d in self.tags if d.key == key), None)

    def input_path_tag(self, input_path: str) -> str | None:
        return next((d.key for d in self.tags if d.input_path == input_path), None)


class _HasDeclarations(Protocol):
    @property
    def tag_declarations(self) -> TagDeclarations: ...


# --------------------------------------------------------------------------- loading


def _bad(where: str, key: str | None, what: str) -> PolicyError:
    return PolicyError(f"{where}: {key + ': ' if key else ''}{what}")


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def parse_declaration(key: str, raw: Any, where: str) -> TagDeclaration:
    """One declaration of file ``where``; :class:`PolicyError` naming file and key."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise _bad(where, repr(key), "a tag key is 'compliance.' then lower-case words "
                   "of a-z, 0-9 and _ separated by dots")
    if not isinstance(raw, dict):
        raise _bad(where, key, "a declaration is an object with type, expected, description")
    kind = raw.get("type")
    if kind not in TYPES:
        raise _bad(where, key, f"type {kind!r} is unknown; expected one of {', '.join(TYPES)}")
    unknown = sorted(set(raw) - _FIELDS) + sorted((set(raw) & _FIELDS) - _BY_TYPE[kind]
                                                  - {"type", "expected", "description"})
    if unknown:
        raise _bad(where, key, f"field {unknown[0]!r} is not allowed for type {kind}")
    description = raw.get("description")
    if not isinstance(description, str) or not description.strip():
        raise _bad(where, key, "description must be non-empty text")
    values = raw.get("values")
    pattern = raw.get("item_pattern")
    case = raw.get("case", "lower")
    if kind == "enum" and not _strings(values):
        raise _bad(where, key, "an enum needs values: a non-empty list of strings")
    if kind == "list":
        if (values is None) == (pattern is None):
            raise _bad(where, key, "a list needs either values or item_pattern")
        if case not in ("lower", "upper"):
            raise _bad(where, key, f"case {case!r} is unknown; expected lower or upper")
        if pattern is not None:
            try:
                re.compile(pattern if isinstance(pattern, str) else "(")
            except re.error as exc:
                raise _bad(where, key, f"item_pattern is not a regular expression: {exc}") from exc
        elif not _strings(values):
            raise _bad(where, key, "values must be a non-empty list of strings")
    if values is not None:
        fold = str.upper if case == "upper" else str.lower
        if any(v != fold(v) or not v.strip() or "," in v for v in values):
            raise _bad(where, key, f"values must be {case} case, non-blank, without commas")
        if len(set(values)) != len(values):
            raise _bad(where, key, "values must not repeat")
    input_path = raw.get("input_path")
    if input_path is not None and input_path not in INPUT_PATHS:
        raise _bad(where, key, f"input_path {input_path!r} is unknown; expected one of "
                   + ", ".join(INPUT_PATHS))
    expected = raw.get("expected", _default_expected(kind, values, pattern))
    if not isinstance(expected, str) or not expected.strip():
        raise _bad(where, key, "expected must be non-empty text")
    return TagDeclaration(
        key=key,
        type=kind,
        expected=expected,
        description=description.strip(),
        file=where,
        values=tuple(values) if values is not None else None,
        item_pattern=pattern,
        case=case,
        input_path=input_path,
    )


def _default_expected(kind: str, values: Any, pattern: Any) -> str | None:
    if kind == "enum" and _strings(values):
        return "one of " + ", ".join(values)
    if kind == "list":
        if _strings(values):
            return "comma-separated list of " + ", ".join(values)
        return f"comma-separated items matching {pattern}"
    return _DEFAULT_EXPECTED.get(kind)


def _file_order(path: str) -> tuple[int, str]:
    return (0 if path.startswith("lib/") else 1, path)


def load_declarations(files: dict[str, str], root: str) -> TagDeclarations:
    """Every ``tags.json`` among ``files`` (paths relative to ``root``), validated: a bad
    file, a tag declared twice or two tags writing one fact is a :class:`PolicyError`."""
    found: list[TagDeclaration] = []
    for path in sorted((p for p in files if p.rsplit("/", 1)[-1] == TAGS_FILE), key=_file_order):
        where = f"{root}/{path}"
        try:
            document = loads(files[path])
        except json.JSONDecodeError as exc:
            raise PolicyError(f"{where}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
        if not isinstance(document, dict) or set(document) != {"tags"}:
            raise _bad(where, None, 'expected an object {"tags": {"compliance.<name>": {...}}}')
        if not isinstance(document["tags"], dict):
            raise _bad(where, None, "tags must be an object keyed by tag")
        for key, raw in document["tags"].items():
            found.append(parse_declaration(key, raw, where))
    _check_unique(found)
    return TagDeclarations(tuple(found))


def _check_unique(found: list[TagDeclaration]) -> None:
    from .names import fold

    keys: dict[str, TagDeclaration] = {}
    paths: dict[tuple[str, ...], TagDeclaration] = {}
    outside: dict[str, TagDeclaration] = {}
    for decl in found:
        other = keys.get(fold(decl.key))
        if other is not None:
            raise PolicyError(
                f"{decl.file}: {decl.key}: already declared in {other.file}"
                + ("" if other.key == decl.key else f" as {other.key}")
            )
        keys[fold(decl.key)] = decl
        if decl.input_path is not None:
            taken = outside.setdefault(decl.input_path, decl)
            if taken is not decl:
                raise PolicyError(f"{decl.file}: {decl.key}: input_path {decl.input_path} is "
                                  f"also written by {taken.key} ({taken.file})")
        for path in decl.fact_paths:
            if path[0] in RESERVED:
                raise PolicyError(f"{decl.file}: {decl.key}: facts.{path[0]} is reserved")
            for have, owner in paths.items():
                short = min(len(have), len(path))
                if have[:short] == path[:short]:
                    raise PolicyError(
                        f"{decl.file}: {decl.key}: its fact facts.{'.'.join(path)} collides "
                        f"with facts.{'.'.join(have)} of {owner.key} ({owner.file})"
                    )
            paths[path] = decl


# --------------------------------------------------------------------------- schema


def _literal(values: tuple[str, ...]) -> Any:
    return cast(Any, Literal)[values]


def _fact_annotation(decl: TagDeclaration) -> Any:
    if decl.type == "enum":
        return _literal(decl.values or ()) | None
    if decl.type == "list":
        if decl.values is not None:
            return list[_literal(decl.values)] | None  # type: ignore[misc]
        return list[str] | None
    if decl.type == "boolean":
        return bool | None
    return str | None


def facts_model(declarations: TagDeclarations) -> type[BaseModel]:
    """The pydantic model of ``input.facts`` for these declarations (cached)."""
    cached = declarations._cache.get("model")
    if cached is None:
        cached = declarations._cache["model"] = _build_model(declarations)
    return cast("type[BaseModel]", cached)


def _build_model(declarations: TagDeclarations) -> type[BaseModel]:
    from pydantic import ConfigDict, Field, create_model

    from .models import FactError

    tree: dict[str, Any] = {}
    for decl in declarations.tags:
        for path in decl.fact_paths:
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            if path[-1].endswith("_ns") and decl.type == "date" and path != decl.path:
                node[path[-1]] = (int | None, Field(
                    default=None, description=f"{decl.key} at 00:00 UTC, ns since the epoch"))
            else:
                node[path[-1]] = (_fact_annotation(decl), Field(
                    default=None, description=f"{decl.key}: {decl.description}"))
    tree["errors"] = (list[FactError], Field(default_factory=list))
    strict = ConfigDict(extra="forbid")

    def build(path: tuple[str, ...], node: dict[str, Any]) -> type[BaseModel]:
        fields: dict[str, Any] = {}
        for key, value in node.items():
            if isinstance(value, dict):
                sub = build((*path, key), value)
                fields[key] = (sub, Field(default_factory=sub))
            else:
                fields[key] = value
        # Filing, Assessment...: a group's model is named after its path under facts.
        name = "".join(p.title().replace("_", "") for p in path) or "Facts"
        model = create_model(name, __config__=strict, **fields)
        model.__doc__ = (
            f"facts.{'.'.join(path)}"
            if path
            else "The parsed compliance.* tags (policies/**/tags.json); null means absent "
            "or invalid."
        )
        return cast("type[BaseModel]", model)

    return build((), tree)


def gate_input_schema(policy_set: _HasDeclarations) -> dict[str, Any]:
    """The JSON Schema of the gate input of ``policy_set``: its facts from the declared
    tags (what ``schemas/gate_input.schema.json`` holds for the bundled policies)."""
    return gate_input_schema_for(policy_set.tag_declarations)


def gate_input_schema_for(declarations: TagDeclarations) -> dict[str, Any]:
    from pydantic import create_model

    from .models import GateInput

    cached = declarations._cache.get("schema")
    if cached is None:
        facts = facts_model(declarations)
        model = create_model("GateInput", __base__=GateInput, facts=(facts, ...))
        model.__doc__ = GateInput.__doc__
        cached = declarations._cache["schema"] = model.model_json_schema()
    return json.loads(json.dumps(cached))  # type: ignore[no-any-return]
