"""Tag declarations (policies/**/tags.json) -> facts: a gate reading a new tag needs no
Python; each declared type parses as the contract says; bad declaration files are
refused naming file and key; the shipped tags give exactly the facts they gave before."""

from __future__ import annotations

import json
import re
import shutil
import string
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import EXAMPLES, POLICIES, mlgate, one_error_line
from mlgate.errors import PolicyError
from mlgate.facts import day_ns, parse_facts
from mlgate.policy import bundled_declarations, load_policy_dir
from mlgate.tags import TagDeclarations, facts_model, gate_input_schema, load_declarations

SHIPPED = bundled_declarations()

# --------------------------------------------------------------------------- the oracle
# mlgate's parser before tags were declared (facts.py at e68e0e9), its pydantic models
# replaced by the dicts they dumped: what the shipped declarations must reproduce.

_REGION = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_OLD_TAGS = (
    "compliance.audience", "compliance.regions", "compliance.public_opinion",
    "compliance.modalities", "compliance.filing.status", "compliance.filing.id",
    "compliance.assessment.status", "compliance.assessment.date",
    "compliance.assessment.report", "compliance.labeling.explicit",
    "compliance.labeling.implicit", "compliance.data_manifest.sha256",
    "compliance.labeling.producer_code",
    # The service gate's obligations (issue 13, Art. 9-15): references, as filing.id is.
    *(f"compliance.service.{k}" for k in ("user_agreement", "minors", "user_data",
                                          "content_handling", "complaints")),
    # The attestation gate's digest tag (issue 12): a digest, as the manifest's is.
    "compliance.attestation.sha256",
    # The evaluation gate's run (issue 13): a reference, as filing.id is.
    "compliance.evaluation.run_id",
)
_MODALITIES = ("text", "image", "audio", "video", "code")


class _OldParser:
    def __init__(self, tags: dict[str, str]) -> None:
        from mlgate.names import fold

        self.tags = tags
        self.errors: list[dict[str, str]] = []
        folded = {fold(t): t for t in _OLD_TAGS}
        self.look_alikes: dict[str, str] = {}
        for key in sorted(tags):
            tag = folded.get(fold(key))
            if tag is not None and key != tag:
                self.look_alikes.setdefault(tag, key)

    def raw(self, tag: str) -> str | None:
        if tag in self.look_alikes:
            other = self.look_alikes[tag]
            expected = f"only the tag {tag}; remove the look-alike tag {other!r}"
            self.errors.append({"tag": tag, "value": self.tags[other], "expected": expected})
            return None
        value = self.tags.get(tag)
        if value is None or not value.strip():
            return None
        return value.strip()

    def fail(self, tag: str, expected: str) -> None:
        self.errors.append({"tag": tag, "value": self.tags[tag], "expected": expected})

    def choice(self, tag: str, allowed: tuple[str, ...]) -> Any:
        value = self.raw(tag)
        if value is None:
            return None
        if value.lower() in allowed:
            return value.lower()
        self.fail(tag, "one of " + ", ".join(allowed))
        return None

    def boolean(self, tag: str) -> bool | None:
        value = self.choice(tag, ("true", "false"))
        return None if value is None else value == "true"

    def items(self, tag: str, check: Any, expected: str, upper: bool = False) -> Any:
        value = self.raw(tag)
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        parts = [p.upper() if upper else p.lower() for p in parts]
        if not parts or not all(check(p) for p in parts):
            self.fail(tag, expected)
            return None
        return sorted(set(parts))

    def day(self, tag: str) -> date | None:
        value = self.raw(tag)
        if value is None:
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(tag, "an ISO 8601 date (YYYY-MM-DD)")
            return None
        return (moment.astimezone(UTC) if moment.tzinfo else moment).date()

    def digest(self, tag: str) -> str | None:
        value = self.raw(tag)
        if value is None:
            return None
        if _SHA256.match(value.lower()):
            return value.lower()
        self.fail(tag, "a 64-character hex sha256 digest")
        return None


def old_parse_facts(tags: dict[str, str]) -> tuple[dict[str, Any], str | None]:
    p = _OldParser(tags)
    assessed = p.day("compliance.assessment.date")
    facts = {
        "audience": p.choice("compliance.audience",
                             ("public", "enterprise", "internal", "research")),
        "regions": p.items("compliance.regions", _REGION.match,
                           "comma-separated ISO 3166-1 alpha-2 codes such as CN,SG", upper=True),
        "public_opinion": p.boolean("compliance.public_opinion"),
        "modalities": p.items("compliance.modalities", lambda m: m in _MODALITIES,
                              "comma-separated list of " + ", ".join(_MODALITIES)),
        "filing": {"status": p.choice("compliance.filing.status",
                                      ("completed", "pending", "none")),
                   "id": p.raw("compliance.filing.id")},
        "assessment": {
            "status": p.choice("compliance.assessment.status",
                               ("passed", "failed", "pending", "none")),
            "date": assessed.isoformat() if assessed else None,
            "date_ns": day_ns(assessed) if assessed else None,
            "report": p.raw("compliance.assessment.report"),
        },
        "labeling": {"explicit": p.boolean("compliance.labeling.explicit"),
                     "implicit": p.boolean("compliance.labeling.implicit"),
                     # GB 45438-2025 (issue 13): a reference, as filing.id is.
                     "producer_code": p.raw("compliance.labeling.producer_code")},
        "service": {k: p.raw(f"compliance.service.{k}") for k in (
            "user_agreement", "minors", "user_data", "content_handling", "complaints")},
        "attestation": {"sha256": p.digest("compliance.attestation.sha256")},
        "evaluation": {"run_id": p.raw("compliance.evaluation.run_id")},
    }
    digest = p.digest("compliance.data_manifest.sha256")
    facts["errors"] = p.errors
    return facts, digest


def _key_variants(tag: str) -> st.SearchStrategy[str]:
    return st.sampled_from([tag, tag.upper(), tag.title(), tag + " ", " " + tag,
                            tag.replace("compliance", "complianсe"),  # Cyrillic s
                            tag.replace(".", "\u200b.", 1), tag.replace("a", "á", 1)])


_VALUES = st.one_of(
    st.sampled_from(["public", "PUBLIC ", " research", "everyone", "true", "False", " TRUE ",
                     "yes", "1", "cn,sg", "CN, SG ,cn", "China", "CN;SG", ",", " , ",
                     "text,IMAGE", "text,smell", "completed", "pending", "none", "passed",
                     "failed", "2026-03-01", "2026-03-01T23:30:00-02:00", "2026-13-01",
                     "01/02/2026", "20260301", "2026-W09", "AB" * 32, "ab" * 32, "abc",
                     "s3://reports/x.pdf", "", "   ", "ß,ss", "İ"]),
    st.text(max_size=12),
)


@st.composite
def tag_sets(draw: st.DrawFn) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in draw(st.lists(st.sampled_from(_OLD_TAGS), max_size=14)):
        tags[draw(_key_variants(tag))] = draw(_VALUES)
    if draw(st.booleans()):
        tags[draw(st.sampled_from(["team", "compliance.notes", "compliance.service.x"]))] = "v"
    return tags


def _errors_as_set(facts: dict[str, Any]) -> dict[str, Any]:
    return {**facts, "errors": sorted(json.dumps(e, sort_keys=True) for e in facts["errors"])}


@settings(max_examples=400, deadline=None)
@given(tag_sets())
def test_shipped_declarations_give_the_facts_of_the_old_parser(tags: dict[str, str]) -> None:
    facts, digest = parse_facts(tags, SHIPPED)
    old_facts, old_digest = old_parse_facts(tags)
    assert digest == old_digest
    # The generated model accepts what the parser writes, unchanged.
    model = facts_model(SHIPPED).model_validate(facts, strict=True)
    assert model.model_dump(mode="json") == facts
    assert set(facts) == set(old_facts)  # the oracle knows every shipped tag
    # The same values, keys and errors; the errors' order follows the declaration files
    # (lib first), which only differs from before when assessment.date is one of several.
    assert _errors_as_set(facts) == _errors_as_set(old_facts)
    if len(facts["errors"]) <= 1:
        from mlgate.jsondoc import canonical

        assert canonical(facts) == canonical(old_facts)


def test_the_corpus_and_examples_are_what_the_declarations_parse() -> None:
    from helpers import scenario_document, scenario_names

    documents = [scenario_document(name) for name in scenario_names()]
    documents += [json.loads(p.read_text()) for p in sorted(EXAMPLES.glob("gate_input_*.json"))]
    assert len(documents) > 60
    for document in documents:
        if document.get("facts", {}).get("errors") is None:
            continue  # a forged document (no errors list): test_conformance refuses it
        facts, digest = parse_facts(document["tags"], SHIPPED)
        old, _ = old_parse_facts(document["tags"])
        assert facts == old
        if facts == document["facts"]:
            assert digest == document["manifest"]["digest_tagged"]


# --------------------------------------------------------------------------- each type


def declare(kind: str, **extra: Any) -> TagDeclarations:
    raw = {"type": kind, "description": "a tag under test", **extra}
    return load_declarations({"gates/t/tags.json": json.dumps({"tags": {"compliance.t.x": raw}})},
                             "policies")


def parsed(declarations: TagDeclarations, value: str) -> tuple[Any, list[dict[str, str]]]:
    facts, _ = parse_facts({"compliance.t.x": value}, declarations)
    return facts["t"]["x"], facts["errors"]


_SPACE = st.sampled_from(["", " ", "  ", "\t", " \n"])


def _case(draw: st.DrawFn, word: str) -> str:
    return "".join(c.upper() if draw(st.booleans()) else c for c in word)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_boolean_is_true_or_false_in_any_case_with_spaces_and_nothing_else(data: Any) -> None:
    decl = declare("boolean", expected="true or false")
    word = data.draw(st.sampled_from(["true", "false"]))
    value = data.draw(_SPACE) + _case(data.draw, word) + data.draw(_SPACE)
    assert parsed(decl, value) == (word == "true", [])
    other = data.draw(st.text(max_size=8))
    got, errors = parsed(decl, other)
    if not other.strip():
        assert (got, errors) == (None, [])
    elif other.strip().lower() in ("true", "false"):
        assert got is (other.strip().lower() == "true")
    else:
        assert got is None
        assert errors == [{"tag": "compliance.t.x", "value": other, "expected": "true or false"}]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_an_enum_is_one_of_its_values_in_any_case(data: Any) -> None:
    decl = declare("enum", values=["low", "high_risk"])
    word = data.draw(st.sampled_from(["low", "high_risk"]))
    assert parsed(decl, data.draw(_SPACE) + _case(data.draw, word)) == (word, [])
    other = data.draw(st.text(alphabet="lowhigh_risk xyz", min_size=1, max_size=10))
    got, errors = parsed(decl, other)
    if other.strip().lower() in ("low", "high_risk"):
        assert got == other.strip().lower()
    elif other.strip():
        assert got is None and errors[0]["expected"] == "one of low, high_risk"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a1", "b2", "c3", "zz", "", " "]), min_size=1, max_size=6),
       st.booleans())
def test_a_list_is_trimmed_folded_sorted_and_deduplicated(items: list[str], upper: bool) -> None:
    decl = declare("list", item_pattern="[A-Z][0-9]" if upper else "[a-z][0-9]",
                   case="upper" if upper else "lower")
    value = ",".join(f" {i.upper() if len(i) == 2 and i[0] < 'b' else i} " for i in items)
    got, errors = parsed(decl, value)
    wanted = [i.strip() for i in items if i.strip()]
    if not value.strip():
        assert (got, errors) == (None, [])
    elif not wanted or "zz" in wanted:
        assert got is None and [e["tag"] for e in errors] == ["compliance.t.x"]
    else:
        fold = str.upper if upper else str.lower
        assert got == sorted({fold(i) for i in wanted}) and errors == []


def test_a_list_of_values_refuses_others() -> None:
    decl = declare("list", values=["text", "image"])
    assert parsed(decl, "IMAGE, text,image") == (["image", "text"], [])
    got, errors = parsed(decl, "text,smell")
    assert got is None and errors[0]["expected"] == "comma-separated list of text, image"


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=date(1700, 1, 1), max_value=date(2250, 12, 31)),
       st.times(), st.integers(-14 * 60, 14 * 60), st.sampled_from(["date", "utc", "offset"]))
def test_a_date_is_iso_8601_normalised_to_its_utc_day(
    day: date, at: Any, offset: int, form: str
) -> None:
    decl = declare("date")
    if form == "date":
        value, want = day.isoformat(), day
    else:
        zone = UTC if form == "utc" else timezone(timedelta(minutes=offset))
        moment = datetime.combine(day, at, tzinfo=zone)
        value, want = moment.isoformat(), moment.astimezone(UTC).date()
    facts, _ = parse_facts({"compliance.t.x": f" {value} "}, decl)
    assert facts["t"]["x"] == want.isoformat()
    assert facts["t"]["x_ns"] == int(datetime.combine(want, datetime.min.time(), UTC)
                                     .timestamp()) * 10**9
    assert facts["errors"] == []


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=string.ascii_letters + "/ ,.", min_size=1, max_size=12))
def test_a_date_refuses_what_is_not_one(value: str) -> None:
    facts, _ = parse_facts({"compliance.t.x": value}, declare("date"))
    assert facts["t"]["x"] is None and facts["t"]["x_ns"] is None
    assert len(facts["errors"]) == (1 if value.strip() else 0)


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=20))
def test_a_reference_is_any_non_blank_text_trimmed(value: str) -> None:
    got, errors = parsed(declare("reference"), value)
    assert errors == []
    assert got == (value.strip() or None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="0123456789abcdefABCDEFg", min_size=60, max_size=66))
def test_a_digest_is_64_hex_characters_lower_cased(value: str) -> None:
    got, errors = parsed(declare("digest"), value)
    if len(value) == 64 and "g" not in value:
        assert (got, errors) == (value.lower(), [])
    else:
        assert got is None and errors[0]["expected"] == "a 64-character hex sha256 digest"


def test_a_look_alike_key_makes_any_declared_tag_invalid() -> None:
    decl = declare("reference")
    facts, _ = parse_facts({"compliance.t.x": "doc-1", "COMPLIANCE.t.x": "doc-2"}, decl)
    assert facts["t"]["x"] is None
    assert facts["errors"][0]["tag"] == "compliance.t.x"
    assert facts["errors"][0]["value"] == "doc-2"


# --------------------------------------------------------------------------- bad files

GOOD = {"type": "reference", "description": "d"}


@pytest.mark.parametrize(
    "tags, message",
    [
        ({"compliance.t.x": {"type": "uri", "description": "d"}}, "type 'uri' is unknown"),
        ({"Compliance.t.x": GOOD}, "'Compliance.t.x': a tag key is"),
        ({"compliance.t-x": GOOD}, "'compliance.t-x': a tag key is"),
        ({"other.t.x": GOOD}, "'other.t.x': a tag key is"),
        ({"compliance.t.x\n": GOOD}, "'compliance.t.x\\n': a tag key is"),
        ({"compliance.t..x": GOOD}, "'compliance.t..x': a tag key is"),
        ({"compliance.t.x": {"type": "reference"}}, "compliance.t.x: description"),
        ({"compliance.t.x": {**GOOD, "colour": 1}}, "field 'colour' is not allowed"),
        ({"compliance.t.x": {**GOOD, "values": ["a"]}}, "field 'values' is not allowed"),
        ({"compliance.t.x": {"type": "enum", "description": "d"}}, "an enum needs values"),
        ({"compliance.t.x": {"type": "enum", "values": ["A"], "description": "d"}},
         "values must be lower case"),
        ({"compliance.t.x": {"type": "list", "description": "d"}},
         "either values or item_pattern"),
        ({"compliance.t.x": {"type": "list", "values": ["a"], "item_pattern": "a",
                             "description": "d"}}, "either values or item_pattern"),
        ({"compliance.t.x": {"type": "list", "item_pattern": "(", "description": "d"}},
         "item_pattern is not a regular expression"),
        ({"compliance.t.x": {"type": "list", "item_pattern": "a", "case": "title",
                             "description": "d"}}, "case 'title' is unknown"),
        ({"compliance.t.x": {**GOOD, "expected": ""}}, "expected must be non-empty"),
        ({"compliance.t.x": {"type": "digest", "input_path": "facts.x", "description": "d"}},
         "input_path 'facts.x' is unknown"),
        ({"compliance.t": GOOD, "compliance.t.x": GOOD}, "collides with facts.t"),
        ({"compliance.t.x": {"type": "date", "description": "d"}, "compliance.t.x_ns": GOOD},
         "facts.t.x_ns collides"),
        ({"compliance.errors": GOOD}, "facts.errors is reserved"),
        ({"compliance.t.x": "reference"}, "a declaration is an object"),
    ],
)
def test_a_bad_declaration_is_refused_naming_file_and_key(
    tags: dict[str, Any], message: str
) -> None:
    with pytest.raises(PolicyError) as raised:
        load_declarations({"gates/t/tags.json": json.dumps({"tags": tags})}, "/p")
    assert str(raised.value).startswith("/p/gates/t/tags.json: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    "text, message",
    [("{", ":1: not valid JSON"), ("[]", 'expected an object {"tags"'),
     ('{"tags": {}, "x": 1}', 'expected an object {"tags"'), ('{"tags": []}', "tags must be")],
)
def test_a_malformed_declaration_file_is_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=re.escape(message)):
        load_declarations({"lib/tags.json": text}, "/p")


def test_a_tag_declared_twice_names_both_files() -> None:
    files = {"lib/tags.json": json.dumps({"tags": {"compliance.t.x": GOOD}}),
             "gates/t/tags.json": json.dumps({"tags": {"compliance.T.x": GOOD}})}
    with pytest.raises(PolicyError) as raised:
        load_declarations({k: v.replace("compliance.T.x", "compliance.t.x")
                           for k, v in files.items()}, "/p")
    assert str(raised.value) == ("/p/gates/t/tags.json: compliance.t.x: already declared in "
                                 "/p/lib/tags.json")


def test_two_digests_cannot_both_be_the_manifest_digest() -> None:
    digest = {"type": "digest", "input_path": "manifest.digest_tagged", "description": "d"}
    with pytest.raises(PolicyError, match="also written by compliance.a.x"):
        load_declarations({"lib/tags.json": json.dumps(
            {"tags": {"compliance.a.x": digest, "compliance.b.x": digest}})}, "/p")


def test_a_bad_declaration_in_a_policy_directory_stops_loading(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    (root / "gates" / "filing" / "tags.json").write_text(
        json.dumps({"tags": {"compliance.audience": GOOD}}))
    with pytest.raises(PolicyError, match="compliance.audience: already declared in .*lib/tags"):
        load_policy_dir(root)
    run = mlgate("policy", "check", "--policies", str(root))
    assert run.exit_code == 2 and "already declared" in run.stderr


# --------------------------------------------------------------------------- a new gate

TRIAL_REGO = """package mlgate.gates.trial

import data.mlgate.lib

violations contains {"code": "trial.complaints_missing", "params": {}} if {
	input.facts.trial.complaints == null
	not lib.tag_invalid("compliance.trial.complaints")
}

violations contains {"code": "trial.complaints_invalid", "params": {"value": err.value}} if {
	some err in lib.fact_errors
	err.tag == "compliance.trial.complaints"
}

complaints := input.facts.trial.complaints

codes := sort([v.code | some v in violations])

result := lib.gate_result(lib.gates_apply, violations)
"""


@pytest.fixture(scope="module")
def trial_policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("trial") / "policies"
    shutil.copytree(POLICIES, root)
    gate = root / "gates" / "trial"
    gate.mkdir()
    (gate / "trial.rego").write_text(TRIAL_REGO)
    (gate / "tags.json").write_text(json.dumps({"tags": {"compliance.trial.complaints": {
        "type": "reference", "expected": "a URI or document id of the complaints procedure",
        "description": "Art. 15: how users complain"}}}, indent=2))
    main = root / "main" / "main.rego"
    text = main.read_text(encoding="utf-8")
    wired = text.replace('"attestation"]', '"attestation", "trial"]', 1)
    assert wired != text, "required_gates not found in main.rego"
    main.write_text(wired, encoding="utf-8")
    return root


def _trial_input(
    policies: Path, tags: dict[str, str], engine_name: str
) -> tuple[Any, dict[str, Any]]:
    """A rule reader (``data.mlgate.gates.trial.<rule>`` -> value) on ``engine_name``."""
    from mlgate.gate_input import Evidence, build_gate_input
    from mlgate.runner import serialise

    policy_set = load_policy_dir(policies)
    evidence = Evidence(model="m", version="1", source="", tags=tags, aliases=[], manifest=None)
    gate_input = build_gate_input(evidence, target="production", kind="alias",
                                  config=policy_set.config,
                                  declarations=policy_set.tag_declarations)
    document, text, _ = serialise(gate_input)
    if engine_name == "embedded":
        from mlgate.engine.embedded import compile_engine

        engine = compile_engine(policy_set)
        engine.set_input_json(text)
        return lambda rule: engine.eval_rule(f"data.mlgate.gates.trial.{rule}"), document["facts"]
    from fixtures_opa import require_opa_golib

    require_opa_golib()
    from mlgate.engine.golib import compile_policy_set

    opa = compile_policy_set(policy_set)
    return lambda rule: opa.eval_document(f"mlgate.gates.trial.{rule}", document), document[
        "facts"]


@pytest.mark.parametrize(
    "tags, value, codes",
    [
        ({"compliance.trial.complaints": " https://example.cn/complaints "},
         "https://example.cn/complaints", []),
        ({}, None, ["trial.complaints_missing"]),
        ({"compliance.trial.complaints": "   "}, None, ["trial.complaints_missing"]),
        ({"compliance.trial.complaints": "doc-1", "COMPLIANCE.trial.complaints": "doc-2"},
         None, ["trial.complaints_invalid"]),
    ],
)
@pytest.mark.parametrize("engine_name", ["embedded", "opa"])
def test_a_new_gate_reads_a_newly_declared_tag_with_no_python_change(
    trial_policies: Path, tags: dict[str, str], value: str | None, codes: list[str],
    engine_name: str,
) -> None:
    rule, facts = _trial_input(trial_policies, tags, engine_name)
    assert facts["trial"] == {"complaints": value}
    assert rule("complaints") == value
    assert rule("codes") == codes


def test_the_gate_input_schema_has_the_declared_fact(trial_policies: Path) -> None:
    schema = gate_input_schema(load_policy_dir(trial_policies))
    facts = schema["$defs"]["Facts"]["properties"]
    assert facts["trial"] == {"$ref": "#/$defs/Trial"}
    complaints = schema["$defs"]["Trial"]["properties"]["complaints"]
    assert complaints["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert "trial" not in gate_input_schema(load_policy_dir())["$defs"]["Facts"]["properties"]


def test_check_input_follows_the_policy_sets_declarations(
    trial_policies: Path, tmp_path: Path
) -> None:
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text())
    document["tags"]["compliance.trial.complaints"] = "doc-7"
    document["facts"]["trial"] = {"complaints": "doc-7"}
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    # The bundled policies declare no such fact: exit 2 naming the field.
    line = one_error_line(mlgate("check", "--input", str(path)))
    assert "field facts.trial: Extra inputs are not permitted" in line
    # With the set that declares it, the document is accepted as it is.
    run = mlgate("check", "--input", str(path), "--policies", str(trial_policies))
    assert run.exit_code in (0, 1), run.stderr
    # A fact contradicting its tag is refused, naming the field.
    document["facts"]["trial"] = {"complaints": "doc-8"}
    path.write_text(json.dumps(document))
    line = one_error_line(
        mlgate("check", "--input", str(path), "--policies", str(trial_policies)))
    assert "field facts.trial.complaints: 'doc-8' contradicts the tags" in line


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda f: f["filing"].update(status="finished"), "facts.filing.status"),
        (lambda f: f["assessment"].update(date_ns="1"), "facts.assessment.date_ns"),
        (lambda f: f.update(regions="CN"), "facts.regions"),
        (lambda f: f["labeling"].update(colour=True), "facts.labeling.colour"),
        (lambda f: f["errors"].append({"tag": "x"}), "facts.errors.0.value"),
    ],
)
def test_check_input_refuses_facts_unlike_the_declarations(
    tmp_path: Path, change: Any, field: str
) -> None:
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text())
    change(document["facts"])
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    assert f"field {field}: " in one_error_line(mlgate("check", "--input", str(path)))


def test_a_date_and_its_ns_must_agree_for_any_declared_date(trial_policies: Path) -> None:
    from mlgate.runner import derived_contradictions
    from mlgate.tags import TagDeclarations

    del trial_policies
    decl = declare("date")
    shipped_and_new = TagDeclarations((*SHIPPED.tags, *decl.tags))
    document = json.loads((EXAMPLES / "gate_input_allowed.json").read_text())
    from mlgate.models import GateInput

    document["tags"]["compliance.t.x"] = "2026-03-01"
    document["facts"]["t"] = {"x": "2026-03-01", "x_ns": day_ns(date(2026, 3, 1))}
    gate_input = GateInput.model_validate(document)
    assert derived_contradictions(gate_input, shipped_and_new) == []
    gate_input.facts["t"]["x_ns"] += 86400 * 10**9
    [found] = derived_contradictions(gate_input, shipped_and_new)
    assert found.startswith("field facts.t.x_ns: ")
