"""The data manifest is validated strictly, and the published JSON Schema and the pydantic
model accept exactly the same documents (issue 9, A.3).

Lax parsing let ``"labeling": {"used": "true"}`` through `manifest validate` and `attach`;
Rego then never saw ``used == true`` and the labeling duties went unchecked.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, ROOT, mlgate
from mlgate.facts import manifest_errors

SCHEMA = json.loads((ROOT / "schemas" / "data_manifest.schema.json").read_text())
VALID = json.loads((EXAMPLES / "data_manifest.json").read_text())


def schema_accepts(document: Any) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(SCHEMA).is_valid(document)


def model_accepts(document: Any) -> bool:
    return manifest_errors(document) == []


def patched(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    node = document
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return document


ILL_TYPED = [
    (("labeling", "used"), "true"),
    (("labeling", "used"), 1),
    (("labeling", "used"), "yes"),
    (("labeling", "rules_documented"), "true"),
    (("datasets", 0, "records"), True),
    (("datasets", 0, "records"), "12"),
    (("datasets", 0, "legitimate_source"), 1),
    (("datasets", 0, "ip_cleared"), "true"),
    (("datasets", 0, "personal_info_consent"), "yes"),
    (("datasets", 0, "sha256"), "a" * 64 + "\n"),
    (("foundation_models", 0, "legitimate_source"), 1.0),
    (("manifest_version",), True),
    (("manifest_version",), "1"),
    (("quality_measures",), "deduplication"),
]


@pytest.mark.parametrize(("path", "value"), ILL_TYPED, ids=lambda x: repr(x))
def test_ill_typed_values_are_rejected_by_model_and_schema(
    path: tuple[Any, ...], value: Any
) -> None:
    document = patched(path, value)
    assert not model_accepts(document)
    assert not schema_accepts(document)


@pytest.mark.parametrize(("path", "value"), [(("datasets", 0, "records"), 12.0),
                                             (("manifest_version",), 1.0)])
def test_integral_numbers_are_integers_for_both(path: tuple[Any, ...], value: Any) -> None:
    # JSON does not tell 12 from 12.0; JSON Schema's "integer" accepts both.
    document = patched(path, value)
    assert model_accepts(document) and schema_accepts(document)


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"'])
def test_manifest_validate_rejects_a_string_or_number_for_labeling_used(
    tmp_path: Any, value: str
) -> None:
    text = json.dumps(VALID).replace('"used": true', f'"used": {value}')
    assert text != json.dumps(VALID)
    path = tmp_path / "manifest.json"
    path.write_text(text)
    run = mlgate("manifest", "validate", str(path))
    assert run.exit_code != 0
    assert "labeling.used" in run.stdout + run.stderr


# --------------------------------------------------------------------------- agreement

# Scalars a mutation may put anywhere; lone surrogates are left out (another test covers
# them: they are not valid UTF-8, so no manifest file can hold one).
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=70)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 1.0, -1, 0.5, "", "true", "1", "a" * 64, "A" * 64 + "\n"]),
    _TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


PATHS = _paths(VALID)


@st.composite
def mutated_manifests(draw: st.DrawFn) -> Any:
    """The example manifest with one to three values replaced, deleted or extended."""
    document = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = document
        try:
            for key in path[:-1]:
                parent = parent[key]
            action = draw(st.sampled_from(["replace", "delete", "add"]))
            if action == "replace":
                parent[path[-1]] = draw(JSON)
            elif action == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            elif isinstance(parent, dict):
                parent[draw(_TEXT)] = draw(JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or retyped the path
    return document


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_manifests())
def test_model_and_published_schema_agree_on_mutated_manifests(document: Any) -> None:
    assert model_accepts(document) == schema_accepts(document), document


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_model_and_published_schema_agree_on_any_json(document: Any) -> None:
    assert model_accepts(document) == schema_accepts(document), document


# --------------------------------------------------------------------------- safety sampling

# The v1 extension (GB/T 45654-2025, contract §7): optional per dataset, and strict.
SAMPLED = patched(
    ("datasets", 0, "safety_sampling"), {"sample_size": 4000, "violation_rate": 0.012}
)


def sampling_contract_accepts(value: Any) -> bool:
    """The oracle, from the contract: absent or null, or an object whose sample_size is an
    integer >= 0 (12.0 too, JSON does not tell them apart; never a boolean) and whose
    violation_rate is a number in [0, 1] (never a boolean); other keys are kept."""
    if value is None:
        return True
    if not isinstance(value, dict) or not {"sample_size", "violation_rate"} <= set(value):
        return False
    size, rate = value["sample_size"], value["violation_rate"]
    size_ok = (
        not isinstance(size, bool)
        and isinstance(size, int | float)
        and float(size).is_integer()
        and size >= 0
    )
    rate_ok = not isinstance(rate, bool) and isinstance(rate, int | float) and 0 <= rate <= 1
    return size_ok and rate_ok


def test_a_manifest_without_safety_sampling_stays_valid() -> None:
    assert "safety_sampling" not in json.dumps(VALID)
    assert model_accepts(VALID) and schema_accepts(VALID)
    assert model_accepts(SAMPLED) and schema_accepts(SAMPLED)


@pytest.mark.parametrize(
    "value",
    [
        {"sample_size": "4000", "violation_rate": 0.01},
        {"sample_size": True, "violation_rate": 0.01},
        {"sample_size": -1, "violation_rate": 0.01},
        {"sample_size": 4000.5, "violation_rate": 0.01},
        {"sample_size": 4000, "violation_rate": "0.01"},
        {"sample_size": 4000, "violation_rate": False},
        {"sample_size": 4000, "violation_rate": 1.01},
        {"sample_size": 4000, "violation_rate": -0.01},
        {"sample_size": 4000},
        {"violation_rate": 0.01},
        "4000",
        [4000, 0.01],
    ],
    ids=repr,
)
def test_ill_typed_safety_sampling_is_rejected_by_model_and_schema(value: Any) -> None:
    document = patched(("datasets", 0, "safety_sampling"), value)
    assert not sampling_contract_accepts(value)
    assert not model_accepts(document)
    assert not schema_accepts(document)


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"sample_size": 0, "violation_rate": 0},
        {"sample_size": 4000, "violation_rate": 1},
        {"sample_size": 4000.0, "violation_rate": 0.05},
        {"sample_size": 4000, "violation_rate": 0.05, "method": "manual review"},
    ],
    ids=repr,
)
def test_safety_sampling_at_its_bounds_is_accepted_by_both(value: Any) -> None:
    document = patched(("datasets", 0, "safety_sampling"), value)
    assert sampling_contract_accepts(value)
    assert model_accepts(document) and schema_accepts(document)


_NUMBER = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 1, 0.0, 1.0, 0.05, 4000, 4000.0, -1, 1.0000001]),
)
SAMPLINGS = st.one_of(
    JSON,
    st.fixed_dictionaries(
        {},
        optional={
            "sample_size": st.one_of(_NUMBER, SCALARS),
            "violation_rate": st.one_of(_NUMBER, SCALARS),
            "note": SCALARS,
        },
    ),
)


@settings(max_examples=600, deadline=None)
@given(SAMPLINGS, st.sampled_from([0, 1]))
def test_safety_sampling_follows_the_contract_in_model_and_schema(
    value: Any, index: int
) -> None:
    document = patched(("datasets", index, "safety_sampling"), value)
    want = sampling_contract_accepts(value)
    assert model_accepts(document) == want, value
    assert schema_accepts(document) == want, value
