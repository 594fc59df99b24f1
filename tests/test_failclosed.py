"""Fail-open holes on the policy and input side (issue 9, A.2, A.5, A.7): each test here
failed on the code before its fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers import EXAMPLES, POLICIES
from mlgate.errors import EngineError
from mlgate.models import PolicyConfig
from mlgate.policy import load_policy_dir
from mlgate.runner import enforcement_for, evaluate, load_gate_input, make_engine

BLOCKED = EXAMPLES / "gate_input_blocked.json"


def policy_copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


# --------------------------------------------------------------------------- A.7


@pytest.mark.parametrize(
    "alias", ["production", "PRODUCTION", "prodúction", "PRODUCTİON", "publıc", "chámpion",
              "ｐｒｏｄｕｃｔｉｏｎ", "prod\u200buction"]
)
def test_an_alias_that_folds_to_a_protected_one_is_enforced(alias: str) -> None:
    assert enforcement_for(alias, "alias", PolicyConfig()) == "deny"


@pytest.mark.parametrize("alias", ["staging", "candidate", "productions"])
def test_other_aliases_warn(alias: str) -> None:
    assert enforcement_for(alias, "alias", PolicyConfig()) == "warn"


def test_an_engine_answering_warn_for_a_protected_target_is_an_engine_error(
    tmp_path: Path,
) -> None:
    # A stale or foreign policy set that says warn for everything: a real embedded
    # engine evaluating the bundled policies with the enforcement rule replaced.
    root = policy_copy(tmp_path)
    main = root / "main" / "main.rego"
    source = main.read_text()
    source = source.replace('default enforcement := "deny"', 'default enforcement := "warn"')
    source = source.replace('\tinput.request.enforcement == "warn"\n\tnot protected_target\n',
                            "\ttrue\n")
    main.write_text(source)
    policy_set = load_policy_dir(root)
    gate_input = load_gate_input(BLOCKED)
    with pytest.raises(EngineError, match="enforcement=warn.*makes it deny"):
        evaluate(gate_input, make_engine("embedded", policy_set), policy_set)


def test_the_bundled_policies_agree_with_python_on_enforcement() -> None:
    policy_set = load_policy_dir(POLICIES)
    engine = make_engine("embedded", policy_set)
    decision = evaluate(load_gate_input(BLOCKED), engine, policy_set)
    assert decision.enforcement == "deny" and not decision.allowed
    document = json.loads(BLOCKED.read_text())
    assert document["request"]["target"] == "production"
