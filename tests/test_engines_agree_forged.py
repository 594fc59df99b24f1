"""Forged documents, as a client of an OPA server could send them: both engines block alike.

tests/test_engines_agree.py compares the engines on valid gate inputs only. The policies
must also fail closed on documents mlgate's Python never builds (issue 9, A.2 and A.5),
and they must do so on OPA as on regorus: OPA evaluates ``not f(x.absent)`` as undefined
(the call's argument is undefined) where regorus says true, so a negated check on an
absent field fired on regorus alone and OPA allowed. Here every key of a compliant input
is deleted, or given a value of another type, one at a time, and every policy-data
section is deleted: no engine may allow, and both must give the same decision.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from evidence_fixtures import passing_metrics
from fixtures_opa import require_opa_golib
from helpers import EXAMPLES, POLICIES
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.errors import EngineError
from mlgate.policy import PolicySet, load_policy_dir

WRONG_TYPES: list[Any] = ["yes", 1, [], {}, None]


@cache
def shipped() -> PolicySet:
    return load_policy_dir(POLICIES)


@cache
def every_duty_on() -> PolicySet:
    """The shipped policies with the duties that are off by default switched on, where the
    base document carries their facts: a fact read by no gate could be forged freely."""
    data = copy.deepcopy(shipped().data)
    config = data["mlgate"]["config"]
    config["service"]["required"] = True
    config["labeling"]["require_producer_code"] = True
    config["evaluation"]["required"] = True
    return dataclasses.replace(shipped(), data=data)


def passing_evaluation(run_id: str) -> dict[str, Any]:
    """What Python reads of a finished run meeting every shipped requirement exactly."""
    metrics = passing_metrics(shipped().data["mlgate"]["config"]["evaluation"]["requirements"])
    return {"run_id": run_id, "found": True, "status": "FINISHED", "experiment_id": "1",
            "metrics": metrics, "invalid_metrics": [], "error": None}


def allowed_input() -> dict[str, Any]:
    """The allowed example with every free-text fact on record: a null there would make
    any string a legal value (a reference set), not a forgery of its type."""
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text(encoding="utf-8"))
    facts = document["facts"]
    facts["labeling"]["producer_code"] = "PROVIDER-0001"
    facts["service"] = {name: f"https://example.cn/service/{name}" for name in facts["service"]}
    facts["evaluation"]["run_id"] = "0a1b2c3d4e5f"
    document["evaluation"] = passing_evaluation("0a1b2c3d4e5f")
    return document


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))


# Fields whose deletion or retyping changes no duty: free text mlgate only reports, and
# the raw tags and evidence listing that facts were parsed from.
IGNORED = {
    "model", "version", "tags", "aliases", "waivers", "input_version", "request",
    "manifest.content.labeling.rules_uri",
    # Optional in the manifest schema, or (labeling.used) anything but false keeps the
    # duties due, and the base document meets them all.
    "manifest.content.foundation_models", "manifest.content.labeling.used",
}


def _ignored(path: tuple[Any, ...]) -> bool:
    dotted = ".".join(str(p) for p in path)
    return any(dotted == i or dotted.startswith(i + ".") for i in IGNORED) or (
        path[:2] == ("manifest", "content") and path[-1] in {"name", "source", "license", "uri"}
    )


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def forged_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    base = allowed_input()
    for path in _paths(base):
        if _ignored(path):
            continue
        parent = base
        for part in path[:-1]:
            parent = parent[part]
        original = parent[path[-1]]
        deleted = copy.deepcopy(base)
        holder = deleted
        for part in path[:-1]:
            holder = holder[part]
        del holder[path[-1]]
        yield f"del {'.'.join(map(str, path))}", deleted
        for wrong in WRONG_TYPES:
            if type(wrong) is type(original) or (wrong is None and original is None):
                continue
            if _number(wrong) and _number(original):
                continue  # 1 for 0.9: one JSON type, a value, not a forgery of its type
            retyped = copy.deepcopy(base)
            holder = retyped
            for part in path[:-1]:
                holder = holder[part]
            holder[path[-1]] = wrong
            yield f"{'.'.join(map(str, path))}={json.dumps(wrong)}", retyped


def _decide(engine: Any, document: dict[str, Any]) -> str:
    try:
        return json.dumps(engine.evaluate(document), sort_keys=True)
    except EngineError:
        return "engine error"


def _allows(decision: str) -> bool:
    return decision != "engine error" and json.loads(decision).get("allowed") is True


def test_the_unforged_input_is_allowed_by_both_engines() -> None:
    # The control: the base document is allowed, so a block below is the forgery's doing.
    require_opa_golib()
    from mlgate.engine.golib import GolibEngine

    opa = GolibEngine(shipped())
    try:
        for engine in (EmbeddedEngine(shipped()), opa):
            assert _allows(_decide(engine, allowed_input()))
        on = EmbeddedEngine(every_duty_on())
        assert _allows(_decide(on, allowed_input()))
    finally:
        opa.close()


def test_forged_inputs_block_alike_on_both_engines() -> None:
    require_opa_golib()
    from mlgate.engine.golib import GolibEngine

    regorus, opa = EmbeddedEngine(every_duty_on()), GolibEngine(every_duty_on())
    problems: list[str] = []
    try:
        for label, document in forged_documents():
            by_regorus, by_opa = _decide(regorus, document), _decide(opa, document)
            if _allows(by_regorus) or _allows(by_opa):
                problems.append(f"{label}: allowed (regorus {_allows(by_regorus)}, opa "
                                f"{_allows(by_opa)})")
            elif by_regorus != by_opa:
                problems.append(f"{label}: engines differ\n  regorus {by_regorus}\n  opa {by_opa}")
    finally:
        opa.close()
    assert not problems, "\n".join(problems[:40])


@pytest.mark.parametrize(
    "section", [g for g in shipped().gate_ids if g in shipped().data["mlgate"]["config"]]
)
def test_missing_policy_data_section_blocks_alike(section: str) -> None:
    require_opa_golib()
    from mlgate.engine.golib import GolibEngine

    data = copy.deepcopy(shipped().data)
    del data["mlgate"]["config"][section]
    partial = dataclasses.replace(shipped(), data=data)
    regorus, opa = EmbeddedEngine(partial), GolibEngine(partial)
    try:
        by_regorus, by_opa = _decide(regorus, allowed_input()), _decide(opa, allowed_input())
    finally:
        opa.close()
    assert not _allows(by_regorus) and not _allows(by_opa)
    assert by_regorus == by_opa


@pytest.mark.parametrize(
    "path",
    [("service",), ("service", "minors"), ("labeling", "producer_code"), ("attestation",),
     ("attestation", "sha256"), ("evaluation",), ("evaluation", "run_id")],
)
def test_facts_of_a_switched_off_duty_cannot_be_dropped(path: tuple[str, ...]) -> None:
    """Under the shipped data the service gate and the producer code are off, yet a
    document without their facts is not one mlgate writes: it blocks on both engines."""
    require_opa_golib()
    from mlgate.engine.golib import GolibEngine

    document = allowed_input()
    holder = document["facts"]
    for part in path[:-1]:
        holder = holder[part]
    del holder[path[-1]]
    regorus, opa = EmbeddedEngine(shipped()), GolibEngine(shipped())
    try:
        assert _allows(_decide(regorus, allowed_input()))
        by_regorus, by_opa = _decide(regorus, document), _decide(opa, document)
    finally:
        opa.close()
    assert not _allows(by_regorus) and by_regorus == by_opa
    gate = path[0]
    failing = json.loads(by_regorus)["gates"]
    assert f"{gate}.input_invalid" in json.dumps(failing)
