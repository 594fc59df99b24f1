"""The conformance corpus: every case under tests/scenarios decides as its expected.json
says, on both engines, and the corpus exercises every violation code and gate status."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest

from helpers import POLICIES, SCENARIOS
from mlgate.engine.base import Engine
from mlgate.facts import parse_facts
from mlgate.models import Decision, GateInput
from mlgate.policy import PolicySet, bundled_declarations, load_policy_dir
from mlgate.runner import derived_contradictions, evaluate, make_engine

ENGINES = ["embedded", "opa"]
ESSENTIALS = ("allowed", "in_scope", "enforcement", "gates", "waivers_applied")
# The statuses a decision can carry: the runner refuses an engine's `error` outright.
DECIDED_STATUSES = {"pass", "fail", "waived", "not_applicable"}

CASES = sorted(p.name for p in SCENARIOS.iterdir() if (p / "input.json").is_file())


@cache
def gate_input(name: str) -> GateInput:
    document = json.loads((SCENARIOS / name / "input.json").read_text(encoding="utf-8"))
    return GateInput.model_validate(document)


@cache
def expected(name: str) -> dict[str, Any]:
    return json.loads((SCENARIOS / name / "expected.json").read_text(encoding="utf-8"))


def essentials(decision: Decision) -> dict[str, Any]:
    """What a scenario pins down: per gate its status and sorted violation codes."""
    return {
        "allowed": decision.allowed,
        "in_scope": decision.in_scope,
        "enforcement": decision.enforcement,
        "gates": {
            g.id: {"status": g.status, "codes": sorted(v.code for v in g.violations)}
            for g in decision.gates
        },
        "waivers_applied": decision.waivers_applied,
    }


def policy_codes() -> set[str]:
    """Every violation code literal in the gate policies (tests excluded), from the AST."""
    return set(load_policy_dir(POLICIES).violation_codes())


@cache
def shipped_gate_ids() -> tuple[str, ...]:
    """The shipped policy set's gates, in the order its required_gates lists them."""
    return load_policy_dir(POLICIES).gate_ids


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return load_policy_dir(POLICIES)


def opa_engine(request: pytest.FixtureRequest) -> Engine:
    from mlgate.engine.opa import OpaEngine

    url = request.getfixturevalue("opa_url")
    return OpaEngine(url, token=request.getfixturevalue("opa_token"), timeout=5.0)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, policy_set: PolicySet) -> Engine:
    if request.param == "embedded":
        return make_engine("embedded", policy_set)
    return opa_engine(request)


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("name", CASES)
def test_scenario_decides_as_expected(name: str, engine: Engine, policy_set: PolicySet) -> None:
    decision = evaluate(gate_input(name), engine, policy_set)
    want = {key: expected(name)[key] for key in ESSENTIALS}
    assert essentials(decision) == want


@pytest.mark.parametrize("name", CASES)
def test_engines_decide_identically(
    name: str, policy_set: PolicySet, request: pytest.FixtureRequest
) -> None:
    embedded = evaluate(gate_input(name), make_engine("embedded", policy_set), policy_set)
    opa = evaluate(gate_input(name), opa_engine(request), policy_set)
    assert essentials(opa) == essentials(embedded)
    # Messages are formatted from the engine's params: they must agree too.
    differs = {"decision_id", "engine", "policy_revision"}
    assert opa.model_dump(exclude=differs) == embedded.model_dump(exclude=differs)


# --------------------------------------------------------------------------- the corpus


@pytest.mark.parametrize("name", CASES)
def test_scenario_is_well_formed(name: str) -> None:
    want = expected(name)
    assert set(ESSENTIALS) <= set(want), f"{name}/expected.json lacks {set(ESSENTIALS) - set(want)}"
    assert list(want["gates"]) == list(shipped_gate_ids())
    for gate_id, gate in want["gates"].items():
        assert gate["status"] in DECIDED_STATUSES, f"{name}: {gate_id}"
        assert gate["codes"] == sorted(gate["codes"]), f"{name}: {gate_id} codes unsorted"
        assert all(code.startswith(gate_id + ".") for code in gate["codes"])
    assert want["enforcement"] in ("deny", "warn")
    assert want["in_scope"] in (True, False, None)


@pytest.mark.parametrize("name", CASES)
def test_scenario_facts_are_what_python_parses_from_its_tags(name: str) -> None:
    document = gate_input(name)
    if expected(name).get("forged"):
        # A document no mlgate builds, for clients of an OPA server: the Rego blocks it
        # by itself (above), and `check --input` refuses it outright.
        assert derived_contradictions(document), f"{name} is marked forged but consistent"
        return
    facts, digest = parse_facts(document.tags, bundled_declarations())
    assert facts == document.facts
    assert digest == document.manifest.digest_tagged
    assert derived_contradictions(document) == []


def test_corpus_covers_every_violation_code() -> None:
    in_policies = policy_codes()
    assert len(in_policies) > len(shipped_gate_ids()), "no code literals parsed from policies/gates"
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
