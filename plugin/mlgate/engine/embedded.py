"""The embedded engine: regorus (Microsoft's Rego interpreter in Rust), in-process.

A regorus ``Engine`` panics when used from a thread other than the one that created it,
so compiled engines are kept per thread (``threading.local``), compiled once per policy
set per thread and reused. Rust panics arrive as ``pyo3_runtime.PanicException``, a
``BaseException``: they are caught here and become :class:`EngineError` (fail closed).
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from ..errors import EngineError, PolicyError, one_line
from ..jsondoc import canonical
from ..policy import PolicySet
from ..regosource import regorus_module
from .base import DECISION_RULE

if TYPE_CHECKING:
    from ..models import EngineName

_local = threading.local()


def compile_engine(policy_set: PolicySet, *, with_tests: bool = False) -> Any:
    """A fresh regorus Engine with the policy set (and optionally its tests) loaded.

    A parse error or a call to a function regorus lacks is a :class:`PolicyError`
    naming the file and line.
    """
    regorus = regorus_module()
    engine = regorus.Engine()
    sources = dict(policy_set.modules)
    if with_tests:
        sources.update(policy_set.tests)
    for path, source in sorted(sources.items()):
        try:
            engine.add_policy(f"{policy_set.root}/{path}", source)
        except BaseException as exc:  # noqa: BLE001 - Rust panics are BaseException
            raise PolicyError(_location_first(one_line(str(exc)))) from exc
    # regorus resolves a function only when a call is reached: find unknown ones now, so
    # a policy calling one is a policy error up front, not a failure on some inputs.
    from .regoast import unknown_function_calls

    unknown = unknown_function_calls(sources)
    if unknown:
        raise PolicyError(str(unknown[0]))
    try:
        engine.add_data_json(json.dumps(policy_set.data))
    except BaseException as exc:  # noqa: BLE001
        raise PolicyError(f"{policy_set.root}/data.json: {one_line(str(exc))}") from exc
    return engine


def _location_first(message: str) -> str:
    """regorus says ``--> file:line:col | ... error: what``; put ``file:line: what`` first."""
    if message.startswith("-->"):
        where, _, rest = message[3:].strip().partition(" ")
        what = rest.split("error:", 1)[-1].strip() if "error:" in rest else rest
        return f"{where}: {what}"
    return message


class EmbeddedEngine:
    name: EngineName = "embedded"

    def __init__(self, policy_set: PolicySet) -> None:
        self.policy_set = policy_set
        self._key = policy_set.fingerprint()
        self._compiled()  # compile now: a policy error surfaces before any evaluation

    def _compiled(self) -> Any:
        cache: dict[str, Any] = getattr(_local, "engines", None) or {}
        _local.engines = cache
        engine = cache.get(self._key)
        if engine is None:
            engine = compile_engine(self.policy_set)
            cache[self._key] = engine
        return engine

    def evaluate(self, gate_input: dict[str, Any], text: str | None = None) -> Any:
        engine = self._compiled()
        try:
            engine.set_input_json(text if text is not None else canonical(gate_input).decode())
            # eval_rule returns None for an undefined rule; the decision is an object.
            value = engine.eval_rule(DECISION_RULE)
        except BaseException as exc:  # noqa: BLE001 - panics included: fail closed
            if isinstance(exc, KeyboardInterrupt):
                raise
            if "not a valid rule path" in str(exc):
                raise EngineError(
                    f"{DECISION_RULE} is undefined: no such rule in the policy set"
                ) from exc
            raise EngineError(f"embedded engine failed: {one_line(str(exc))}") from exc
        if value is None:
            raise EngineError(f"{DECISION_RULE} is undefined for this input")
        return value

    def revision(self) -> str:
        return self.policy_set.revision
