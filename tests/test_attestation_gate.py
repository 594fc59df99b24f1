"""The attestation gate on generated ``input.attestation`` facts, against an oracle
written from the contract (issue 12 item 4): it passes only when the envelope is there,
read without error, its digest is the tag, a trusted key signed it, the statement names
this version and nothing changed (tags, manifest, model files); otherwise it fails, each
broken condition with its own code. Both engines decide."""

from __future__ import annotations

import copy
import dataclasses
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures_opa import require_opa_golib
from helpers import EXAMPLES, POLICIES
from mlgate.policy import PolicySet, load_policy_dir
from mlgate.runner import load_gate_input, serialise

D1, D2 = "1" * 64, "2" * 64


@cache
def policy_set() -> PolicySet:
    shipped = load_policy_dir(POLICIES)
    data = copy.deepcopy(shipped.data)
    data["mlgate"]["config"]["attestation"] = {
        "trusted_keys": [{"name": "officer", "public_key_pem": "PEM"}]
    }
    return dataclasses.replace(shipped, data=data)


@cache
def engines() -> tuple[Any, Any]:
    from mlgate.engine.embedded import EmbeddedEngine
    from mlgate.engine.golib import GolibEngine

    require_opa_golib()
    return EmbeddedEngine(policy_set()), GolibEngine(policy_set())


attestations = st.fixed_dictionaries({
    "present": st.booleans(),
    "envelope_sha256": st.sampled_from([D1, D2, None]),
    "error": st.sampled_from([None, None, None, "download failed"]),
    "signature": st.sampled_from(["valid", "valid", "invalid", "untrusted", None]),
    "signer": st.sampled_from(["officer", None]),
    "subject_match": st.booleans(),
    "statement_model": st.sampled_from(["public-chatbot", "other"]),
    "statement_version": st.sampled_from(["3", "4"]),
    "tags_diff": st.lists(st.sampled_from(["compliance.audience", "compliance.filing.id"]),
                          max_size=2, unique=True),
    "manifest_match": st.booleans(),
    "files_diff": st.lists(st.sampled_from(["MLmodel", "weights/a.bin"]), max_size=2,
                           unique=True),
    "files_sha256": st.sampled_from([D1, None]),
})


def oracle(att: dict[str, Any] | None, tagged: str | None) -> set[str]:
    """The codes the contract asks for."""
    if att is None:
        return {"attestation.not_checked"}
    if att["error"] is not None:
        return {"attestation.unreadable"}
    if not att["present"]:
        return {"attestation.envelope_missing"}
    codes = set()
    if tagged != att["envelope_sha256"]:
        codes.add("attestation.digest_tag_mismatch")
    if att["signature"] == "untrusted":
        codes.add("attestation.untrusted_signer")
    elif att["signature"] != "valid":
        codes.add("attestation.signature_invalid")
    if not att["subject_match"]:
        codes.add("attestation.other_version")
    if att["tags_diff"]:
        codes.add("attestation.tag_changed")
    if not att["manifest_match"]:
        codes.add("attestation.manifest_changed")
    if att["files_diff"]:
        codes.add("attestation.model_file_changed")
    return codes


@settings(max_examples=200, deadline=None)
@given(att=st.one_of(st.none(), attestations), tagged=st.sampled_from([D1, D2, None]))
def test_gate_decides_as_the_contract_says(att: dict[str, Any] | None, tagged: str | None) -> None:
    base = load_gate_input(EXAMPLES / "gate_input_allowed.json")
    document, _, _ = serialise(base)
    document["attestation"] = att
    document["facts"]["attestation"] = {"sha256": tagged}
    if tagged is not None:
        document["tags"]["compliance.attestation.sha256"] = tagged
    expected = oracle(att, tagged)
    for engine in engines():
        raw = engine.evaluate(document)
        gate = raw["gates"]["attestation"]
        codes = {v["code"] for v in gate["violations"]}
        assert codes == expected, (type(engine).__name__, att, tagged)
        assert gate["status"] == ("fail" if expected else "pass")
        assert raw["allowed"] is (not expected)
