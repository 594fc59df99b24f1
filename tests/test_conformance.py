"""The conformance corpus: every case under policies/scenarios decides as its expected.json
says, on both engines, at the current time and at other moments, and the corpus exercises
every violation code and gate status.

The cases are read and decided by :mod:`mlgate.scenarios` (what ``mlgate policy verify``
and ``mlgate policy scenario regen`` use): ``base.json`` with each case's merge patch, its
time tokens resolved at the evaluation time, decided under its own policy data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from fixtures_opa import require_opa_golib
from helpers import CORPUS_NOW, POLICIES, SCENARIOS, scenario, scenario_names
from mlgate.engine.base import Engine
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.facts import parse_facts
from mlgate.models import Decision, GateInput
from mlgate.policy import PolicySet, bundled_declarations, load_policy_dir
from mlgate.runner import derived_contradictions
from mlgate.scenarios import (
    ESSENTIALS,
    EnginePool,
    Scenario,
    decide,
    gate_input,
    in_process_opa,
    load_base,
    pinned,
    policy_set_for,
)

ENGINES = ["embedded", "opa"]
# The statuses a decision can carry: the runner refuses an engine's `error` outright.
DECIDED_STATUSES = {"pass", "fail", "waived", "not_applicable"}
# Moments the corpus must decide the same at: the one it was written for, a leap day at
# midnight, the last second of a year; the tests add the current time.
MOMENTS = [
    CORPUS_NOW,
    datetime(2028, 2, 29, 0, 0, tzinfo=UTC),
    datetime(2031, 12, 31, 23, 59, 59, tzinfo=UTC),
]

CASES = scenario_names()


@cache
def base() -> dict[str, Any]:
    return load_base(SCENARIOS)


def case(name: str) -> Scenario:
    found: Scenario = scenario(name)
    return found


def expected(name: str) -> dict[str, Any]:
    want = case(name).expected
    assert want is not None, f"{name}: expected.json missing (mlgate policy scenario regen)"
    return want


@cache
def document(name: str) -> GateInput:
    return gate_input(base(), case(name), CORPUS_NOW)


def policy_codes() -> set[str]:
    """Every violation code literal in the gate policies (tests excluded), from the AST."""
    return set(load_policy_dir(POLICIES).violation_codes())


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policy_dir(POLICIES)


@pytest.fixture(scope="module")
def embedded_pool() -> EnginePool:
    return EnginePool(EmbeddedEngine)


def opa_pool(request: pytest.FixtureRequest, policy_set: PolicySet) -> EnginePool:
    """OPA: the REST server holding the bundled policies for cases on the shipped data
    (our HTTP client on the way), OPA's Go library in-process for a case's own data."""
    from mlgate.engine.opa import OpaEngine

    url = request.getfixturevalue("opa_url")
    token = request.getfixturevalue("opa_token")

    def factory(effective: PolicySet) -> Engine:
        if effective is policy_set:
            return OpaEngine(url, token=token, timeout=5.0)
        require_opa_golib()
        return in_process_opa(effective)

    return EnginePool(factory)


@pytest.fixture(params=ENGINES)
def pool(
    request: pytest.FixtureRequest, policy_set: PolicySet, embedded_pool: EnginePool
) -> EnginePool:
    if request.param == "embedded":
        return embedded_pool
    return opa_pool(request, policy_set)


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("name", CASES)
def test_scenario_decides_as_expected_now(
    name: str, pool: EnginePool, policy_set: PolicySet
) -> None:
    decision = decide(base(), case(name), policy_set, pool)  # at this moment
    assert essentials_of(decision) == pinned(expected(name))


@pytest.mark.parametrize("moment", MOMENTS, ids=lambda m: m.isoformat())
@pytest.mark.parametrize("name", CASES)
def test_scenario_decides_the_same_at_any_moment(
    name: str, moment: datetime, policy_set: PolicySet, embedded_pool: EnginePool
) -> None:
    decision = decide(base(), case(name), policy_set, embedded_pool, moment)
    assert essentials_of(decision) == pinned(expected(name))


@pytest.mark.parametrize("name", CASES)
def test_engines_decide_identically(
    name: str, policy_set: PolicySet, embedded_pool: EnginePool, request: pytest.FixtureRequest
) -> None:
    embedded = decide(base(), case(name), policy_set, embedded_pool, CORPUS_NOW)
    opa = decide(base(), case(name), policy_set, opa_pool(request, policy_set), CORPUS_NOW)
    # Messages are formatted from the engine's params: they must agree too.
    differs = {"decision_id", "engine", "policy_revision"}
    assert opa.model_dump(exclude=differs) == embedded.model_dump(exclude=differs)


def essentials_of(decision: Decision) -> dict[str, Any]:
    from mlgate.scenarios import essentials

    return essentials(decision)


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("name", CASES)
def test_scenario_is_well_formed(name: str, policy_set: PolicySet) -> None:
    want = expected(name)
    assert set(want) == set(ESSENTIALS), f"{name}/expected.json: keys {sorted(want)}"
    all_pass = decide(base(), case("all_pass"), policy_set, EnginePool(EmbeddedEngine))
    # Four eyes (promotion) follows the gates while a case's policy data switches it on.
    gates = [g for g in want["gates"] if g != "promotion"]
    assert gates == [g.id for g in all_pass.gates], "gates in the policies' order"
    assert list(want["gates"])[len(gates):] in ([], ["promotion"]), "promotion comes last"
    for gate_id, gate in want["gates"].items():
        assert gate["status"] in DECIDED_STATUSES, f"{name}: {gate_id}"
        assert gate["codes"] == sorted(gate["codes"]), f"{name}: {gate_id} codes unsorted"
        assert all(code.startswith(gate_id + ".") for code in gate["codes"])
    assert want["enforcement"] in ("deny", "warn")
    assert want["in_scope"] in (True, False, None)
    assert case(name).description.strip(), f"{name}: scenario.json has no description"


@pytest.mark.parametrize("name", CASES)
def test_scenario_facts_are_what_python_parses_from_its_tags(name: str) -> None:
    doc = document(name)
    if case(name).forged:
        # A document no mlgate builds, for clients of an OPA server: the Rego blocks it
        # by itself (above), and `check --input` refuses it outright.
        assert derived_contradictions(doc), f"{name} is marked forged but consistent"
        return
    facts, digest = parse_facts(doc.tags, bundled_declarations())
    assert facts == doc.facts
    assert digest == doc.manifest.digest_tagged
    assert derived_contradictions(doc) == []


def test_policy_data_of_a_case_reaches_the_engines(policy_set: PolicySet) -> None:
    """A case's policy_data is what its engines get (and nothing else changes)."""
    pinned_case = case("assessment_366_days")
    assert pinned_case.policy_data == {"assessment": {"max_age_days": 365}}
    loose = replace(pinned_case, policy_data={"assessment": {"max_age_days": 400}})
    effective = policy_set_for(policy_set, loose)
    assert effective.modules == policy_set.modules
    assert effective.revision == policy_set.revision
    assert effective.data["mlgate"]["config"]["assessment"]["max_age_days"] == 400
    assert effective.config.gate_setting("assessment", "max_age_days") == 400
    pool = EnginePool(EmbeddedEngine)
    assert decide(base(), loose, policy_set, pool).allowed
    assert not decide(base(), pinned_case, policy_set, pool).allowed


def test_corpus_covers_every_violation_code() -> None:
    in_policies = policy_codes()
    assert len(in_policies) > 5, "no code literals parsed from policies/gates"
    covered = {
        code
        for name in CASES
        for gate in expected(name)["gates"].values()
        for code in gate["codes"]
    }
    assert sorted(in_policies - covered) == [], "violation codes no scenario triggers"
    assert sorted(covered - in_policies) == [], "scenarios expect codes the policies lack"


def test_corpus_covers_every_gate_status() -> None:
    seen = {gate["status"] for name in CASES for gate in expected(name)["gates"].values()}
    assert seen == DECIDED_STATUSES


def test_corpus_covers_both_enforcements_and_every_scope_outcome() -> None:
    outcomes = {(expected(name)["enforcement"], expected(name)["allowed"]) for name in CASES}
    assert outcomes == {("deny", True), ("deny", False), ("warn", True)}
    assert {expected(name)["in_scope"] for name in CASES} == {True, False, None}
