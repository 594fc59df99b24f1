"""Waivers: exceptions with an owner and an end, in ``policies/waivers.json``.

Python decides which waivers are *active* for a model version at the evaluation time
(model glob, versions, not expired) and puts those into the gate input; Rego applies
them to matching violation codes (never to scope). An expired waiver does nothing but
warn; one expiring soon warns too. A file that breaks the schema, or a waiver running
longer than the policy's maximum validity, is a policy error (exit 2) naming the entry
and field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from fnmatch import fnmatchcase
from typing import Any

from .errors import PolicyError
from .jsondoc import loads
from .models import Waiver, WaiverEntry
from .policydata import WaiverSettings


def parse_waivers(text: str, where: str, config: WaiverSettings, today: date) -> list[WaiverEntry]:
    """Validate a waiver file's text; :class:`PolicyError` names entry and field."""
    from pydantic import ValidationError

    from .models import WaiverFile

    try:
        document = loads(text)
    except json.JSONDecodeError as exc:  # jsondoc.DocumentError too: duplicate key, depth
        raise PolicyError(f"{where}:{exc.lineno}: not valid JSON: {exc.msg}") from exc
    try:
        entries = WaiverFile.model_validate(document).waivers
    except ValidationError as exc:
        err = exc.errors()[0]
        raise PolicyError(f"{where}: {_describe(document, err['loc'])}: {err['msg']}") from exc
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        if entry.id in seen:
            raise PolicyError(f"{where}: waivers[{index}] (id {entry.id}): duplicate id")
        seen.add(entry.id)
        start = entry.granted or today
        if entry.granted and entry.expires < entry.granted:
            raise PolicyError(
                f"{where}: waivers[{index}] (id {entry.id}): field expires: "
                f"{entry.expires} is before granted {entry.granted}"
            )
        if (entry.expires - start).days > config.max_validity_days:
            raise PolicyError(
                f"{where}: waivers[{index}] (id {entry.id}): field expires: {entry.expires} "
                f"is more than {config.max_validity_days} days after {start}"
                + (" (granted)" if entry.granted else " (today)")
            )
    return entries


def _describe(document: Any, loc: tuple[object, ...]) -> str:
    """``waivers[2] (id W-7): field expires`` from a pydantic error location."""
    if len(loc) >= 2 and loc[0] == "waivers" and isinstance(loc[1], int):
        entry = ""
        try:
            entry_id = document["waivers"][loc[1]].get("id")
            entry = f" (id {entry_id})" if entry_id else ""
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        rest = ".".join(str(p) for p in loc[2:])
        return f"waivers[{loc[1]}]{entry}" + (f": field {rest}" if rest else "")
    return "field " + (".".join(str(p) for p in loc) or "(document)")


@dataclass
class Applicable:
    """The waivers for one model version at one time: active ones and warnings."""

    active: list[Waiver] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def applicable_waivers(
    entries: list[WaiverEntry], model: str, version: str, now: datetime, config: WaiverSettings
) -> Applicable:
    today = now.date()
    result = Applicable()
    for entry in entries:
        if not fnmatchcase(model, entry.model):
            continue
        if entry.versions != "*" and version not in entry.versions:
            continue
        if entry.expires < today:
            result.warnings.append(
                f"waiver {entry.id} expired on {entry.expires} and no longer applies "
                f"(ticket {entry.ticket})"
            )
            continue
        days_left = (entry.expires - today).days
        if days_left <= config.warn_within_days:
            result.warnings.append(
                f"waiver {entry.id} expires on {entry.expires} ({days_left} days left; "
                f"ticket {entry.ticket})"
            )
        result.active.append(
            Waiver(
                id=entry.id,
                codes=entry.codes,
                expires=entry.expires.isoformat(),
                justification=entry.justification,
                approver=entry.approver,
                ticket=entry.ticket,
            )
        )
    return result
