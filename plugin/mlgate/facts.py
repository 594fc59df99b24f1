"""Registry evidence -> typed facts: the ``compliance.*`` tags and the data manifest.

Pure functions, no MLflow: ``evidence.py`` fetches, this module interprets. A tag that is
present but does not parse is recorded as a :class:`FactError` (a gate failure with its
own violation code), never raised.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, cast

from pydantic import ValidationError

from .jsondoc import loads
from .models import DataManifest, ManifestEvidence
from .tags import TAG_PREFIX, TagDeclaration, TagDeclarations

__all__ = ["TAG_PREFIX", "DIGEST_TAG", "MANIFEST_ARTIFACT", "parse_facts", "day_ns"]

DIGEST_TAG = "compliance.data_manifest.sha256"
MANIFEST_ARTIFACT = "compliance/data_manifest.json"
DIGEST_PATH = "manifest.digest_tagged"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")

# A parser takes the stripped, non-empty value and gives the fact, or _INVALID.
_INVALID = object()
Parse = Callable[[str], Any]


def _enum(values: tuple[str, ...]) -> Parse:
    allowed = frozenset(values)

    def parse(value: str) -> Any:
        low = value.lower()
        return low if low in allowed else _INVALID

    return parse


def _boolean(value: str) -> Any:
    low = value.lower()
    return True if low == "true" else False if low == "false" else _INVALID


def _list(decl: TagDeclaration) -> Parse:
    upper = decl.case == "upper"
    check: Callable[[str], object]
    if decl.values is not None:
        check = frozenset(decl.values).__contains__
    else:
        check = re.compile(decl.item_pattern or "").fullmatch

    def parse(value: str) -> Any:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        parts = [p.upper() if upper else p.lower() for p in parts]
        if not parts or not all(check(p) for p in parts):
            return _INVALID
        return sorted(set(parts))

    return parse


def _day(value: str) -> Any:
    try:
        return date.fromisoformat(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return _INVALID
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def _digest(value: str) -> Any:
    low = value.lower()
    return low if _SHA256.match(low) else _INVALID


def _text(value: str) -> Any:
    return value


def _parser(decl: TagDeclaration) -> Parse:
    if decl.type == "enum":
        return _enum(decl.values or ())
    if decl.type == "list":
        return _list(decl)
    return {"boolean": _boolean, "date": _day, "digest": _digest}.get(decl.type, _text)


# One declared tag, compiled: its rank (the errors' order), declaration, parser, the
# path of the dict it is written in, and its key there (None: the manifest digest).
_Step = tuple[int, TagDeclaration, Parse, tuple[str, ...], str | None]


@dataclass(frozen=True)
class _Plan:
    """The declarations compiled once per policy set: every decision reuses it."""

    skeleton: dict[str, Any]  # every fact None, errors apart
    groups: tuple[tuple[str, ...], ...]  # nested dicts of the skeleton, parents first
    steps: dict[str, _Step]  # declared key -> step


def _plan(declarations: TagDeclarations) -> _Plan:
    plan = declarations._cache.get("plan")
    if plan is None:
        skeleton: dict[str, Any] = {}
        groups: list[tuple[str, ...]] = []
        steps: dict[str, _Step] = {}
        for rank, decl in enumerate(declarations.tags):
            if decl.input_path is not None:
                steps[decl.key] = (rank, decl, _parser(decl), (), None)
                continue
            for path in decl.fact_paths:
                node = skeleton
                for depth, part in enumerate(path[:-1]):
                    if part not in node:
                        node[part] = {}
                        groups.append(path[: depth + 1])
                    node = node[part]
                node[path[-1]] = None
            steps[decl.key] = (rank, decl, _parser(decl), decl.path[:-1], decl.path[-1])
        plan = _Plan(skeleton, tuple(groups), steps)
        declarations._cache["plan"] = plan
    return cast(_Plan, plan)


def _fresh(plan: _Plan) -> dict[str, Any]:
    facts = dict(plan.skeleton)
    for group in plan.groups:
        parent = facts
        for part in group[:-1]:
            parent = parent[part]
        parent[group[-1]] = dict(parent[group[-1]])
    return facts


def _look_alikes(tags: dict[str, str], declarations: TagDeclarations) -> dict[str, str]:
    """Declared tag -> a different key in ``tags`` that folds to it (``COMPLIANCE.audience``)."""
    from .names import fold

    exact, folded = declarations.keys, declarations.folded
    found: dict[str, str] = {}
    for key in sorted(tags):
        if key in exact:
            continue  # the exact key: nothing to fold (every decision reads these)
        tag = folded.get(fold(key))
        if tag is not None:
            found.setdefault(tag, key)
    return found


def day_ns(day: date) -> int:
    """00:00 UTC of ``day`` in ns since the epoch: how Rego compares dates."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def parse_facts(
    tags: dict[str, str], declarations: TagDeclarations
) -> tuple[dict[str, Any], str | None]:
    """The facts (``input.facts``) and the manifest digest tag (lower case) of a
    version's tags, as the policy set's tag declarations say.

    Absent or blank tags are ``None``; a value that does not parse is ``None`` and an
    entry of ``facts.errors`` (``tag``, ``value``, ``expected``), never an exception. A
    key that folds to a declared tag (contract section 7) makes that tag invalid.
    """
    plan = _plan(declarations)
    steps = plan.steps
    look_alikes = _look_alikes(tags, declarations) if tags else {}
    facts = _fresh(plan)
    errors: list[tuple[int, dict[str, str]]] = []
    digest: str | None = None
    for key, raw in tags.items():
        step = steps.get(key)
        if step is None or key in look_alikes:
            continue
        value = raw.strip()
        if not value:
            continue  # blank: absent
        rank, decl, parse, parent, leaf = step
        parsed = parse(value)
        if parsed is _INVALID:
            errors.append((rank, {"tag": key, "value": raw, "expected": decl.expected}))
            continue
        if leaf is None:
            digest = parsed
            continue
        node = facts
        for part in parent:
            node = node[part]
        if decl.type == "date":
            node[leaf] = parsed.isoformat()
            node[leaf + "_ns"] = day_ns(parsed)
        else:
            node[leaf] = parsed
    for key, other in look_alikes.items():
        # Contract section 7: a key that normalises to a compliance key is compliance
        # evidence. Two spellings of one fact cannot both be believed, and the database's
        # collation, not Python, decides which one a reader gets: the fact is invalid
        # (None) until only the exact key is left.
        expected = f"only the tag {key}; remove the look-alike tag {other!r}"
        errors.append((steps[key][0], {"tag": key, "value": tags[other], "expected": expected}))
    if len(errors) > 1:
        errors.sort(key=lambda e: e[0])  # declaration order, whatever the tags' order
    facts["errors"] = [e for _, e in errors]
    return facts, digest


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def manifest_errors(document: Any) -> list[str]:
    """Schema violations of a parsed manifest, each ``path: message``; empty when valid."""
    try:
        DataManifest.model_validate(document)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
    return []


def manifest_evidence(content: bytes | None, digest_tagged: str | None) -> ManifestEvidence:
    """What the gates know of the manifest artifact: ``content`` is None when absent."""
    if content is None:
        return ManifestEvidence(attached=False, digest_tagged=digest_tagged)
    evidence = ManifestEvidence(
        attached=True, digest_tagged=digest_tagged, digest_computed=sha256_hex(content)
    )
    try:
        document = loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        evidence.parse_error = str(exc)
        return evidence
    evidence.schema_errors = manifest_errors(document)
    evidence.content = document if isinstance(document, dict) else None
    return evidence
