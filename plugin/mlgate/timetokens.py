"""JSON merge patches (RFC 7396) and time tokens: how a scenario of the conformance corpus
(:mod:`mlgate.scenarios`) is written as a patch on a shared base, with times relative to
the moment it is evaluated at. The token grammar is documented in :mod:`mlgate.scenarios`.
"""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from .errors import InputError

NS = 1_000_000_000
NULL_TOKEN = "@null"  # a null value set by a patch (a merge patch's null deletes)

_TOKEN = re.compile(
    r"^@(?P<kind>now_ns|now|date_ns|date|midnight)"
    r"(?P<offsets>(?:[+-]\d+(?:ns|d|h|m|s)(?:\d+(?:ns|d|h|m|s))*)*)"
    r"(?:@(?P<tz>[+-]\d{2}:\d{2}))?$"
)
# One offset; without a sign it takes the sign before it: -1d12h is minus 36 hours.
_OFFSET = re.compile(r"([+-]?)(\d+)(ns|d|h|m|s)")
_UNIT_NS = {"ns": 1, "s": NS, "m": 60 * NS, "h": 3600 * NS, "d": 86400 * NS}
TIME_OF_DAY = re.compile(r"^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: apply ``patch`` to ``target`` (neither is modified)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def diff_patch(source: Any, target: Any) -> Any:
    """A merge patch turning ``source`` into ``target`` (lists are replaced whole); a null
    in ``target`` is written ``"@null"`` (a merge patch's null deletes the key)."""
    if not (isinstance(source, dict) and isinstance(target, dict)):
        return _nulls_as_tokens(target)
    patch: dict[str, Any] = {}
    for key in source:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        if key not in source:
            patch[key] = _nulls_as_tokens(value)
        elif source[key] != value:
            patch[key] = diff_patch(source[key], value)
    return patch


def _nulls_as_tokens(value: Any) -> Any:
    if value is None:
        return NULL_TOKEN
    if isinstance(value, dict):
        return {k: _nulls_as_tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulls_as_tokens(v) for v in value]
    return value


def evaluation_time(now: datetime | None = None, time_of_day: str | None = None) -> int:
    """The evaluation time in ns: ``now`` (default: this moment) to the second, or its UTC
    day at ``time_of_day``."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    seconds = int(moment.replace(microsecond=0).timestamp())
    if time_of_day is None:
        return seconds * NS
    match = TIME_OF_DAY.match(time_of_day)
    if not match:
        raise InputError(f"now: {time_of_day!r} is not a time of day HH:MM:SS[.fffffffff]")
    hours, minutes, secs, fraction = match.groups()
    midnight = seconds - seconds % 86400
    within = (int(hours) * 3600 + int(minutes) * 60 + int(secs)) * NS
    return midnight * NS + within + int((fraction or "").ljust(9, "0"))


def resolve_token(token: str, now_ns: int) -> str | int:
    """One time token at ``now_ns``; a string that is no token is returned unchanged."""
    match = _TOKEN.match(token)
    if not match:
        return token
    shift, sign = 0, 1
    for given, count, unit in _OFFSET.findall(match["offsets"]):
        sign = {"+": 1, "-": -1}.get(given, sign)
        shift += sign * int(count) * _UNIT_NS[unit]
    kind = match["kind"]
    day_ns = now_ns - now_ns % (86400 * NS)
    if kind in ("now", "now_ns"):
        at = now_ns + shift
        return at if kind == "now_ns" else _rfc3339(at // NS)
    if kind == "midnight":
        at = (day_ns + shift) // NS
        tz = match["tz"]
        if tz is None:
            return _rfc3339(at)
        sign = 1 if tz[0] == "+" else -1
        offset = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])) * sign
        return datetime.fromtimestamp(at, tz=timezone(offset)).isoformat(timespec="seconds")
    day = date(1970, 1, 1) + timedelta(days=(day_ns + shift) // (86400 * NS))
    if kind == "date":
        return day.isoformat()
    return (day - date(1970, 1, 1)).days * 86400 * NS


def _rfc3339(seconds: int) -> str:
    return (
        datetime.fromtimestamp(seconds, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )


def resolve_times(document: Any, now_ns: int) -> Any:
    """``document`` with every time token replaced (see the module doc)."""
    if isinstance(document, dict):
        return {k: resolve_times(v, now_ns) for k, v in document.items()}
    if isinstance(document, list):
        return [resolve_times(v, now_ns) for v in document]
    if document == NULL_TOKEN:
        return None
    if isinstance(document, str) and document.startswith("@"):
        return resolve_token(document, now_ns)
    return document
