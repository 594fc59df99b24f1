"""Issue 9, A.4: targets are validated exactly as MLflow validates aliases and stages.

``mlgate.targets`` reimplements MLflow's rules so that ``check --input`` never imports
mlflow; the hypothesis tests here call MLflow's own validators and prove the two agree
(mlgate refusing, in addition, control characters such as the trailing newline MLflow's
``$`` lets through). Contract section 7: an alias that folds to a protected one is that
alias (ASCII case) or refused.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from helpers import EXAMPLES, mlgate, one_error_line
from mlgate.errors import InputError
from mlgate.names import has_control_characters
from mlgate.targets import STAGES, alias_problem, stage_problem, validate_target

BLOCKED = str(EXAMPLES / "gate_input_blocked.json")
PROTECTED = ["production", "public", "champion"]

BAD_TARGETS = ["", " production", "production ", "bad alias!", "production\n", "prod\x1buction",
               "prod\tuction", "latest", "LATEST", "v3", "V12"]
LOOKALIKES = ["prodúction", "PRODUCTİON", "publıc", "chámpion", "ｐｒｏｄｕｃｔｉｏｎ",
              "prоduction", "produc\u200btion"]  # accent, dotted I, dotless i, full-width,
# Cyrillic o, zero-width space (refused as invisible before folding)


def mlflow_accepts_alias(alias: str) -> bool:
    """MLflow's SQL store's checks before it sets an alias."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import (
        _validate_model_alias_name,
        _validate_model_alias_name_reserved,
    )

    try:
        _validate_model_alias_name(alias)
        _validate_model_alias_name_reserved(alias)
    except MlflowException:
        return False
    return True


def mlflow_accepts_stage(stage: str) -> bool:
    from mlflow.entities.model_registry.model_version_stages import get_canonical_stage
    from mlflow.exceptions import MlflowException

    try:
        get_canonical_stage(stage)
    except MlflowException:
        return False
    return True


# Names near the rules' edges: word characters of every script, dashes, digits, the
# reserved names, whitespace and controls, and long runs around the 255 limit.
_edges = "abcvVlLtTeEsS019_-. !@\n\t\r\x00\x1b\u200b\u212aİıúéſ٣"  # Kelvin sign, Arabic 3
_alphabet = st.sampled_from(list(_edges)) | st.characters()
alias_like = (
    st.text(alphabet=_alphabet, max_size=12)
    | st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "-"]), st.integers(250, 260))
    | st.builds(lambda p, n, s: f"{p}{n}{s}", st.sampled_from(["v", "V", ""]),
                st.integers(0, 10**6), st.sampled_from(["", "\n", " ", "x"]))
    | st.sampled_from(["latest", "LATEST", "Latest\n", "lateſt", *BAD_TARGETS, *LOOKALIKES])
)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alias_like)
@example("production\n")
@example("a" * 255)
@example("a" * 256)
def test_alias_rules_are_mlflows_plus_no_control_characters(alias: str) -> None:
    ours = alias_problem(alias) is None
    assert ours == (mlflow_accepts_alias(alias) and not has_control_characters(alias))


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from([*STAGES, "production", "STAGING", " Production", "Production\n",
                        "Prod", "", "None ", "ſtaging", "PRODUCTİON"]) | st.text(max_size=12))
def test_stage_rules_are_mlflows(stage: str) -> None:
    assert (stage_problem(stage) is None) == mlflow_accepts_stage(stage)


@pytest.mark.parametrize("name", LOOKALIKES)
def test_lookalike_of_a_protected_alias_is_refused(name: str) -> None:
    with pytest.raises(InputError):
        validate_target(name, "alias", PROTECTED)


@pytest.mark.parametrize("name", ["production", "PRODUCTION", "Production", "Public", "CHAMPION"])
def test_ascii_case_variant_is_the_protected_alias(name: str) -> None:
    assert validate_target(name, "alias", PROTECTED) == name


# --------------------------------------------------------------------------- the CLI


@pytest.mark.parametrize("target", BAD_TARGETS + LOOKALIKES)
def test_check_input_refuses_a_bad_target(target: str) -> None:
    line = one_error_line(mlgate("check", "--input", BLOCKED, "--target", target))
    assert "--target" in line


def test_check_input_enforces_a_case_variant_of_production() -> None:
    run = mlgate("check", "--input", BLOCKED, "--target", "PRODUCTION", "-f", "json")
    assert run.exit_code == 1
    assert run.json()["enforcement"] == "deny"


@pytest.mark.parametrize("stage", ["", " Production", "Production ", "Prod", "production\n"])
def test_check_input_refuses_a_bad_stage(stage: str) -> None:
    line = one_error_line(mlgate("check", "--input", BLOCKED, "--stage", "--target", stage))
    assert "--target" in line and "stage" in line


def test_check_input_refuses_a_document_whose_own_target_is_invalid(tmp_path) -> None:
    import json
    from pathlib import Path

    doc = json.loads(Path(BLOCKED).read_text(encoding="utf-8"))
    doc["request"]["target"] = "production "
    path = tmp_path / "padded.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    line = one_error_line(mlgate("check", "--input", str(path)))
    assert "request.target" in line and "padded.json" in line


@pytest.mark.parametrize("target", ["", " production", "production ", "bad alias!", "prodúction"])
def test_check_registry_version_refuses_a_bad_target(
    registry: RegistryHelper, target: str
) -> None:
    registry.create_version("chat", compliant_tags())
    line = one_error_line(mlgate("check", "chat", "1", *registry.args, "--target", target))
    assert "--target" in line


@pytest.mark.parametrize("alias", ["", "production ", "prodúction", "PRODUCTİON", "v2"])
def test_promote_refuses_a_bad_or_lookalike_alias(registry: RegistryHelper, alias: str) -> None:
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    line = one_error_line(mlgate("promote", "chat", "1", "--alias", alias, *registry.args,
                                 "--decision-log", f"sqlite:///{registry.root / 'log.db'}"))
    assert "--alias" in line
    assert registry.aliases("chat") == {}
