"""regorus and OPA decide alike: every Rego test, and thousands of random inputs.

OPA here is OPA's own Go library in-process (``opa-golib-python-bindings``, installed by
``make test`` and ``.ci/run``): an HTTP round trip per decision would cost more than both
engines together. The conformance corpus runs on both engines through the ``opa`` engine
and the OPA REST test server (tests/test_conformance.py).

The random comparison derives inputs from the corpus (policies/scenarios): each is a
scenario's input with a few seeded mutations (values crossed over from other scenarios,
keys dropped, numbers moved, the clock set a nanosecond around whole days after the
assessment date, strings recased, lists cut or grown, booleans flipped), its manifest's
schema errors recomputed as Python does, and kept when it is a valid gate input, the only
kind an engine is ever given. Every input is decided under the shipped policy data or one
of two altered copies, by both engines; the raw decisions are compared as canonical JSON,
so that any difference fails, down to a number's type in a message parameter.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest
from pydantic import ValidationError

from fixtures_opa import require_opa_golib
from helpers import POLICIES, scenario_document, scenario_names
from mlgate import policytest
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.errors import EngineError
from mlgate.facts import manifest_errors
from mlgate.models import GateInput
from mlgate.policy import PolicySet, load_policy_dir
from mlgate.runner import serialise

SEED = 20261130
INPUTS = 5_000
NS_PER_DAY = 86_400 * 10**9
ENGINES = ["embedded", "opa"]


@cache
def shipped() -> PolicySet:
    return load_policy_dir(POLICIES)


# --------------------------------------------------------------------------- Rego tests


@cache
def rego_test_report(engine: str) -> policytest.TestReport:
    return policytest.run_tests(shipped(), engine=engine)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rule", [case.path for case in policytest.discover(shipped())])
def test_rego_test_passes(rule: str, engine: str) -> None:
    if engine == "opa":
        require_opa_golib()
    [result] = [r for r in rego_test_report(engine).results if r.case.path == rule]
    assert result.passed, f"{rule} on {engine}: {result.error}"


# --------------------------------------------------------------------------- policy data


def altered_data() -> list[dict[str, Any]]:
    """The shipped policy data and two copies with other limits, lists and switches."""
    base = shipped().data
    stricter = copy.deepcopy(base)
    config = stricter["mlgate"]["config"]
    config["protected_aliases"] = ["prod", "Champion"]
    config["scope"] = {"public_audiences": ["public", "consumer"], "regions": ["CN", "HK"]}
    config["filing"]["only_public_opinion"] = True
    config["assessment"] = {"only_public_opinion": True, "max_age_days": 30}
    config["labeling"]["required"]["text"] = ["explicit"]
    config["labeling"]["required"]["image"] = []
    config["data_manifest"]["min_datasets"] = 2
    config["data_manifest"]["labeling_duties"] = ["rules_documented"]
    # The issue-13 switches, off as shipped, on here with their own numbers.
    config["data_manifest"].update(
        require_safety_sampling=True, min_safety_sample_size=3000, max_violation_rate=0.02
    )
    config["labeling"]["require_producer_code"] = True
    config["waivers"] = {"max_validity_days": 30, "warn_within_days": 1}
    config["service"] = {"required": True}
    config["promotion"] = {"four_eyes": True}
    # The evaluation gate on, runs only from experiment 1, one row missing its minimum
    # sample (the schema cannot refuse it; requirements_invalid).
    rows = copy.deepcopy(base["mlgate"]["config"]["evaluation"]["requirements"])
    rows.append({"metric": "gbt45654.generated.pass_rate", "comparison": ">=",
                 "threshold": 0.95, "sample_metric": "gbt45654.generated.sample_size",
                 "clause": "stricter"})
    config["evaluation"] = {"required": True, "allowed_experiments": ["1"],
                            "requirements": rows}
    # The attestation gate on (the corpus carries attestation evidence; Python checked
    # the signature, so the key's text is never read by Rego).
    config["attestation"] = {
        "trusted_keys": [{"name": "compliance", "public_key_pem": "PEM"}]
    }
    laxer = copy.deepcopy(base)
    config = laxer["mlgate"]["config"]
    config["protected_stages"] = ["production", "staging"]
    config["default_target"] = "staging"
    config["assessment"]["max_age_days"] = 730
    config["service"] = {"required": True, "minors": False}
    config["evaluation"]["required"] = True
    config["data_manifest"].update(
        require_legitimate_source=False,
        require_ip_cleared=False,
        require_personal_info_consent=False,
        require_quality_measures=False,
        min_datasets=0,
        labeling_duties=[],
    )
    config["waivers"] = {"max_validity_days": 365, "warn_within_days": 60}
    return [base, stricter, laxer]


@pytest.fixture(scope="module")
def policy_sets() -> list[PolicySet]:
    sets = [dataclasses.replace(shipped(), data=data) for data in altered_data()]
    for policy_set in sets:
        assert policy_set.config  # each copy is valid policy data
    return sets


# --------------------------------------------------------------------------- inputs


@cache
def corpus() -> list[dict[str, Any]]:
    # Each case's gate input at the moment the corpus was written for (the clock mutation
    # moves it around the assessment date anyway).
    return [scenario_document(name) for name in scenario_names()]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _shape(path: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple("*" if isinstance(p, int) else p for p in path)


@cache
def value_pool() -> dict[tuple[Any, ...], list[str]]:
    """Every value the corpus holds at each path (list indices as ``*``), as JSON text."""
    pool: dict[tuple[Any, ...], set[str]] = {}
    for doc in corpus():
        for path in _paths(doc):
            if path:
                pool.setdefault(_shape(path), set()).add(json.dumps(_get(doc, path)))
    return {shape: sorted(values) for shape, values in pool.items()}


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


BOUNDARY_DAYS = [0, 1, 29, 30, 31, 364, 365, 366, 399, 400, 729, 730, 731]
BOUNDARY_NS = [-1, 0, 1, -1000, NS_PER_DAY - 1]


def _number(rng: random.Random, value: int) -> int:
    return value + rng.choice([-1, 1, -1000, 1000, -NS_PER_DAY, NS_PER_DAY, 7 * NS_PER_DAY])


def move_clock(rng: random.Random, doc: dict[str, Any]) -> None:
    """Evaluate at a nanosecond near a whole number of days after the assessment date,
    where integer and float arithmetic part ways (``now`` follows, to the second)."""
    facts = doc.get("facts") if isinstance(doc.get("facts"), dict) else {}
    assessment = facts.get("assessment") if isinstance(facts.get("assessment"), dict) else {}
    date_ns = assessment.get("date_ns")
    if not isinstance(date_ns, int):
        return
    now_ns = date_ns + rng.choice(BOUNDARY_DAYS) * NS_PER_DAY + rng.choice(BOUNDARY_NS)
    doc["now_ns"] = now_ns
    moment = datetime.fromtimestamp(now_ns // 10**9, tz=UTC)
    doc["now"] = moment.isoformat().replace("+00:00", "Z")


def _string(rng: random.Random, value: str) -> str:
    return rng.choice(
        [value.upper(), value.lower(), value.title(), f" {value} ", "", value[:-1], value + "x"]
    )


def mutate(rng: random.Random, doc: dict[str, Any]) -> None:
    """One mutation at a random path of ``doc`` (in place)."""
    path = rng.choice([p for p in _paths(doc) if p])
    parent, key = _get(doc, path[:-1]), path[-1]
    value = parent[key]
    roll = rng.random()
    if roll < 0.45:
        parent[key] = json.loads(rng.choice(value_pool()[_shape(path)]))
    elif roll < 0.55:
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif roll < 0.6:
        parent[key] = None
    elif isinstance(value, bool):
        parent[key] = not value
    elif isinstance(value, int):
        parent[key] = _number(rng, value)
    elif isinstance(value, str):
        parent[key] = _string(rng, value)
    elif isinstance(value, list) and value:
        extra = rng.choice(value)
        parent[key] = rng.choice([value[1:], [*value, extra], list(reversed(value)), []])
    elif isinstance(value, dict) and value:
        del value[rng.choice(sorted(value))]


def _recheck_manifest(doc: dict[str, Any]) -> None:
    """Python checks manifest content against its schema before any engine sees it, and
    the policies read content only when that found nothing: keep the two consistent."""
    manifest = doc.get("manifest")
    if isinstance(manifest, dict) and isinstance(manifest.get("content"), dict):
        manifest["schema_errors"] = manifest_errors(manifest["content"])


def generated_inputs(count: int, seed: int = SEED) -> Iterator[tuple[int, GateInput]]:
    """``count`` valid gate inputs, each a corpus input with one to four mutations."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        doc = copy.deepcopy(rng.choice(corpus()))
        for _ in range(rng.randint(1, 4)):
            mutate(rng, doc)
        if rng.random() < 0.25:
            move_clock(rng, doc)
        _recheck_manifest(doc)
        try:
            gate_input = GateInput.model_validate(doc)
        except ValidationError:
            continue  # the runner refuses it before any engine sees it
        yield made, gate_input
        made += 1


# --------------------------------------------------------------------------- comparison


def decide(engine: Any, document: dict[str, Any], text: str) -> str:
    """The raw decision as canonical JSON, or the fact of an engine error."""
    try:
        return json.dumps(engine.evaluate(document, text), sort_keys=True)
    except EngineError:
        return "engine error"


def test_engines_decide_generated_inputs_identically(policy_sets: list[PolicySet]) -> None:
    require_opa_golib()
    from mlgate.engine.golib import GolibEngine

    engines = [(EmbeddedEngine(ps), GolibEngine(ps)) for ps in policy_sets]
    differences: list[str] = []
    codes: set[str] = set()
    decisions: set[str] = set()
    try:
        for index, gate_input in generated_inputs(INPUTS):
            document, text, _ = serialise(gate_input)
            regorus, opa = engines[index % len(engines)]
            by_regorus, by_opa = decide(regorus, document, text), decide(opa, document, text)
            if by_regorus != by_opa and len(differences) < 3:
                differences.append(
                    f"input #{index} (seed {SEED}, data copy {index % len(engines)}): "
                    f"{text}\n  regorus: {by_regorus}\n  opa:     {by_opa}"
                )
            decisions.add(by_regorus)
            if by_regorus != "engine error":
                for gate in json.loads(by_regorus)["gates"].values():
                    codes.update(v["code"] for v in gate["violations"])
    finally:
        for _, opa in engines:
            opa.close()
    assert not differences, "\n".join(differences)
    # The inputs are varied enough to mean something: every violation code shows up.
    assert codes == set(shipped().violation_meta), sorted(set(shipped().violation_meta) - codes)
    assert len(decisions) > INPUTS // 10


def test_generated_inputs_are_seeded() -> None:
    first = [gi.model_dump_json() for _, gi in generated_inputs(20)]
    assert first == [gi.model_dump_json() for _, gi in generated_inputs(20)]
    assert len(set(first)) == len(first)


def test_the_makefile_installs_the_pinned_bindings() -> None:
    from mlgate.engine.golib import BINDINGS_PACKAGE, BINDINGS_PIN

    makefile = (POLICIES.parent / "Makefile").read_text(encoding="utf-8")
    version = re.search(r"^OPA_GOLIB_VERSION := (\S+)$", makefile, re.MULTILINE)
    assert version and f"{BINDINGS_PACKAGE}=={version.group(1)}" == BINDINGS_PIN
