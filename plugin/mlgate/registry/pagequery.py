"""What the ``/mlgate/`` page and its JSON API are asked: the query parameters, checked.

A parameter the page cannot use is a :class:`BadQuery` (HTTP 400 with its message).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

OUTCOMES: tuple[str, ...] = ("all", "blocked", "allowed")
VIEWS: tuple[str, ...] = ("current", "history")
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


class BadQuery(ValueError):
    """A query parameter the page cannot use (HTTP 400)."""


@dataclass(frozen=True)
class Query:
    model: str | None
    outcome: str
    limit: int
    view: str = "history"
    version: str | None = None
    target: str | None = None
    decision_id: str | None = None
    since: datetime | None = None
    with_input: bool = False

    @classmethod
    def from_args(cls, args: Any, *, default_view: str = "history") -> Query:
        def text(name: str) -> str | None:
            return (args.get(name) or "").strip() or None

        outcome = (args.get("outcome") or "all").strip().lower()
        if outcome not in OUTCOMES:
            raise BadQuery(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        view = (args.get("view") or default_view).strip().lower()
        if view not in VIEWS:
            raise BadQuery(f"view must be one of {', '.join(VIEWS)}, not {view!r}")
        raw_limit = (args.get("limit") or str(DEFAULT_LIMIT)).strip()
        try:
            limit = int(raw_limit)
        except ValueError as exc:
            raise BadQuery(f"limit must be a whole number, not {raw_limit!r}") from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}, not {limit}")
        include = text("include")
        if include not in (None, "gate_input"):
            raise BadQuery(f"include must be gate_input, not {include!r}")
        return cls(
            model=text("model"), outcome=outcome, limit=limit, view=view,
            version=text("version"), target=text("target"), decision_id=text("decision_id"),
            since=_since(text("since")), with_input=include == "gate_input",
        )


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadQuery(f"since must be an ISO 8601 date or datetime, not {value!r}") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
