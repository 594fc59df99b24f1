"""Output formats behind one interface: ``render(name, decisions) -> str``.

Each module in this package exposes ``render(decisions: list[Decision]) -> str``; the
registry maps a format name to its module so nothing imports a formatter it does not use.

Formats read by people on a terminal or a web page (table, markdown, github) get every
text field through :func:`mlgate.textsafe.printable` first: a tag value holding an
escape sequence must not recolour, erase or fake a line of a report. json, junit and
sarif escape by their own syntax and carry the text as it is.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ..textsafe import printable

if TYPE_CHECKING:  # pydantic is imported by the formats that render, not by `mlgate --help`
    from ..models import Decision

FORMATS: dict[str, str] = {
    "table": "table",
    "json": "json_format",
    "junit": "junit",
    "sarif": "sarif",
    "markdown": "markdown",
    "github": "github",
}


HUMAN_FORMATS = frozenset({"table", "markdown", "github"})


def render(name: str, decisions: list[Decision], **options: Any) -> str:
    """Render with the named format; ``options`` go to formats that take them (table:
    ``color``)."""
    module = import_module(f"{__name__}.{FORMATS[name]}")
    if name in HUMAN_FORMATS:
        decisions = [safe_text(d) for d in decisions]
    text: str = module.render(decisions, **options)
    return text


def safe_text(decision: Decision) -> Decision:
    """``decision`` with control and format characters in every string made visible."""
    from ..models import Decision

    return Decision.model_validate(_printable(decision.model_dump()))


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [_printable(v) for v in value]
    if isinstance(value, dict):
        return {k: _printable(v) for k, v in value.items()}
    return value
