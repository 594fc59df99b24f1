"""The JSON Schemas are generated from the models and checked in: fail when stale."""

from __future__ import annotations

import json

import jsonschema
import pytest

from helpers import EXAMPLES, POLICIES, SCHEMAS
from mlgate.schemas import generate


@pytest.mark.parametrize("name", sorted(generate()))
def test_schema_is_not_stale(name: str) -> None:
    checked_in = (SCHEMAS / name).read_text(encoding="utf-8")
    assert checked_in == generate()[name], f"schemas/{name} is stale: run make schemas"


def _validate(schema_name: str, document: object) -> None:
    schema = json.loads((SCHEMAS / schema_name).read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)


def test_examples_validate_against_their_schemas() -> None:
    for name in ("gate_input_allowed.json", "gate_input_blocked.json"):
        _validate("gate_input.schema.json", json.loads((EXAMPLES / name).read_text()))
    _validate(
        "data_manifest.schema.json", json.loads((EXAMPLES / "data_manifest.json").read_text())
    )


def test_bundled_policy_data_validates() -> None:
    data = json.loads((POLICIES / "data.json").read_text())
    _validate("policy_data.schema.json", data["mlgate"]["config"])


def test_manifest_schema_rejects_an_unknown_kind() -> None:
    manifest = json.loads((EXAMPLES / "data_manifest.json").read_text())
    manifest["datasets"][0]["kind"] = "scraped"
    with pytest.raises(jsonschema.ValidationError):
        _validate("data_manifest.schema.json", manifest)


def test_schema_check_command_reports_stale(tmp_path) -> None:
    from mlgate.schemas import main

    assert main([str(tmp_path)]) == 0  # writes
    assert main(["--check", str(tmp_path)]) == 0
    (tmp_path / "decision.schema.json").write_text("{}")
    assert main(["--check", str(tmp_path)]) == 1
