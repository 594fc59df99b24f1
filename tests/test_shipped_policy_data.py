"""The shipped ``policies/data.json``, pinned value by value.

These are compliance's defaults: a change to any of them must be a deliberate edit of
this table in the same commit, never a silent one. The Rego rules that read a value are
pinned by behaviour too (``policies/lib/shipped_data_test.rego``); the waiver limits and
the default target are read only by Python; the waiver limits are pinned here by
behaviour as well (the default target only through a registry: its table row pins it).
``benchmarks/mutate_policies.py --pins tests/test_shipped_policy_data.py`` uses PINNED.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from helpers import POLICIES
from mlgate.errors import PolicyError
from mlgate.policy import load_policy_dir
from mlgate.policydata import PolicySettings, fill_defaults
from mlgate.waivers import applicable_waivers, parse_waivers

# Every leaf of mlgate.config in the shipped data.json, by dotted path.
PINNED: dict[str, Any] = {
    "protected_aliases": ["production", "public", "champion"],
    "protected_stages": ["production"],
    "default_target": "production",
    "scope.public_audiences": ["public"],
    "scope.regions": ["CN"],
    "filing.only_public_opinion": False,
    "assessment.only_public_opinion": False,
    "assessment.max_age_days": 365,
    "labeling.required.text": ["explicit", "implicit"],
    "labeling.required.image": ["explicit", "implicit"],
    "labeling.required.audio": ["explicit", "implicit"],
    "labeling.required.video": ["explicit", "implicit"],
    "labeling.required.code": ["explicit", "implicit"],
    # GB 45438-2025 ContentProducer code: off until compliance switches it on.
    "labeling.require_producer_code": False,
    "data_manifest.min_datasets": 1,
    "data_manifest.require_legitimate_source": True,
    "data_manifest.require_ip_cleared": True,
    "data_manifest.require_personal_info_consent": True,
    "data_manifest.require_quality_measures": True,
    "data_manifest.labeling_duties": [
        "rules_documented",
        "quality_assessment",
        "sampling_verification",
        "labeler_training",
    ],
    "service.required": False,
    "service.user_agreement": True,
    "service.minors": True,
    "service.user_data": True,
    "service.content_handling": True,
    "service.complaints": True,
    # GB/T 45654-2025 training-data source sampling: off by default; the numbers are those
    # commonly cited from TC260-003 (confirm against the standard's text).
    "data_manifest.require_safety_sampling": False,
    "data_manifest.min_safety_sample_size": 4000,
    "data_manifest.max_violation_rate": 0.05,
    # The evaluation gate (GB/T 45654-2025): off by default; its rows (a list, pinned
    # whole) are contract section 7's, to confirm against the standard's text.
    "evaluation.required": False,
    "evaluation.allowed_experiments": [],
    "evaluation.requirements": json.loads(
        (POLICIES / "gates" / "evaluation" / "data.schema.json").read_text(encoding="utf-8")
    )["properties"]["requirements"]["default"],
    "waivers.max_validity_days": 90,
    "waivers.warn_within_days": 14,
    "prompts.gated": False,
    "evidence.writers": [],
    "promotion.four_eyes": False,
    "attestation.trusted_keys": [],
}


def leaves(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted path -> value for every non-object value under ``value``."""
    if not isinstance(value, dict):
        return {prefix: value}
    found: dict[str, Any] = {}
    for key, child in value.items():
        found.update(leaves(child, f"{prefix}.{key}" if prefix else key))
    return found


def differences(data: dict[str, Any]) -> list[str]:
    """One line per pinned value that ``data`` (a data.json document) does not hold."""
    config = leaves(data.get("mlgate", {}).get("config", {}))
    missing = object()
    lines = [
        f"mlgate.config.{path}: pinned {want!r}, found {config.get(path, missing)!r}"
        for path, want in PINNED.items()
        if config.get(path, missing) != want
    ]
    lines += [f"mlgate.config.{path}: not pinned" for path in sorted(set(config) - set(PINNED))]
    return [line.replace(repr(missing), "nothing") for line in lines]


def shipped() -> dict[str, Any]:
    return json.loads((POLICIES / "data.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", list(PINNED))
def test_shipped_value(path: str) -> None:
    found = leaves(shipped()["mlgate"]["config"]).get(path, "nothing")
    assert found == PINNED[path], f"data.json mlgate.config.{path} is {found!r}"


def test_every_shipped_value_is_pinned() -> None:
    assert differences(shipped()) == []


def test_differences_name_the_value() -> None:
    data = shipped()
    data["mlgate"]["config"]["protected_aliases"].remove("champion")
    data["mlgate"]["config"]["waivers"]["grace_days"] = 3
    assert differences(data) == [
        "mlgate.config.protected_aliases: pinned ['production', 'public', 'champion'], "
        "found ['production', 'public']",
        "mlgate.config.waivers.grace_days: not pinned",
    ]


# The schemas' defaults (policies/**/data.schema.json), for a data.json that leaves a
# value out, are the shipped values.
def test_schema_defaults_are_the_shipped_values() -> None:
    defaults, _ = fill_defaults({}, load_policy_dir(POLICIES).data_schema, "mlgate.config")
    assert differences({"mlgate": {"config": defaults}}) == []


# ----------------------------------------------------------------- what Python reads


def config() -> PolicySettings:
    return load_policy_dir(POLICIES).config


def waiver_file(expires: date) -> str:
    entry = {
        "id": "W-1",
        "model": "chat",
        "versions": "*",
        "codes": ["filing.not_completed"],
        "justification": "test",
        "approver": "release-manager",
        "ticket": "COMP-1",
        "granted": "2026-01-01",
        "expires": expires.isoformat(),
    }
    return json.dumps({"waivers": [entry]})


def test_shipped_waiver_max_validity_90_days() -> None:
    today = date(2026, 1, 1)
    assert parse_waivers(waiver_file(date(2026, 4, 1)), "w", config().waivers, today)
    with pytest.raises(PolicyError, match="more than 90 days after 2026-01-01"):
        parse_waivers(waiver_file(date(2026, 4, 2)), "w", config().waivers, today)


@pytest.mark.parametrize(("days_left", "warns"), [(14, True), (15, False)])
def test_shipped_waiver_warns_within_14_days(days_left: int, warns: bool) -> None:
    expires = date(2026, 3, 1)
    entries = parse_waivers(waiver_file(expires), "w", config().waivers, date(2026, 1, 1))
    now = datetime.combine(date.fromordinal(expires.toordinal() - days_left), time(12), UTC)
    found = applicable_waivers(entries, "chat", "1", now, config().waivers)
    assert len(found.active) == 1
    assert bool(found.warnings) is warns, found.warnings
