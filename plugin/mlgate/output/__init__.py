"""Output formats behind one interface: ``render(name, decisions) -> str``.

Each module in this package exposes ``render(decisions: list[Decision]) -> str``; the
registry maps a format name to its module so nothing imports a formatter it does not use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from ..models import Decision

FORMATS: dict[str, str] = {
    "table": "table",
    "json": "json_format",
    "junit": "junit",
    "sarif": "sarif",
    "markdown": "markdown",
    "github": "github",
}


def render(name: str, decisions: list[Decision], **options: Any) -> str:
    """Render with the named format; ``options`` go to formats that take them (table:
    ``color``)."""
    module = import_module(f"{__name__}.{FORMATS[name]}")
    return module.render(decisions, **options)
