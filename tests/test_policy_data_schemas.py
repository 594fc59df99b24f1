"""Gates bring their own policy data (issue 17 item 2): each section of ``mlgate.config``
is validated by the ``data.schema.json`` beside its gate, defaults come from there, and
every refusal is one line (exit 2) naming the file, the dotted path, what was expected
and what was found. The validator is held to ``jsonschema``'s verdicts on random
documents."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, POLICIES, mlgate, one_error_line, policy_refusal
from mlgate.errors import PolicyError
from mlgate.jsonsubset import check_schema, first_error
from mlgate.policy import load_policy_dir
from mlgate.policydata import assemble, fill_defaults

BLOCKED = EXAMPLES / "gate_input_blocked.json"
COMPLAINTS_SCHEMA = {
    "title": "complaints gate settings",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "max_response_days": {"type": "integer", "minimum": 1, "default": 30},
        "channels": {
            "type": "array",
            "items": {"enum": ["web", "phone", "email"]},
            "minItems": 1,
            "uniqueItems": True,
            "default": ["web"],
        },
    },
}


def policy_copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def set_config(root: Path, dotted: str, value: Any) -> None:
    path = root / "data.json"
    data = json.loads(path.read_text())
    *parents, last = dotted.split(".")
    node = data["mlgate"]["config"]
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    path.write_text(json.dumps(data, indent=2))


def write_schema(root: Path, relative: str, schema: Any) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(schema if isinstance(schema, str) else json.dumps(schema, indent=2))
    return path



# --------------------------------------------------------------------------- sections


def test_an_unknown_section_names_the_schema_that_would_declare_it(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    set_config(root, "complaints.max_response_days", 30)
    line = policy_refusal(root)
    assert line == (
        f"mlgate: error: {root}/data.json: mlgate.config.complaints: no gate declares this "
        f"section (a gate 'complaints' would declare it in "
        f"{root}/gates/complaints/data.schema.json)"
    )


def test_an_unknown_section_close_to_a_gate_suggests_it(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    set_config(root, "assesment.max_age_days", 30)
    assert policy_refusal(root).endswith("; did you mean assessment?")


def test_an_unknown_section_of_a_gate_without_schema_says_so(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    (root / "gates" / "complaints").mkdir()
    (root / "gates" / "complaints" / "complaints.rego").write_text(
        "package mlgate.gates.complaints\n\nresult := {}\n"
    )
    set_config(root, "complaints.max_response_days", 30)
    line = policy_refusal(root)
    assert (
        "mlgate.config.complaints: no gate declares this section: package "
        f"mlgate.gates.complaints exists ({root}/gates/complaints/complaints.rego) but has "
        f"no schema; add {root}/gates/complaints/data.schema.json"
    ) in line


def test_a_new_gates_section_is_accepted_once_its_schema_exists(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    set_config(root, "complaints.max_response_days", 10)
    write_schema(root, "gates/complaints/data.schema.json", COMPLAINTS_SCHEMA)
    policy_set = load_policy_dir(root)
    # The engines get the section with the schema's default filled in.
    assert policy_set.data["mlgate"]["config"]["complaints"] == {
        "max_response_days": 10,
        "channels": ["web"],
    }
    assert policy_set.defaults_used == ["mlgate.config.complaints.channels"]
    run = mlgate("check", "--input", str(BLOCKED), "--policies", str(root))
    assert run.exit_code == 1, run.stdout + run.stderr
    run = mlgate("policy", "check", "--policies", str(root))
    assert (
        'data.json:1: mlgate.config.complaints.channels is missing; the engines use the '
        'default ["web"]: write it out in data.json'
    ) in run.stdout


def test_a_gate_schema_fills_its_whole_section_when_data_json_has_none(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    write_schema(root, "gates/complaints/data.schema.json", COMPLAINTS_SCHEMA)
    policy_set = load_policy_dir(root)
    assert policy_set.data["mlgate"]["config"]["complaints"] == {
        "max_response_days": 30,
        "channels": ["web"],
    }
    run = mlgate("policy", "check", "--policies", str(root))
    assert (
        "mlgate.config.complaints is missing; the engines use the default "
        '{"max_response_days": 30, "channels": ["web"]}'
    ) in run.stdout


def test_a_required_key_without_default_is_refused_when_its_section_is_left_out(
    tmp_path: Path,
) -> None:
    root = policy_copy(tmp_path)
    schema = {**COMPLAINTS_SCHEMA, "required": ["contact"],
              "properties": {"contact": {"type": "string", "minLength": 1}}}
    write_schema(root, "gates/complaints/data.schema.json", schema)
    assert policy_refusal(root).endswith(
        "data.json: mlgate.config.complaints.contact: missing; expected a non-empty string"
    )
    set_config(root, "complaints.contact", "complaints@example.com")
    assert load_policy_dir(root).data["mlgate"]["config"]["complaints"] == {
        "contact": "complaints@example.com"
    }


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("dotted", "value", "message"),
    [
        ("assessment.max_age_days", "a year", 'expected an integer >= 1, got "a year"'),
        ("assessment.max_age_days", 0, "expected an integer >= 1, got 0"),
        ("assessment.max_age_days", True, "expected an integer >= 1, got true"),
        ("assessment.max_age_days", 2.5, "expected an integer >= 1, got 2.5"),
        ("filing.only_public_opinion", "true", 'expected true or false, got "true"'),
        ("scope.public_audiences", "public", 'expected a list (each item one of "public"'),
        ("data_manifest.labeling_duties", ["rules_documented", "typo"], "labeling_duties[1]: "
         'expected one of "rules_documented", "quality_assessment", "sampling_verification", '
         '"labeler_training", got "typo"'),
        ("labeling.required.text", ["Explicit"], 'text[0]: expected one of "explicit", '
         '"implicit", got "Explicit"'),
        ("labeling.required.speech", [], "mlgate.config.labeling.required.speech: unknown key "
         "(the keys here are: audio, code, image, text, video)"),
        ("assessment.max_age", 30, "mlgate.config.assessment.max_age: unknown key"),
        ("waivers.warn_within_days", -1, "expected an integer >= 0, got -1"),
        ("protected_aliases", ["production", 1], "protected_aliases[1]: expected a string, "
         "got 1"),
        ("prompts.gated", None, "mlgate.config.prompts.gated: expected true or false, got null"),
    ],
)
def test_a_wrong_value_is_one_line_with_path_expected_and_found(
    tmp_path: Path, dotted: str, value: Any, message: str
) -> None:
    root = policy_copy(tmp_path)
    set_config(root, dotted, value)
    line = policy_refusal(root)
    assert line.startswith(f"mlgate: error: {root}/data.json: mlgate.config."), line
    assert message in line


def test_an_integer_written_as_3_0_is_an_integer(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    set_config(root, "assessment.max_age_days", 30.0)
    policy_set = load_policy_dir(root)
    value = policy_set.data["mlgate"]["config"]["assessment"]["max_age_days"]
    assert value == 30 and isinstance(value, int)
    assert mlgate("policy", "check", "--policies", str(root)).exit_code == 0


# --------------------------------------------------------------------------- schema files


@pytest.mark.parametrize(
    ("relative", "schema", "message"),
    [
        ("gates/assessment/data.schema.json", {"type": "object", "properties": {
            "max_age_days": {"type": "integer", "exclusiveMinimum": 0}}},
         "properties.max_age_days.exclusiveMinimum: keyword 'exclusiveMinimum' is not "
         "supported in policy-data schemas"),
        ("gates/assessment/data.schema.json", {"type": "object", "properties": {
            "max_age_days": {"type": "int"}}},
         "properties.max_age_days.type: expected one of null, boolean, integer, number, "
         'string, array, object (or a list of them), got "int"'),
        ("gates/assessment/data.schema.json", {"type": "object", "properties": {
            "max_age_days": {"type": "integer", "minimum": "1"}}},
         'properties.max_age_days.minimum: expected a number, got "1"'),
        ("gates/assessment/data.schema.json", {"type": "object", "properties": {
            "max_age_days": {"type": "integer", "minimum": 1, "default": 0}}},
         "properties.max_age_days.default: expected an integer >= 1, got 0"),
        ("gates/scope/data.schema.json", {"type": "object", "properties": {
            "regions": {"type": "array", "items": {"type": "string", "pattern": "["}}}},
         "properties.regions.items.pattern: not a valid regular expression"),
        ("gates/scope/data.schema.json", {"type": "array"},
         'type: a section of mlgate.config is an object: "type": "object", got "array"'),
        ("gates/scope/data.schema.json", '{"type": "object",\n  "properties": }',
         "data.schema.json:2: not valid JSON"),
        ("main/data.schema.json", {"type": "object", "properties": {
            "scope": {"type": "object"}}},
         "main/data.schema.json: properties.scope: the gate scope declares this section"),
    ],
)
def test_a_malformed_schema_names_its_file_and_keyword(
    tmp_path: Path, relative: str, schema: Any, message: str
) -> None:
    root = policy_copy(tmp_path)
    write_schema(root, relative, schema)
    line = policy_refusal(root)
    assert message in line, line
    where = "main/data.schema.json" if "declares" in message else relative
    assert f"{root}/{where}" in line


def test_a_policy_set_without_the_main_schema_is_refused(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    (root / "main" / "data.schema.json").unlink()
    assert f"{root}/main/data.schema.json: not found" in policy_refusal(root)


def test_a_main_schema_without_a_setting_python_reads_is_refused(tmp_path: Path) -> None:
    root = policy_copy(tmp_path)
    path = root / "main" / "data.schema.json"
    schema = json.loads(path.read_text())
    del schema["properties"]["default_target"]
    path.write_text(json.dumps(schema))
    data = json.loads((root / "data.json").read_text())
    del data["mlgate"]["config"]["default_target"]
    (root / "data.json").write_text(json.dumps(data))
    assert (
        "mlgate.config.default_target: mlgate reads this setting and expected a string, "
        "got nothing"
    ) in policy_refusal(root)


def test_the_schemas_change_the_content_revision(tmp_path: Path) -> None:
    from mlgate.revision import content_revision

    files = {"data.json": "{}", "gates/x/data.schema.json": '{"type": "object"}'}
    other = {**files, "gates/x/data.schema.json": '{"type": "object", "default": {}}'}
    assert content_revision(files) != content_revision(other)


# --------------------------------------------------------------------------- the validator

SHIPPED = load_policy_dir(POLICIES).data_schema
# Every keyword of the subset, for the comparison with jsonschema.
EVERY_KEYWORD: dict[str, Any] = {
    "type": "object",
    "required": ["code"],
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}$", "minLength": 2},
        "kind": {"const": "fixed"},
        "either": {"type": ["integer", "null"], "minimum": -1, "maximum": 3},
        "ratio": {"type": "number", "maximum": 1.5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3,
                 "uniqueItems": True},
        "mixed": {"type": "array", "uniqueItems": True},
        "choice": {"enum": [1, "1", True, None, [1], {"a": 1}]},
    },
    "additionalProperties": {"type": "boolean"},
}

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=400),
    st.sampled_from([0.0, 1.0, 2.5, 3.0, 365.0, -1.0, 1.5]),
    st.text(alphabet="ACNpublicx\n", max_size=4),
    st.sampled_from(["public", "explicit", "implicit", "rules_documented", "CN", "web"]),
)
ANY_JSON = st.recursive(
    LEAF,
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "text", "extra"]), inner, max_size=2),
    max_leaves=6,
)


def near(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Documents around ``schema``: mostly its shape with some wrong values in it."""
    options: list[st.SearchStrategy[Any]] = [ANY_JSON]
    if "default" in schema:
        options.append(st.just(schema["default"]))
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    kind = schema.get("type")
    if kind == "array" or "items" in schema:
        options.append(st.lists(near(schema.get("items", {})), max_size=4))
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        shaped = st.fixed_dictionaries(
            {}, optional={key: near(sub) for key, sub in properties.items()}
        )
        extra = st.dictionaries(st.sampled_from(["extra", "complaints"]), ANY_JSON, max_size=1)
        options.append(st.tuples(shaped, extra).map(lambda pair: {**pair[0], **pair[1]}))
        options.append(shaped)
    return st.one_of(options)


def agree(document: Any, schema: dict[str, Any]) -> None:
    ours = first_error(document, schema, "doc")
    theirs = jsonschema.Draft202012Validator(schema).is_valid(document)
    assert (ours is None) == theirs, (document, ours)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_the_validator_agrees_with_jsonschema_on_the_shipped_schemas(data: st.DataObject) -> None:
    agree(data.draw(near(SHIPPED)), SHIPPED)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_the_validator_agrees_with_jsonschema_on_every_keyword(data: st.DataObject) -> None:
    agree(data.draw(near(EVERY_KEYWORD)), EVERY_KEYWORD)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_filled_defaults_keep_what_was_written_and_stay_valid(data: st.DataObject) -> None:
    document = data.draw(near(SHIPPED))
    if first_error(document, SHIPPED, "mlgate.config") is not None:
        return
    filled, paths = fill_defaults(document, SHIPPED, "mlgate.config")
    jsonschema.Draft202012Validator(SHIPPED).validate(filled)
    assert kept(document, filled)  # 3.0 == 3: only integers are rewritten
    for path in paths:  # each named path was absent, its parent was not
        *parents, last = path.split(".")[2:]
        node: Any = document
        for key in parents:
            node = node[key]
        assert last not in node
    assert set(filled) == set(SHIPPED["properties"])


def kept(written: Any, filled: Any) -> bool:
    """Everything ``written`` holds is in ``filled``, unchanged."""
    if isinstance(written, dict):
        return isinstance(filled, dict) and all(
            key in filled and kept(value, filled[key]) for key, value in written.items()
        )
    return bool(written == filled)


def test_the_shipped_schemas_are_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SHIPPED)
    for path in sorted(POLICIES.rglob("data.schema.json")):
        schema = json.loads(path.read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        check_schema(schema, str(path))  # and within the subset


def test_assembly_needs_no_gate_schema_but_main() -> None:
    main = (POLICIES / "main" / "data.schema.json").read_text()
    schema = assemble({"main/data.schema.json": main}, "p")
    assert "scope" not in schema["properties"] and "waivers" in schema["properties"]
    with pytest.raises(PolicyError, match="p/main/data.schema.json: not found"):
        assemble({}, "p")


def test_a_revision_from_before_the_schemas_is_read_with_the_bundled_ones(
    tmp_path: Path,
) -> None:
    from helpers import git, policy_repo
    from mlgate.gitpolicy import load_policy_at

    repo = policy_repo(tmp_path)
    for schema in (repo / "policies").rglob("data.schema.json"):
        schema.unlink()
    git(repo, "commit", "-qam", "as committed before policy sets carried schemas")
    old = load_policy_at("HEAD", repo / "policies")
    assert old.data == load_policy_dir(POLICIES).data
    # Only committed history falls back: a directory in use without them is refused.
    line = one_error_line(mlgate("policy", "check", "--policies", str(repo / "policies")))
    assert "main/data.schema.json: not found" in line
