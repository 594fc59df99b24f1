"""The JSON documents mlgate reads and the engines see: one reader, one writer.

``canonical`` gives the bytes a gate input's ``input_sha256`` is computed over, that the
embedded engine parses and that the decision log stores: keys sorted, no whitespace,
UTF-8. It runs once per decision, so it uses orjson (about ten times faster than the
standard library here; see benchmarks/bench_policy.py).

``loads`` reads every JSON document a user or a registry hands mlgate: gate input files,
data manifests (files and attached artifacts), ``waivers.json`` and ``data.json``. It is
:func:`json.loads` made strict where the standard library is lax, because each laxity
was a way around the gate or a crash:

- ``NaN``, ``Infinity`` and numbers that overflow to infinity (``1e400``) are not JSON
  (RFC 8259), the engines disagree on them and orjson writes them back as ``null``;
- a duplicate key is ambiguous (the standard library keeps the last, other readers the
  first), so a reviewer and the gate could read different documents;
- a lone surrogate escape (``"\\ud800"``) is not a Unicode character: the document can be
  read but never written back as UTF-8, so every later decision on it would fail;
- nesting deeper than :data:`MAX_DEPTH` crashes the standard library (RecursionError
  near 1,000) and the embedded engine (its recursion limit near 128); no real manifest
  or gate input comes close;
- an integer of more than 4,300 digits raises a bare ValueError.

Each is a :class:`DocumentError`, a :class:`json.JSONDecodeError`, so every caller that
already treats "not JSON" as bad input (exit 2) or as bad evidence (a gate failure) keeps
doing so. :func:`read_document` adds the file: a path, UTF-8 decoding, one line naming
both.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import orjson

# Deepest nesting of arrays and objects accepted in a document read from outside. Real
# manifests nest four levels; a gate input embeds its manifest three levels down, and the
# embedded engine's own limit (about 128 levels) must stay out of reach.
MAX_DEPTH = 64
# A gate input file embeds a manifest of up to MAX_DEPTH levels (manifest.content.*):
# replaying a logged decision must not trip over the few levels around it.
GATE_INPUT_MAX_DEPTH = MAX_DEPTH + 8

# A \uD800-\uDFFF escape: a candidate lone surrogate (confirmed after parsing).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class DocumentError(json.JSONDecodeError):
    """A document that is JSON text to the standard library but not one mlgate accepts."""


def canonical(document: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8: the same bytes for the same document."""
    try:
        return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        # Beyond orjson (an integer over 64 bits): the standard library writes the same
        # layout, slower.
        return json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()


def loads(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """:func:`json.loads`, strict: :class:`DocumentError` for everything the module doc lists."""
    def reject_constant(token: str) -> Any:
        raise DocumentError(f"{token} is not a JSON value", text, max(text.find(token), 0))

    def finite(token: str) -> float:
        value = float(token)
        if not math.isfinite(value):
            raise DocumentError(
                f"number {token[:40]} is too large (not a finite number)",
                text,
                max(text.find(token), 0),
            )
        return value

    def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise DocumentError(
                        f"duplicate key {key!r}", text, _key_position(text, key)
                    )
                seen.add(key)
        return document

    try:
        document = json.loads(
            text,
            parse_constant=reject_constant,
            parse_float=finite,
            object_pairs_hook=unique_keys,
        )
    except RecursionError as exc:  # the standard library's limit, near 1,000 levels
        raise DocumentError(
            f"nested more than {max_depth} levels deep", text, _deep_position(text, max_depth)
        ) from exc
    except json.JSONDecodeError:  # DocumentError included
        raise
    except ValueError as exc:  # int() of more than 4,300 digits
        reason = str(exc).split(":")[0]
        raise DocumentError(f"number too large ({reason})", text, 0) from exc
    if isinstance(document, (dict, list)):
        _check_depth(document, text, max_depth)
    match = _SURROGATE_ESCAPE.search(text)
    if match is not None and not _encodable(document):
        raise DocumentError(
            f"{match.group(0)} is a lone surrogate, not a Unicode character", text, match.start()
        )
    return document


def read_document(path: str | Path, *, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON document in file ``path``; :class:`~mlgate.errors.InputError` names the file.

    One line for every way a file can be wrong: unreadable, not UTF-8, not JSON, or JSON
    that :func:`loads` refuses (duplicate key, too deep, ...).
    """
    from .errors import InputError

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON: not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from exc
    try:
        return loads(text, max_depth=max_depth)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{describe(exc)}") from exc


def describe(exc: json.JSONDecodeError) -> str:
    """``3:14: not valid JSON: duplicate key 'datasets'``: where and what, one line."""
    return f"{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}"


def _check_depth(document: Any, text: str, max_depth: int) -> None:
    """Refuse a parsed document nested deeper than ``max_depth``.

    Counted on the parsed document (a bracket inside a string is text, and no scan of
    the text can be fooled by one), containers only, iteratively; skipped when the text
    does not hold that many brackets at all. The standard library's own limit (about
    1,000 levels, a RecursionError) is caught by :func:`loads` before this runs.
    """
    if text.count("[") + text.count("{") <= max_depth:
        return
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            raise DocumentError(
                f"nested more than {max_depth} levels deep",
                text,
                _deep_position(text, max_depth),
            )
        children = value.values() if isinstance(value, dict) else value
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))


def _deep_position(text: str, max_depth: int) -> int:
    """Where nesting first passes ``max_depth`` (for the error's line and column)."""
    depth = 0
    in_string = escaped = False
    for index, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > max_depth:
                return index
        elif ch in "]}":
            depth -= 1
    return 0


def _key_position(text: str, key: str) -> int:
    """Best effort: the second place ``"key":`` is written (the duplicate), else 0."""
    spelled = re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:"
    found = [m.start() for m in re.finditer(spelled, text)]
    return found[1] if len(found) > 1 else (found[0] if found else 0)


def _encodable(document: Any) -> bool:
    try:
        json.dumps(document, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
