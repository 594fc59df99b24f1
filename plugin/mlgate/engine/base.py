"""The engine protocol: the only layer that talks Rego.

An engine evaluates ``data.mlgate.main.decision`` for a gate input document and returns
the raw JSON value. It raises :class:`mlgate.errors.EngineError` for anything that is not a
defined result (connection error, timeout, HTTP error, undefined, crash): fail closed.
Validation of the raw result (every gate present, statuses valid) happens in the runner,
once, for every engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..models import EngineName

DECISION_PATH = "mlgate/main/decision"
"""The fixed data path of the decision document (``data.mlgate.main.decision``)."""

DECISION_RULE = "data." + DECISION_PATH.replace("/", ".")


class Engine(Protocol):
    @property
    def name(self) -> EngineName:
        """What a decision records as its engine (``Decision.engine``)."""
        ...

    def evaluate(self, gate_input: dict[str, Any], text: str | None = None) -> Any:
        """Return the value of ``data.mlgate.main.decision`` for ``gate_input``.

        ``text``, when given, is ``gate_input`` already serialised as JSON: an engine may
        use it instead of serialising again.
        """
        ...

    def revision(self) -> str:
        """The policy revision this engine evaluates (git commit, bundle revision)."""
        ...
