"""Registry evidence -> typed facts: the ``compliance.*`` tags and the data manifest.

Pure functions, no MLflow: ``evidence.py`` fetches, this module interprets. A tag that is
present but does not parse is recorded as a :class:`FactError` (a gate failure with its
own violation code), never raised.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, date, datetime
from functools import cache
from typing import Any, cast, get_args

from pydantic import ValidationError

from .jsondoc import loads
from .models import (
    Assessment,
    AssessmentStatus,
    Audience,
    DataManifest,
    FactError,
    Facts,
    Filing,
    FilingStatus,
    Labeling,
    ManifestEvidence,
    Modality,
)

TAG_PREFIX = "compliance."
DIGEST_TAG = "compliance.data_manifest.sha256"
MANIFEST_ARTIFACT = "compliance/data_manifest.json"

_REGION = re.compile(r"^[A-Z]{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Parser:
    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.errors: list[FactError] = []
        self.look_alikes = _look_alikes(tags)

    def raw(self, tag: str) -> str | None:
        if tag in self.look_alikes:
            # Contract section 7: a key that normalises to a compliance key is compliance
            # evidence. Two spellings of one fact cannot both be believed, and the
            # database's collation, not Python, decides which one a reader gets: the
            # fact is invalid until only the exact key is left.
            other = self.look_alikes[tag]
            self.errors.append(
                FactError(
                    tag=tag,
                    value=self.tags[other],
                    expected=f"only the tag {tag}; remove the look-alike tag {other!r}",
                )
            )
            return None
        value = self.tags.get(tag)
        if value is None or not value.strip():
            return None
        return value.strip()

    def fail(self, tag: str, expected: str) -> None:
        self.errors.append(FactError(tag=tag, value=self.tags[tag], expected=expected))

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

    def items(self, tag: str, check: Any, expected: str, upper: bool = False) -> list[str] | None:
        value = self.raw(tag)
        if value is None:
            return None
        parts = [p.strip() for p in value.split(",") if p.strip()]
        parts = [p.upper() if upper else p.lower() for p in parts]
        if not parts or not all(check(p) for p in parts):
            self.fail(tag, expected)
            return None
        return sorted(set(parts))

    def text(self, tag: str) -> str | None:
        return self.raw(tag)

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


# Every tag parse_facts reads: a look-alike of any of them is refused.
FACT_TAGS = (
    "compliance.audience",
    "compliance.regions",
    "compliance.public_opinion",
    "compliance.modalities",
    "compliance.filing.status",
    "compliance.filing.id",
    "compliance.assessment.status",
    "compliance.assessment.date",
    "compliance.assessment.report",
    "compliance.labeling.explicit",
    "compliance.labeling.implicit",
    DIGEST_TAG,
)


@cache
def _folded_fact_tags() -> dict[str, str]:
    from .names import fold

    return {fold(tag): tag for tag in FACT_TAGS}


def _look_alikes(tags: dict[str, str]) -> dict[str, str]:
    """Fact tag -> a different key in ``tags`` that folds to it (``COMPLIANCE.audience``)."""
    from .names import fold

    folded = _folded_fact_tags()
    found: dict[str, str] = {}
    for key in sorted(tags):
        if key in FACT_TAGS:
            continue  # the exact key: nothing to fold (every decision reads these)
        tag = folded.get(fold(key))
        if tag is not None and key != tag:
            found.setdefault(tag, key)
    return found


def day_ns(day: date) -> int:
    """00:00 UTC of ``day`` in ns since the epoch: how Rego compares dates."""
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1_000_000_000


def parse_facts(tags: dict[str, str]) -> tuple[Facts, str | None]:
    """The typed facts and the manifest digest tag (lower case) of a version's tags."""
    p = _Parser(tags)
    modalities = get_args(Modality)
    assessed = p.day("compliance.assessment.date")
    facts = Facts(
        audience=p.choice("compliance.audience", get_args(Audience)),
        regions=p.items(
            "compliance.regions",
            _REGION.match,
            "comma-separated ISO 3166-1 alpha-2 codes such as CN,SG",
            upper=True,
        ),
        public_opinion=p.boolean("compliance.public_opinion"),
        modalities=cast(  # items() keeps only the values the check accepts: modalities
            "list[Modality] | None",
            p.items(
                "compliance.modalities",
                lambda m: m in modalities,
                "comma-separated list of " + ", ".join(modalities),
            ),
        ),
        filing=Filing(
            status=p.choice("compliance.filing.status", get_args(FilingStatus)),
            id=p.text("compliance.filing.id"),
        ),
        assessment=Assessment(
            status=p.choice("compliance.assessment.status", get_args(AssessmentStatus)),
            date=assessed.isoformat() if assessed else None,
            date_ns=day_ns(assessed) if assessed else None,
            report=p.text("compliance.assessment.report"),
        ),
        labeling=Labeling(
            explicit=p.boolean("compliance.labeling.explicit"),
            implicit=p.boolean("compliance.labeling.implicit"),
        ),
    )
    digest = p.digest(DIGEST_TAG)
    facts.errors = p.errors
    return facts, digest


def sha256_hex(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def manifest_errors(document: Any) -> list[str]:
    """Schema violations of a parsed manifest, each ``path: message``; empty when valid."""
    try:
        DataManifest.model_validate(document)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        ]
    return []


def manifest_evidence(content: bytes | None, digest_tagged: str | None) -> ManifestEvidence:
    """What the gates know of the manifest artifact: ``content`` is None when absent."""
    if content is None:
        return ManifestEvidence(attached=False, digest_tagged=digest_tagged)
    evidence = ManifestEvidence(
        attached=True, digest_tagged=digest_tagged, digest_computed=sha256_hex(content)
    )
    try:
        document = loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        evidence.parse_error = str(exc)
        return evidence
    evidence.schema_errors = manifest_errors(document)
    evidence.content = document if isinstance(document, dict) else None
    return evidence
