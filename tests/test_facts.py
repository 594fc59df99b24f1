"""Tags -> typed facts: every tag parses, invalid values become FactErrors, never raise."""

from __future__ import annotations

from typing import Any

import pytest

from mlgate.facts import day_ns, manifest_evidence, sha256_hex
from mlgate.facts import parse_facts as parse_with
from mlgate.policy import bundled_declarations


def parse_facts(tags: dict[str, str]) -> tuple[Any, str | None]:
    """The bundled policies' facts, with attribute access (``facts.filing.status``)."""
    facts, digest = parse_with(tags, bundled_declarations())
    return _Attrs(facts), digest


class _Attrs:
    def __init__(self, value: dict[str, Any]) -> None:
        self._value = value

    def __getattr__(self, name: str) -> Any:
        value = self._value[name]
        if isinstance(value, dict):
            return _Attrs(value)
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return [_Attrs(v) for v in value]
        return value


def errors_of(tags: dict[str, str]) -> dict[str, str]:
    facts, _ = parse_facts(tags)
    return {e.tag: e.value for e in facts.errors}


def test_empty_tags_give_all_none_and_no_errors() -> None:
    facts, digest = parse_facts({})
    assert facts.audience is None and facts.regions is None and facts.modalities is None
    assert facts.filing.status is None and facts.assessment.date_ns is None
    assert facts.errors == [] and digest is None


def test_lists_are_trimmed_case_insensitive_and_deduplicated() -> None:
    facts, _ = parse_facts(
        {"compliance.regions": "cn, SG ,cn", "compliance.modalities": "Text,IMAGE"}
    )
    assert facts.regions == ["CN", "SG"]
    assert facts.modalities == ["image", "text"]


@pytest.mark.parametrize("value, expected", [("true", True), ("TRUE", True), ("False", False)])
def test_booleans_are_case_insensitive(value: str, expected: bool) -> None:
    facts, _ = parse_facts({"compliance.labeling.explicit": value})
    assert facts.labeling.explicit is expected


@pytest.mark.parametrize(
    "tag, value",
    [
        ("compliance.audience", "everyone"),
        ("compliance.regions", "China"),
        ("compliance.regions", "CN;SG"),
        ("compliance.public_opinion", "yes"),
        ("compliance.modalities", "text,smell"),
        ("compliance.filing.status", "done"),
        ("compliance.assessment.status", "ok"),
        ("compliance.assessment.date", "01/02/2026"),
        ("compliance.labeling.implicit", "1"),
        ("compliance.data_manifest.sha256", "abc"),
    ],
)
def test_invalid_values_are_recorded_not_raised(tag: str, value: str) -> None:
    assert errors_of({tag: value}) == {tag: value}


def test_blank_values_count_as_absent() -> None:
    facts, _ = parse_facts({"compliance.audience": "  ", "compliance.filing.id": ""})
    assert facts.audience is None and facts.filing.id is None and facts.errors == []


def test_dates_normalise_to_midnight_utc_ns() -> None:
    facts, _ = parse_facts({"compliance.assessment.date": "2026-03-01"})
    assert facts.assessment.date == "2026-03-01"
    assert facts.assessment.date_ns == 1772323200 * 10**9
    stamped, _ = parse_facts({"compliance.assessment.date": "2026-03-01T23:30:00-02:00"})
    assert stamped.assessment.date == "2026-03-02"  # 01:30 UTC on the next day


def test_day_ns_is_epoch_midnight() -> None:
    from datetime import date

    assert day_ns(date(1970, 1, 2)) == 86400 * 10**9


def test_digest_is_lower_cased() -> None:
    digest = "AB" * 32
    _, parsed = parse_facts({"compliance.data_manifest.sha256": digest})
    assert parsed == digest.lower()


def test_manifest_evidence_absent_not_json_schema_invalid_and_valid() -> None:
    absent = manifest_evidence(None, None)
    assert not absent.attached and absent.digest_computed is None

    broken = manifest_evidence(b"{not json", "0" * 64)
    assert broken.attached and broken.parse_error and broken.content is None
    assert broken.digest_computed == sha256_hex(b"{not json")

    for token in (b"NaN", b"Infinity", b"-Infinity"):
        odd = manifest_evidence(b'{"manifest_version": 1, "records": ' + token + b"}", None)
        assert odd.content is None and f"{token.decode()} is not a JSON value" in odd.parse_error

    invalid = manifest_evidence(b'{"manifest_version": 1, "datasets": "x"}', None)
    assert invalid.parse_error is None
    assert any(e.startswith("datasets:") for e in invalid.schema_errors)
    assert any(e.startswith("quality_measures:") for e in invalid.schema_errors)

    from helpers import EXAMPLES

    raw = (EXAMPLES / "data_manifest.json").read_bytes()
    valid = manifest_evidence(raw, sha256_hex(raw))
    assert valid.schema_errors == [] and valid.digest_computed == valid.digest_tagged


def test_canonical_json_is_sorted_compact_utf8_and_stable() -> None:
    import json

    from mlgate.jsondoc import canonical

    plain = {"b": [1, 2.5, None, True], "a": {"z": "北京", "y": 10}, "c": -0.25}
    beyond_orjson = {**plain, "big": 10**30}  # over 64 bits: the standard-library path
    for document in (plain, beyond_orjson):
        text = canonical(document)
        # The standard library's sorted, compact, non-ASCII layout, whichever path wrote it.
        assert text == json.dumps(
            document, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
        assert canonical(dict(reversed(document.items()))) == text


def test_serialised_document_is_the_models_json_dump() -> None:
    # serialise() takes the manifest content as parsed instead of re-dumping it.
    from helpers import EXAMPLES
    from mlgate.jsondoc import canonical
    from mlgate.models import AttestationEvidence
    from mlgate.runner import load_gate_input, serialise

    for name in ("gate_input_allowed.json", "gate_input_blocked.json"):
        gate_input = load_gate_input(EXAMPLES / name)
        detached = gate_input.model_copy(update={"manifest": manifest_evidence(None, None)})
        attested = gate_input.model_copy(
            update={"attestation": AttestationEvidence(present=False, files_sha256="0" * 64)}
        )
        for case in (gate_input, detached, attested):
            document, text, _ = serialise(case)
            expected = case.model_dump(mode="json")
            # The attestation gate off: the input (and its digest) as before the gate.
            assert "attestation" not in expected or expected["attestation"] is not None
            assert document == expected
            assert text.encode() == canonical(expected)


@pytest.mark.parametrize(
    "look_alike", ["COMPLIANCE.audience", "compliance.AUDIENCE", "compliánce.audience",
                   "compliance.audience ", "compliance\u200b.audience"],
)
def test_a_look_alike_key_beside_a_fact_tag_makes_the_fact_invalid(look_alike: str) -> None:
    # Contract section 7: a key that normalises to a compliance key is evidence too. With
    # both spellings present the registry database's collation decides which one a reader
    # sees, so neither is believed (before: the exact key won and the gate passed).
    tags = {"compliance.audience": "public", look_alike: "research"}
    facts, _ = parse_facts(tags)
    assert facts.audience is None
    [error] = facts.errors
    assert error.tag == "compliance.audience"
    assert error.value == "research"
    assert repr(look_alike) in error.expected


def test_a_look_alike_key_alone_is_not_read_as_the_fact() -> None:
    facts, _ = parse_facts({"COMPLIANCE.AUDIENCE": "public"})
    assert facts.audience is None
    assert [e.tag for e in facts.errors] == ["compliance.audience"]
