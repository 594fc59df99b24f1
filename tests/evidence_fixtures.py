"""The evidence tests start from: one compliant tag set and one valid manifest.

Every test that needs "a version that passes" builds it from here (the registry fixtures
in fixtures_mlflow.py, the fuzzer's generators in fuzzkit.py), so that a new tag a gate
requires is added once. Dates are relative to today, and young enough for any sensible
``max_age_days``: the tests do not depend on the shipped policy data.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
MANIFEST_FILE = EXAMPLES / "data_manifest.json"
# How old the compliant set's assessment is: well inside any max_age_days worth shipping.
ASSESSMENT_AGE_DAYS = 30
DIGEST_TAG = "compliance.data_manifest.sha256"


def compliant_tags(today: date | None = None, **overrides: str) -> dict[str, str]:
    """Tags of an in-scope version that passes every gate but the manifest (attach one,
    or add :func:`manifest_digest_tag`). ``overrides`` name tags with or without their
    ``compliance.`` prefix: ``compliant_tags(**{"filing.status": "pending"})``."""
    today = today or datetime.now(UTC).date()
    tags = {
        "compliance.audience": "public",
        "compliance.regions": "CN,SG",
        "compliance.public_opinion": "true",
        "compliance.modalities": "text",
        "compliance.filing.status": "completed",
        "compliance.filing.id": "Beijing-WXSuanFa-20240001",
        "compliance.assessment.status": "passed",
        "compliance.assessment.date": (today - timedelta(days=ASSESSMENT_AGE_DAYS)).isoformat(),
        "compliance.assessment.report": "s3://compliance/reports/chat.pdf",
        "compliance.labeling.explicit": "true",
        "compliance.labeling.implicit": "true",
    }
    tags.update(
        {k if k.startswith("compliance.") else f"compliance.{k}": v for k, v in overrides.items()}
    )
    return tags


def out_of_scope_tags() -> dict[str, str]:
    return {"compliance.audience": "research", "compliance.regions": "CN"}


def example_manifest() -> dict[str, Any]:
    """The valid data manifest (examples/data_manifest.json), as a document."""
    loaded: dict[str, Any] = json.loads(MANIFEST_FILE.read_text(encoding="utf-8"))
    return loaded


def example_manifest_bytes() -> bytes:
    """The valid data manifest as the bytes `mlgate manifest attach` uploads."""
    return MANIFEST_FILE.read_bytes()


def manifest_digest_tag(content: bytes | None = None) -> dict[str, str]:
    """The digest tag `mlgate manifest attach` sets for ``content`` (default: the example)."""
    data = example_manifest_bytes() if content is None else content
    return {DIGEST_TAG: hashlib.sha256(data).hexdigest()}


def passing_metrics(requirements: list[dict[str, Any]] | None = None) -> dict[str, float]:
    """Metrics of an evaluation run meeting every requirement row exactly (each metric at
    its threshold, each sample at its minimum): the shipped rows of ``policies/data.json``
    unless others are given. Derived from the rows, so a tuned threshold never turns a
    benchmark or a test of the passing path into one of a blocked decision."""
    if requirements is None:
        data = json.loads((EXAMPLES.parent / "policies" / "data.json").read_text())
        requirements = data["mlgate"]["config"]["evaluation"]["requirements"]
    metrics: dict[str, float] = {}
    for row in requirements:
        metrics[row["metric"]] = row["threshold"]
        if "sample_metric" in row:
            metrics[row["sample_metric"]] = row["min_sample"]
    return metrics
