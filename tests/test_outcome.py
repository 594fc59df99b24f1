"""``Decision.outcome``: the one place a decision's wording is decided (issue 11).

Each outcome comes from a real decision (the embedded engine on the bundled policies,
through :func:`mlgate.gate.decide`), and every renderer that words a decision says the
same: the table, markdown and github reports, the decision log's text (``mlgate log``,
the demo), the release managers' page. A property test then holds the wording to the
contract for any gate statuses, enforcement and scope.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures_mlflow import compliant_tags, example_manifest, out_of_scope_tags
from mlgate import gate
from mlgate.cli import EngineChoice, load_engine
from mlgate.decisionlog import DecisionLog
from mlgate.facts import DIGEST_TAG, sha256_hex
from mlgate.gate_input import Evidence
from mlgate.models import Decision
from mlgate.output import github, markdown, table
from mlgate.output.common import count_line, verdict, verdict_reason, would_block_under_deny
from mlgate.output.log import render_table
from mlgate.registry.app import to_row

GATES = ("scope", "filing", "assessment", "labeling", "data_manifest")


@cache
def _engine() -> tuple[Any, Any]:
    return load_engine(None, EngineChoice.embedded, None, None, 5.0)


def _evidence(tags: dict[str, str], manifest: bytes | None) -> Evidence:
    return Evidence(model="chat", version="1", source="test", tags=tags, aliases=[],
                    manifest=manifest)


def _decide(case: str) -> tuple[Decision, Any]:
    """A real decision of each outcome: compliant with its manifest (allowed), without it
    for production (blocked) and for staging (warn), a research model (out of scope)."""
    manifest = json.dumps(example_manifest()).encode()
    compliant = {**compliant_tags(), DIGEST_TAG: sha256_hex(manifest)}
    evidence, target = {
        "allowed": (_evidence(compliant, manifest), "production"),
        "blocked": (_evidence(compliant_tags(), None), "production"),
        "warn": (_evidence(compliant_tags(), None), "staging"),
        "out of scope": (_evidence(out_of_scope_tags(), None), "production"),
    }[case]
    policy_set, engine = _engine()
    return gate.decide(evidence, target, "alias", engine, policy_set)


# What each renderer says for each outcome: the verdict line of the table (and of the
# markdown heading, without the enforcement), the github annotation level of the
# violations, the log's verdict word and failing-gate label, the page's word and class.
WORDING: dict[str, dict[str, Any]] = {
    "allowed": {
        # The gates switched off by default (contract section 7) do not apply.
        "table": "chat v1 -> production: ALLOWED: every gate passed or does not apply",
        "markdown": "ALLOWED: every gate passed or does not apply",
        "github": set(),
        "log": ("ALLOWED", None),
        "page": ("allowed", "allowed"),
    },
    "blocked": {
        "table": "chat v1 -> production: BLOCKED (enforcement deny)",
        "markdown": "BLOCKED",
        "github": {"::error"},
        "log": ("BLOCKED", "FAIL"),
        "page": ("blocked", "blocked"),
    },
    "warn": {
        "table": "chat v1 -> staging: ALLOWED (enforcement warn)",
        "markdown": "ALLOWED",
        "github": {"::warning"},
        "log": ("ALLOWED", "WARN"),
        "page": ("allowed (warn)", "warned"),
    },
    "out of scope": {
        "table": "chat v1 -> production: ALLOWED: every gate passed or does not apply",
        "markdown": "ALLOWED: every gate passed or does not apply",
        "github": set(),
        "log": ("ALLOWED", None),
        "page": ("allowed", "allowed"),
    },
}


@pytest.mark.parametrize("case", sorted(WORDING))
def test_each_outcome_is_what_the_decision_says(case: str) -> None:
    decision, _ = _decide(case)
    assert decision.outcome == case
    # The outcome agrees with the fields it is computed from.
    assert decision.allowed is (case != "blocked")
    assert bool(decision.blocking_gates) is (case in ("blocked", "warn"))
    assert (decision.in_scope is False) is (case == "out of scope")


@pytest.mark.parametrize("case", sorted(WORDING))
def test_every_report_words_the_outcome_alike(case: str) -> None:
    decision, _ = _decide(case)
    words = WORDING[case]
    assert table.render([decision]).splitlines()[0] == words["table"]
    assert markdown.render([decision]).splitlines()[0].endswith(": " + words["markdown"])
    levels = {line.split(" ", 1)[0] for line in github.render([decision]).splitlines()
              if line.startswith("::")}
    assert levels == words["github"]
    assert ("would be blocked under deny" in table.render([decision])) is (case == "warn")


@pytest.mark.parametrize("case", sorted(WORDING))
def test_the_log_and_the_page_word_a_logged_decision_alike(case: str, tmp_path: Path) -> None:
    decision, gate_input = _decide(case)
    with DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}") as log:
        gate.record(log, decision, gate_input, actor="tester", source="cli")
        [entry] = log.entries()
        text = render_table([entry], log.masked_url)
    word, label = WORDING[case]["log"]
    lines = text.splitlines()
    assert lines[0].endswith(", 1 blocked" if case == "blocked" else ", 0 blocked")
    assert lines[2].startswith(f"{word}  chat v1 -> ")
    gate_labels = {line.split()[0] for line in lines if line.startswith("  ") and
                   not line.startswith("   ") and line.split()[0] in ("FAIL", "WARN")}
    assert gate_labels == (set() if label is None else {label})
    row = to_row(entry)
    assert (row.outcome, row.css) == WORDING[case]["page"]


# --------------------------------------------------------------------------- property


def _contract_outcome(statuses: list[str], enforcement: str, in_scope: bool | None) -> str:
    """The contract's reading: a failing (or errored) gate blocks a protected target
    (deny); any other target is warn: evaluated, reported, allowed. A version out of
    scope has nothing to comply with. Otherwise allowed."""
    failing = any(s in ("fail", "error") for s in statuses)
    if failing:
        return "blocked" if enforcement == "deny" else "warn"
    return "out of scope" if in_scope is False else "allowed"


def _decision(statuses: list[str], enforcement: str, in_scope: bool | None) -> Decision:
    passing = all(s in ("pass", "waived", "not_applicable") for s in statuses)
    return Decision.model_validate({
        "decision_id": "00000000-0000-0000-0000-000000000000",
        "model": "m", "version": "1", "target": "t",
        "allowed": passing or enforcement == "warn",  # the runner's rule
        "in_scope": in_scope, "enforcement": enforcement,
        "gates": [{"id": g, "title": g, "status": s}
                  for g, s in zip(GATES, statuses, strict=True)],
        "policy_revision": "r", "engine": "embedded", "input_sha256": "0" * 64,
        "evaluated_at": "2026-01-01T00:00:00Z",
    })


@given(
    st.lists(st.lists(st.sampled_from(["pass", "fail", "waived", "not_applicable", "error"]),
                      min_size=5, max_size=5), min_size=1, max_size=4),
    st.lists(st.sampled_from(["deny", "warn"]), min_size=4, max_size=4),
    st.lists(st.sampled_from([True, False, None]), min_size=4, max_size=4),
)
def test_the_outcome_follows_the_contract_for_any_statuses(
    statuses: list[list[str]], enforcements: list[str], scopes: list[bool | None]
) -> None:
    cases = list(zip(statuses, enforcements, scopes, strict=False))
    decisions = [_decision(*case) for case in cases]
    expected = [_contract_outcome(*case) for case in cases]
    assert [d.outcome for d in decisions] == expected
    for decision, outcome in zip(decisions, expected, strict=True):
        assert verdict(decision) == ("BLOCKED" if outcome == "blocked" else "ALLOWED")
        assert would_block_under_deny(decision) is (outcome == "warn")
    blocked = expected.count("blocked")
    line = count_line(decisions)
    assert f": {blocked} blocked, {len(decisions) - blocked} allowed" in line
    assert ("would be blocked under deny" in line) is ("warn" in expected)


@pytest.mark.parametrize(("statuses", "reason"), [
    (["pass"] * 5, ": every gate passed"),
    (["pass"] * 4 + ["not_applicable"], ": every gate passed or does not apply"),
    (["pass"] * 4 + ["waived"], ": every gate passed or was waived"),
    (["pass", "pass", "pass", "waived", "not_applicable"],
     ": every gate passed, was waived or does not apply"),
    (["pass"] * 4 + ["fail"], " (enforcement deny)"),
])
def test_the_allowed_wording_names_each_kind_of_gate_that_let_it_through(
    statuses: list[str], reason: str
) -> None:
    assert verdict_reason(_decision(statuses, "deny", True)) == reason
