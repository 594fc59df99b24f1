"""Policy data: ``data.json``'s ``mlgate.config``, validated by schemas in the policy set.

Each gate describes its own section beside its Rego, in ``gates/<gate>/data.schema.json``;
``main/data.schema.json`` describes the sections that are no gate's (protected targets,
the default target, waivers, prompts). At load time they are assembled into one schema
(``schemas/policy_data.schema.json`` is generated from the bundled set's), ``data.json`` is
validated against it, and keys it leaves out take the schemas' ``default`` values: the
defaults live in the policy directory, never in Python.

The schemas use a small subset of JSON Schema, checked by :mod:`mlgate.jsonsubset`: no
new dependency, nothing slow on the CLI's fast path, and one line per refusal naming the
file, the dotted path, what was expected and what was found.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import PolicyError
from .jsonsubset import check_schema, child, describe, first_error, is_type, show

SCHEMA_FILE = "data.schema.json"
MAIN_SCHEMA = f"main/{SCHEMA_FILE}"
_GATE_SCHEMA = re.compile(r"^gates/([A-Za-z0-9_]+)/" + re.escape(SCHEMA_FILE) + "$")


def is_schema_file(path: str) -> bool:
    """``main/data.schema.json`` or ``gates/<gate>/data.schema.json`` (relative paths)."""
    return path == MAIN_SCHEMA or _GATE_SCHEMA.match(path) is not None


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
    packages: Callable[[], Mapping[str, str]],
) -> tuple[dict[str, Any], list[str]]:
    """``mlgate.config`` as written, checked against the assembled ``schema``: the filled
    copy the engines get and the dotted paths left to defaults. ``packages`` maps each
    Rego package to its file, to say when a gate exists but declares no schema."""
    properties: Mapping[str, Any] = schema["properties"]
    for key in raw:
        if key not in properties:
            raise PolicyError(f"{where}: {_unknown_section(key, root, properties, packages())}")
    found = first_error(raw, schema, "mlgate.config")
    if found:
        raise PolicyError(f"{where}: {found}")
    filled, defaults = fill_defaults(raw, schema, "mlgate.config")
    # A section left out is filled from its defaults; one its schema requires a key of
    # with no default is still refused: the engines never get a required key absent.
    found = first_error(filled, schema, "mlgate.config")
    if found:
        raise PolicyError(f"{where}: {found}")
    found = trusted_key_error(filled)
    if found:
        raise PolicyError(f"{where}: {found}")
    return filled, defaults


def trusted_key_error(config: Mapping[str, Any]) -> str | None:
    """The first ``attestation.trusted_keys`` entry whose ``public_key_pem`` is no key the
    gate can verify with, worded as a schema refusal; else None. A JSON Schema cannot say
    "a PEM public key": without this the set loads and every attested version blocks as
    ``attestation.unreadable`` at decision time (which stays, for forged engine data)."""
    from .dsse import PUBLIC_KEY_EXPECTED, public_key_problem

    section = config.get("attestation")
    keys = section.get("trusted_keys") if isinstance(section, dict) else None
    for index, key in enumerate(keys if isinstance(keys, list) else []):
        pem = key.get("public_key_pem") if isinstance(key, dict) else None
        if not isinstance(pem, str):
            continue  # the schema's to refuse
        problem = public_key_problem(pem)
        if problem:
            at = f"mlgate.config.attestation.trusted_keys[{index}].public_key_pem"
            name = show(key.get("name"))
            return f"{at} (key {name}): expected {PUBLIC_KEY_EXPECTED}, got {problem}"
    return None


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
class EvidenceSettings:
    """Who may write ``compliance.*`` evidence (empty: anyone; not enforced), and whether a
    promotion needs a second pair of eyes (policy data ``evidence``, ``promotion``)."""

    writers: tuple[str, ...]
    four_eyes: bool


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
    evidence: EvidenceSettings
    values: Mapping[str, Any] = field(hash=False)  # mlgate.config as the engines get it

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
        evidence=EvidenceSettings(
            writers=tuple(read("evidence.writers", "array")) if "evidence" in config else (),
            four_eyes=(
                bool(read("promotion.four_eyes", "boolean")) if "promotion" in config else False
            ),
        ),
        values=config,
    )
