"""Property-based fuzzing (issue 9, part B): no crash, no fail-open.

Three properties, each over inputs mutated from valid ones (``tests/fuzzkit.py``):

- ``check --input`` of a mutated gate input document (keys deleted, wrong types, empty,
  huge, unicode, control characters, deep nesting, duplicate keys, lone surrogates,
  boundary dates, look-alike targets, waivers);
- a registered version's tag set, mutated (values, look-alike keys, boundary dates,
  digests), with a valid manifest;
- a registered version's manifest bytes, mutated (the digest tag re-set to match, as
  someone who can write tags would do).

Each is evaluated in-process on the embedded engine through the path users take, and
judged by the oracle of ``fuzzkit``, written from ``../shared/CONTRACT.md`` alone. A
failure is an uncaught exception (anything but a one-line InputError on ``--input``; on
the registry path evidence is never an error) or an ``allowed`` promotion to a protected
target the contract says must be blocked.

Profiles: ``mlgate-ci`` (default; fixed seed, 2,000 examples per property) and
``mlgate-dev`` (200 examples), chosen with ``MLGATE_FUZZ_PROFILE``. ``benchmarks/fuzz.py``
runs 100,000 inputs and prints the counts.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import fuzzkit

_COMMON = {
    "deadline": None,
    "database": None,
    "derandomize": True,  # a fixed seed: CI runs the same examples every time
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                              HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("mlgate-ci", max_examples=2000, **_COMMON)
settings.register_profile("mlgate-dev", max_examples=200, **_COMMON)
settings.register_profile(
    "mlgate-long", max_examples=20_000, **{**_COMMON, "derandomize": False},
    phases=[Phase.generate, Phase.target, Phase.shrink],
)
PROFILE = settings.get_profile(os.environ.get("MLGATE_FUZZ_PROFILE", "mlgate-ci"))

TODAY = datetime.now(UTC).date()


def _explain(outcome: fuzzkit.Outcome, reasons: list[str], verdict: str) -> str:
    decision = outcome.decision
    gates = {g.id: g.status for g in decision.gates} if decision is not None else {}
    return f"{verdict}: {outcome.kind} {outcome.detail} gates={gates} oracle={reasons}"


def test_the_unmutated_examples_are_judged_as_the_contract_says() -> None:
    """The oracle and the paths agree on the valid documents everything is mutated from."""
    data = (fuzzkit.EXAMPLES / "gate_input_allowed.json").read_bytes()
    outcome, reasons, verdict = fuzzkit.judge_check_input(data, None)
    assert (outcome.kind, reasons, verdict) == ("allowed", [], "ok")
    tags = fuzzkit.compliant_tags(TODAY)
    manifest = fuzzkit.example_manifest_bytes()
    tags[fuzzkit.DIGEST] = fuzzkit.hashlib.sha256(manifest).hexdigest()
    outcome, reasons, verdict = fuzzkit.judge_registry(tags, manifest)
    assert (outcome.kind, reasons, verdict) == ("allowed", [], "ok")
    outcome, reasons, verdict = fuzzkit.judge_registry(tags, None)
    assert outcome.kind == "blocked" and reasons


def test_the_oracle_catches_a_fail_open() -> None:
    """The oracle is not vacuous: an allow it must flag is flagged."""
    allowed = fuzzkit.Outcome("allowed")
    tags = fuzzkit.compliant_tags(TODAY)
    reasons = fuzzkit.registry_reasons(tags, None, datetime.now(UTC))
    assert fuzzkit.verdict(allowed, True, reasons) == "fail-open"
    doc = fuzzkit.allowed_gate_input()
    broken = {**doc, "facts": {**doc["facts"], "regions": []}}
    protected, reasons = fuzzkit.gate_input_reasons(broken)
    assert protected and any("scope" in r for r in reasons)


@PROFILE
@given(fuzzkit.gate_inputs())
def test_check_input_never_crashes_or_fails_open(case: tuple[bytes, str | None]) -> None:
    data, target = case
    outcome, reasons, verdict = fuzzkit.judge_check_input(data, target)
    assert verdict == "ok", _explain(outcome, reasons, verdict)


@PROFILE
@given(fuzzkit.tag_sets(TODAY))
def test_registry_tags_never_crash_or_fail_open(tags: dict[str, str]) -> None:
    outcome, reasons, verdict = fuzzkit.judge_registry(tags, fuzzkit.example_manifest_bytes())
    assert verdict == "ok", _explain(outcome, reasons, verdict)


@PROFILE
@given(fuzzkit.manifests(), st.booleans())
def test_registry_manifest_bytes_never_crash_or_fail_open(manifest: bytes, retag: bool) -> None:
    tags = fuzzkit.compliant_tags(TODAY)
    if retag:  # whoever rewrote the artifact also rewrote the digest tag
        tags[fuzzkit.DIGEST] = fuzzkit.hashlib.sha256(manifest).hexdigest()
    else:
        tags[fuzzkit.DIGEST] = fuzzkit.hashlib.sha256(
            fuzzkit.example_manifest_bytes()
        ).hexdigest()
    outcome, reasons, verdict = fuzzkit.judge_registry(tags, manifest)
    assert verdict == "ok", _explain(outcome, reasons, verdict)
