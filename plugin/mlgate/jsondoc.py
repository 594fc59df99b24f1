"""The JSON documents the engines see: gate inputs and the manifests inside them.

``canonical`` gives the bytes a gate input's ``input_sha256`` is computed over, that the
embedded engine parses and that the decision log stores: keys sorted, no whitespace,
UTF-8. It runs once per decision, so it uses orjson (about ten times faster than the
standard library here; see benchmarks/bench_policy.py).

``loads`` reads gate input files and manifests: :func:`json.loads` without the
non-standard ``NaN`` and ``Infinity`` tokens. They are not JSON (RFC 8259), the engines
do not agree on them, and orjson would write them back as ``null``, so a document that
holds one is rejected where it is read.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


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


def loads(text: str) -> Any:
    """:func:`json.loads`, raising :class:`json.JSONDecodeError` on NaN and Infinity."""

    def reject(token: str) -> Any:
        raise json.JSONDecodeError(
            f"{token} is not a JSON value", text, max(text.find(token), 0)
        )

    return json.loads(text, parse_constant=reject)
