"""Fuzzing kit (issue 9, part B): mutated gate inputs, tag sets and manifest bytes, the
mlgate code paths they go through, and an oracle written from ``../shared/CONTRACT.md``.

Used by ``tests/test_fuzz.py`` (a fixed-seed profile in CI) and ``benchmarks/fuzz.py``
(100,000 inputs, counts printed).

**The oracle** (:func:`gate_input_reasons`, :func:`registry_reasons`) imports nothing
from mlgate. It reads a document the way the contract describes it and lists the reasons
the contract gives for blocking a promotion to a protected target: a required fact that
is missing, ill-typed or invalid, a fact that contradicts the raw material it is derived
from, a gate requirement not met. Where the contract is silent it is lenient (it accepts
every reasonable reading), so that each reported fail-open is one the contract rules out.

**The paths** are the ones users take: ``check --input`` (:func:`mlgate.cli.input_document`
then :func:`mlgate.runner.evaluate`), and a registered version's tags and manifest
artifact (:func:`mlgate.evidence.build_gate_input` from an ``Evidence``, the active
waivers attached, then ``evaluate``), on the embedded engine.

An outcome is one of ``refused`` (InputError: exit 2 for the command's own input, allowed
on the ``--input`` path only), ``blocked``, ``allowed``, or ``crash`` (any other
exception). A **fail-open** is ``allowed`` for a protected target while the oracle lists
a reason to block.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import tempfile
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from evidence_fixtures import compliant_tags as shared_compliant_tags
from evidence_fixtures import example_manifest_bytes

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SCHEMA = ROOT / "schemas" / "data_manifest.schema.json"

# ---------------------------------------------------------------- the contract, as data
# CONTRACT.md section 1 (tags, values, gate semantics with the default policy data) and
# section 7 (targets, normalised names). Nothing here is read from mlgate.

PROTECTED_ALIASES = ("production", "public", "champion")
PROTECTED_STAGE = "production"
AUDIENCES = ("public", "enterprise", "internal", "research")
MODALITIES = ("text", "image", "audio", "video", "code")
FILING = ("completed", "pending", "none")
ASSESSMENT = ("passed", "failed", "pending", "none")
KINDS = ("pretraining", "finetuning", "preference", "evaluation", "other")
SOURCES = ("licensed", "public_domain", "open_license", "user_consented", "web_crawl",
           "synthetic", "internal")
DUTIES = ("rules_documented", "quality_assessment", "sampling_verification", "labeler_training")
# The one number of the policy data the oracle needs, read from the policy set (its
# data.json, as JSON: not through mlgate), so that tuning it does not break the fuzzing.
MAX_AGE_DAYS: int = json.loads((ROOT / "policies" / "data.json").read_text(encoding="utf-8"))[
    "mlgate"]["config"]["assessment"]["max_age_days"]
GATES = ("scope", "filing", "assessment", "labeling", "data_manifest")

T = "compliance."
AUDIENCE, REGIONS, OPINION, MODS = T + "audience", T + "regions", T + "public_opinion", \
    T + "modalities"
FSTATUS, FID = T + "filing.status", T + "filing.id"
ASTATUS, ADATE, AREPORT = T + "assessment.status", T + "assessment.date", \
    T + "assessment.report"
EXPLICIT, IMPLICIT, DIGEST = T + "labeling.explicit", T + "labeling.implicit", \
    T + "data_manifest.sha256"
KNOWN_TAGS = (AUDIENCE, REGIONS, OPINION, MODS, FSTATUS, FID, ASTATUS, ADATE, AREPORT,
              EXPLICIT, IMPLICIT, DIGEST)
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_REGION = re.compile(r"^[A-Z]{2}$")

INVALID = object()  # a fact present but not a valid value


def normalise(name: str) -> str:
    """Contract section 7: Unicode NFKC, case fold, accents stripped; and, being lenient
    where the contract is silent, invisible format characters (zero-width space) dropped."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", name).casefold())
    return "".join(
        ch for ch in text
        if not unicodedata.combining(ch) and unicodedata.category(ch) != "Cf"
    )


# ---------------------------------------------------------------- oracle: strict JSON


def strict_json(data: bytes | str) -> tuple[Any, str | None]:
    """The document, or a reason it is not one unambiguous JSON text of Unicode strings."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return None, "not UTF-8"

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({k for k, _ in items}) != len(items):
            raise ValueError("duplicate key")
        return dict(items)

    def constant(token: str) -> Any:
        raise ValueError(f"{token} is not JSON")

    try:
        document = json.loads(data, object_pairs_hook=pairs, parse_constant=constant)
        json.dumps(document, ensure_ascii=False).encode("utf-8")  # lone surrogates
    except (ValueError, RecursionError, UnicodeEncodeError) as exc:
        return None, f"not strict JSON: {type(exc).__name__}"
    if _has_infinity(document):
        return None, "a number overflows to infinity"
    return document, None


def _has_infinity(value: Any, depth: int = 0) -> bool:
    if depth > 500:
        return False
    if isinstance(value, float):
        return value in (float("inf"), float("-inf"))
    if isinstance(value, list):
        return any(_has_infinity(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return any(_has_infinity(v, depth + 1) for v in value.values())
    return False


# ---------------------------------------------------------------- oracle: the manifest


@cache
def _schema_validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def manifest_reasons(document: Any) -> list[str]:
    """Why a parsed manifest does not meet the data_manifest gate (contract section 1)."""
    if not isinstance(document, dict):
        return ["manifest is not an object"]
    reasons = []
    try:
        if not _schema_validator().is_valid(document):
            reasons.append("manifest is not valid against schemas/data_manifest.schema.json")
    except RecursionError:
        reasons.append("manifest too deep to validate")
    version = document.get("manifest_version")
    # JSON has one number type: 1.0 is the number 1 (as JSON Schema's const says).
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        reasons.append("manifest_version is not 1")
    datasets = document.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        reasons.append("no dataset listed")
        datasets = []
    for ds in datasets:
        if not isinstance(ds, dict):
            reasons.append("a dataset is not an object")
            continue
        if ds.get("legitimate_source") is not True:
            reasons.append("dataset legitimate_source is not true")
        if ds.get("ip_cleared") is not True:
            reasons.append("dataset ip_cleared is not true")
        pi = ds.get("contains_personal_info")
        if not isinstance(pi, bool):
            reasons.append("dataset contains_personal_info is not a boolean")
        elif pi and ds.get("personal_info_consent") is not True:
            reasons.append("dataset with personal information lacks consent")
        if ds.get("kind") not in KINDS or ds.get("source_category") not in SOURCES:
            reasons.append("dataset kind or source_category not in the contract's lists")
    models = document.get("foundation_models", [])
    if not isinstance(models, list):
        reasons.append("foundation_models is not a list")
        models = []
    for fm in models:
        if not isinstance(fm, dict) or fm.get("legitimate_source") is not True:
            reasons.append("foundation model legitimate_source is not true")
    measures = document.get("quality_measures")
    if not isinstance(measures, list) or not measures:
        reasons.append("quality_measures is empty")
    labeling = document.get("labeling")
    if not isinstance(labeling, dict) or not isinstance(labeling.get("used"), bool):
        reasons.append("labeling.used is not a boolean")
    elif labeling["used"] and any(labeling.get(d) is not True for d in DUTIES):
        reasons.append("labeling used but a labeling duty is not true")
    return reasons


# ---------------------------------------------------------------- oracle: the facts


@dataclass
class View:
    """The facts a decision must rest on; None = absent, INVALID = present but invalid."""

    audience: Any = None
    regions: Any = None
    modalities: Any = None
    filing_status: Any = None
    filing_id: Any = None
    assessment_status: Any = None
    assessment_date: Any = None
    report: Any = None
    explicit: Any = None
    implicit: Any = None
    manifest: list[str] = field(default_factory=list)  # reasons the manifest fails
    now: datetime | None = None
    contradictions: list[tuple[str, str]] = field(default_factory=list)  # (gate, what)


def _waived(gate: str, waived: set[str]) -> bool:
    return gate in waived


def view_reasons(view: View, waived: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """The contract's reasons to block a protected promotion of ``view``."""
    decided = view.audience in AUDIENCES and _valid_regions(view.regions)
    in_scope = not decided or (view.audience == "public" and "CN" in view.regions)
    # A contradiction matters where its fact is required: scope facts always, the
    # others when the version is in scope (or scope is undecidable).
    reasons = [f"contradiction: {what}" for gate, what in view.contradictions
               if gate == "scope" or (in_scope and gate in GATES and not _waived(gate, waived))]
    if not decided:
        reasons.append("scope: audience or regions missing or invalid")
    if not in_scope:
        return reasons
    if not _waived("filing", waived) and not (
        view.filing_status == "completed" and _text(view.filing_id)
    ):
        reasons.append("filing: not completed with an id")
    if not _waived("assessment", waived):
        reasons.extend(_assessment_reasons(view))
    if not _waived("labeling", waived) and not (
        _valid_modalities(view.modalities) and view.explicit is True and view.implicit is True
    ):
        reasons.append("labeling: modalities missing or a label not true")
    if not _waived("data_manifest", waived):
        reasons.extend(f"data_manifest: {r}" for r in view.manifest)
    return reasons


def _valid_regions(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(
        isinstance(r, str) and _REGION.match(r) for r in value
    )


def _valid_modalities(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(m in MODALITIES for m in value)


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _assessment_reasons(view: View) -> list[str]:
    if view.assessment_status != "passed" or not _text(view.report):
        return ["assessment: not passed with a report"]
    day = view.assessment_date
    if not isinstance(day, date) or view.now is None:
        return ["assessment: date missing or invalid (or no valid evaluation time)"]
    today = view.now.astimezone(UTC).date()
    if day > today:
        return ["assessment: date in the future"]
    if (today - day).days > MAX_AGE_DAYS:  # exactly MAX_AGE_DAYS is a boundary both ways
        return [f"assessment: older than {MAX_AGE_DAYS} days"]
    return []


# ---- from raw tags (contract section 1 table)


def _tag_choice(value: str, allowed: tuple[str, ...]) -> Any:
    v = value.strip().lower()
    return v if v in allowed else INVALID


def _tag_list(value: str, *, upper: bool, check: Any) -> Any:
    parts = [p.strip() for p in value.split(",")]
    parts = [p.upper() if upper else p.lower() for p in parts if p]
    if not parts or not all(check(p) for p in parts):
        return INVALID
    return sorted(set(parts))


def _tag_date(value: str) -> Any:
    v = value.strip()
    try:
        return date.fromisoformat(v)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(v)
    except ValueError:
        return INVALID
    return (moment.astimezone(UTC) if moment.tzinfo else moment).date()


def parse_tag(key: str, value: str) -> Any:
    """One compliance tag's value as the contract defines it (None when blank)."""
    if not value.strip():
        return None
    if key == AUDIENCE:
        return _tag_choice(value, AUDIENCES)
    if key == REGIONS:
        return _tag_list(value, upper=True, check=_REGION.match)
    if key == MODS:
        return _tag_list(value, upper=False, check=lambda m: m in MODALITIES)
    if key == FSTATUS:
        return _tag_choice(value, FILING)
    if key == ASTATUS:
        return _tag_choice(value, ASSESSMENT)
    if key in (EXPLICIT, IMPLICIT, OPINION):
        v = _tag_choice(value, ("true", "false"))
        return v if v is INVALID else v == "true"
    if key == ADATE:
        return _tag_date(value)
    if key == DIGEST:
        v = value.strip().lower()
        return v if _HEX64.match(v) else INVALID
    return value.strip()


def tag_readings(tags: dict[str, str]) -> list[tuple[dict[str, str], list[tuple[str, str]]]]:
    """The readings of a tag set the contract allows, each with its contradictions.

    Contract section 7: a key that normalises to a ``compliance.`` key is compliance
    evidence. A look-alike key beside the real one with a different meaning contradicts
    it; a look-alike alone may be read as that key or as noise (two readings).
    """
    by_key: dict[str, list[tuple[str, str]]] = {}
    for key, value in tags.items():
        folded = normalise(key).strip()
        for known in KNOWN_TAGS:
            if folded == known:
                by_key.setdefault(known, []).append((key, value))
    exact: dict[str, str] = {}
    alone: dict[str, str] = {}
    contradictions: list[tuple[str, str]] = []
    for known, entries in by_key.items():
        # A blank value says nothing (contract: null for absent), so it disagrees with none.
        meanings = {_meaning(p) for _, v in entries if (p := parse_tag(known, v)) is not None}
        if len(meanings) > 1:
            contradictions.append((_gate_of(known), f"look-alike tag keys disagree on {known}"))
        real = [v for k, v in entries if k == known]
        if real:
            exact[known] = real[0]
        else:
            alone[known] = entries[0][1]
    readings = [(exact, contradictions)]
    if alone:
        readings.append(({**exact, **alone}, contradictions))
    return readings


def _meaning(value: Any) -> str:
    return "invalid" if value is INVALID else repr(value)


def _gate_of(tag: str) -> str:
    if tag in (AUDIENCE, REGIONS):
        return "scope"
    if tag in (MODS, EXPLICIT, IMPLICIT):
        return "labeling"
    if tag in (FSTATUS, FID):
        return "filing"
    if tag in (ASTATUS, ADATE, AREPORT):
        return "assessment"
    if tag == DIGEST:
        return "data_manifest"
    return "other"


def view_from_tags(tags: dict[str, str]) -> View:
    def get(key: str) -> Any:
        return parse_tag(key, tags[key]) if key in tags else None

    return View(
        audience=get(AUDIENCE), regions=get(REGIONS), modalities=get(MODS),
        filing_status=get(FSTATUS), filing_id=get(FID), assessment_status=get(ASTATUS),
        assessment_date=get(ADATE), report=get(AREPORT), explicit=get(EXPLICIT),
        implicit=get(IMPLICIT),
    )


def registry_reasons(tags: dict[str, str], manifest: bytes | None, now: datetime) -> list[str]:
    """Reasons to block a registered version with ``tags`` and manifest bytes ``manifest``.

    Empty when any reading the contract allows is compliant (lenient where it is silent).
    """
    all_reasons = []
    for reading, contradictions in tag_readings(tags):
        view = view_from_tags(reading)
        view.now = now
        view.contradictions = list(contradictions)
        view.manifest = _manifest_bytes_reasons(manifest, reading.get(DIGEST))
        reasons = view_reasons(view)
        if not reasons:
            return []
        all_reasons.append(reasons)
    return all_reasons[0]


def _manifest_bytes_reasons(content: bytes | None, digest_tag: str | None) -> list[str]:
    if content is None:
        return ["not attached"]
    reasons = []
    digest = parse_tag(DIGEST, digest_tag) if digest_tag is not None else None
    if digest is None or digest is INVALID or digest != hashlib.sha256(content).hexdigest():
        reasons.append("digest tag missing or not the artifact's sha256")
    document, why = strict_json(content)
    if why:
        return [*reasons, why]
    return reasons + manifest_reasons(document)


# ---- from a gate input document (contract section 2)


def gate_input_reasons(document: Any, target: str | None = None) -> tuple[bool, list[str]]:
    """(protected, reasons): is the promotion enforced, and why it must be blocked.

    ``target`` is a ``--target`` given on the command line (alias), else the document's.
    """
    if not isinstance(document, dict):
        return True, ["document is not an object"]
    request = document.get("request") if isinstance(document.get("request"), dict) else {}
    cli_target = target
    kind = "alias" if target is not None else request.get("kind", "alias")
    target = target if target is not None else request.get("target")
    protected = _is_protected(target, kind)
    reasons = []
    if not isinstance(target, str):
        reasons.append("request.target is not a string")
    elif kind != "stage" and normalise(target).strip() in PROTECTED_ALIASES and not (
        target.isascii() and target.lower() == normalise(target).strip()
    ):
        reasons.append("target is a look-alike of a protected alias (contract section 7)")
    if protected and cli_target is None and request.get("enforcement") != "deny":
        reasons.append("contradiction: request.enforcement is not deny for a protected target")
    now = _rfc3339(document.get("now"))
    now_ns = document.get("now_ns")
    timing = []  # the evaluation time matters to the assessment's age (in scope)
    if now is None:
        timing.append(("assessment", "now is not an RFC 3339 time"))
    elif type(now_ns) is not int or abs(now_ns - int(now.timestamp() * 1e9)) >= 1_000_000_000:
        timing.append(("assessment", "now_ns is not now"))
    facts = document.get("facts")
    if not isinstance(facts, dict):
        return protected, [*reasons, "facts is not an object"]
    view = _view_from_facts(facts, now)
    view.contradictions += timing
    raw = document.get("tags", {})
    tags = raw if isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ) else None
    if tags is None:
        reasons.append("tags is not an object of strings")
        tags = {}
    view.contradictions += _facts_against_tags(view, facts, tags)
    view.manifest = _manifest_evidence_reasons(document.get("manifest"), tags)
    waived = _waived_gates(document.get("waivers"), now)
    return protected, reasons + view_reasons(view, waived)


def _is_protected(target: Any, kind: Any) -> bool:
    if not isinstance(target, str):
        return True
    if kind == "stage":
        return target.lower() == PROTECTED_STAGE
    return normalise(target).strip() in PROTECTED_ALIASES


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not re.match(
        r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", value
    ):
        return None
    try:
        return datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None


def _typed(value: Any, check: Any) -> Any:
    if value is None:
        return None
    return value if check(value) else INVALID


def _view_from_facts(facts: dict[str, Any], now: datetime | None) -> View:
    def obj(name: str) -> dict[str, Any]:
        value = facts.get(name)
        return value if isinstance(value, dict) else {}

    filing, assessment, labeling = obj("filing"), obj("assessment"), obj("labeling")
    view = View(
        audience=_typed(facts.get("audience"), lambda v: v in AUDIENCES),
        regions=_typed(facts.get("regions"), _valid_regions),
        modalities=_typed(facts.get("modalities"), _valid_modalities),
        filing_status=_typed(filing.get("status"), lambda v: v in FILING),
        filing_id=_typed(filing.get("id"), lambda v: isinstance(v, str)),
        assessment_status=_typed(assessment.get("status"), lambda v: v in ASSESSMENT),
        report=_typed(assessment.get("report"), lambda v: isinstance(v, str)),
        explicit=_typed(labeling.get("explicit"), lambda v: isinstance(v, bool)),
        implicit=_typed(labeling.get("implicit"), lambda v: isinstance(v, bool)),
        now=now,
    )
    raw_date, date_ns = assessment.get("date"), assessment.get("date_ns")
    day = _tag_date(raw_date) if isinstance(raw_date, str) and re.match(
        r"^\d{4}-\d{2}-\d{2}$", raw_date) else (None if raw_date is None else INVALID)
    if isinstance(day, date):
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 10**9
        if type(date_ns) is not int or date_ns != midnight:
            view.contradictions.append(("assessment", "assessment.date_ns is not date"))
    elif date_ns is not None:
        view.contradictions.append(("assessment", "assessment.date_ns without a valid date"))
    view.assessment_date = day
    errors = facts.get("errors", [])  # absent: none (the schema's default)
    if not isinstance(errors, list):
        view.contradictions.append(("scope", "facts.errors is not a list"))
    else:
        for error in errors:
            tag = error.get("tag") if isinstance(error, dict) else None
            if isinstance(tag, str) and normalise(tag).strip() in KNOWN_TAGS:
                gate = _gate_of(normalise(tag).strip())
                view.contradictions.append((gate, f"facts.errors lists {tag} as invalid"))
    return view


_FACT_OF_TAG = {
    AUDIENCE: ("audience",), REGIONS: ("regions",), MODS: ("modalities",),
    FSTATUS: ("filing", "status"), FID: ("filing", "id"),
    ASTATUS: ("assessment", "status"), ADATE: ("assessment", "date"),
    AREPORT: ("assessment", "report"),
    EXPLICIT: ("labeling", "explicit"), IMPLICIT: ("labeling", "implicit"),
}


def _facts_against_tags(
    view: View, facts: dict[str, Any], tags: dict[str, str]
) -> list[tuple[str, str]]:
    """Facts are the parsed tags (contract section 2): each must be what its tag says."""
    out = []
    readings = tag_readings(tags)
    for tag, path in _FACT_OF_TAG.items():
        fact: Any = facts
        for part in path:
            fact = fact.get(part) if isinstance(fact, dict) else None
        if isinstance(fact, list):
            fact = sorted(fact) if all(isinstance(x, str) for x in fact) else fact
        if tag == ADATE and isinstance(view.assessment_date, date):
            fact = view.assessment_date
        agreed = False
        for reading, _ in readings:
            expected = parse_tag(tag, reading[tag]) if tag in reading else None
            if expected is INVALID:
                expected = None  # an invalid tag is a null fact (and a listed error)
            if tag == ADATE and isinstance(expected, date) and isinstance(fact, date):
                agreed = agreed or abs((expected - fact).days) <= 1  # a timezone's day
            elif tag in (FID, AREPORT):
                agreed = agreed or (fact or None) == (expected or None)
            else:
                agreed = agreed or fact == expected
        if not agreed:
            out.append((_gate_of(tag), f"facts for {tag} disagree with the tag"))
    for _, contradictions in readings[:1]:
        out += contradictions
    return out


def _manifest_evidence_reasons(manifest: Any, tags: dict[str, str]) -> list[str]:
    if not isinstance(manifest, dict) or manifest.get("attached") is not True:
        return ["not attached"]
    reasons = []
    tagged, computed = manifest.get("digest_tagged"), manifest.get("digest_computed")
    if not (isinstance(tagged, str) and _HEX64.match(tagged) and tagged == computed):
        reasons.append("digests missing, malformed or different")
    tag = tags.get(DIGEST)
    if isinstance(tagged, str) and (tag is None or parse_tag(DIGEST, tag) != tagged):
        reasons.append("contradiction: digest_tagged is not the digest tag")
    if manifest.get("parse_error") is not None or manifest.get("schema_errors") not in ([], None):
        reasons.append("parse or schema errors recorded")
    return reasons + manifest_reasons(manifest.get("content"))


def _waived_gates(waivers: Any, now: datetime | None) -> set[str]:
    """Gates an active, well-formed waiver in the document may waive (never scope)."""
    if not isinstance(waivers, list) or now is None:
        return set()
    gates: set[str] = set()
    for waiver in waivers:
        if not isinstance(waiver, dict) or not isinstance(waiver.get("codes"), list):
            continue
        try:
            expires = date.fromisoformat(str(waiver.get("expires")))
        except ValueError:
            continue
        if expires < now.astimezone(UTC).date():
            continue  # expired: applies no more
        for code in waiver["codes"]:
            gate = str(code).split(".", 1)[0]
            if gate in GATES and gate != "scope":
                gates.add(gate)
    return gates


# ---------------------------------------------------------------- generators

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)  # the example documents' evaluation time


def _day(offset: int, base: date | None = None) -> str:
    return ((base or NOW.date()) + timedelta(days=offset)).isoformat()


def date_strings(base: date | None = None) -> st.SearchStrategy[str]:
    """Assessment dates around the contract's boundaries, and malformed ones."""
    return st.sampled_from([
        _day(0, base), _day(-1, base), _day(1, base), _day(1 - MAX_AGE_DAYS, base),
        _day(-MAX_AGE_DAYS, base), _day(-1 - MAX_AGE_DAYS, base), _day(-400, base),
        _day(3650, base), "2026-02-30", "2026-13-01",
        "0001-01-01", "9999-12-31", "2026-06-01T23:30:00-05:00", "2026-06-01T00:00:00Z",
        "20260601", "2026-6-1", "01/06/2026", "yesterday", "", " ", "2026-06-01\n",
    ])


PLAUSIBLE = [
    # Fact-shaped values: enum neighbours, booleans in other clothes, region spellings.
    "public", "PUBLIC", "Public", "public ", " public", "publ\u0131c", "research", "enterprise",
    "completed", "COMPLETED", "passed", "Passed", "pending", "none", "failed",
    "true", "True", "TRUE", "false", "yes", "no", "on", "off", "1", "0", "y",
    "CN", "cn", " CN", "CN ", "CHN", "CN,SG", "cn, sg", "SG", "US", "C N", "\u0421N",
    "text", "TEXT", "text,image", "image", "code", "text,", ",", "txt",
    "x" * 300, "\x1b[31mpublic\x1b[0m", "\u202epublic", "public\u200b", "public\n", "\x00",
]
WEIRD: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 0.5, -0.0, 2**63, 2**64 + 1, "", " ", [], {}, [None],
    [""], [[]], {"": None}, ["CN"], ["cn"], [" CN"], ["CHN"], ["CN,SG"], ["CN", "CN"],
    ["text"], ["TEXT"], ["text", "text"], [True], [1], {"status": "completed"},
    *PLAUSIBLE,
]


# Type neighbours of the contract's values: what a lax parser would take for them.
NEIGHBOURS: list[Any] = [
    True, False, None, "true", "True", "false", "yes", "no", "on", "1", "0", 1, 0, 1.0, 0.0,
    "", [], {}, "null", ["CN"], "CN", ["text"], "text", "completed", "passed", "public", -1,
]


def neighbour_values() -> st.SearchStrategy[Any]:
    return st.sampled_from(NEIGHBOURS).map(copy.deepcopy)


def weird_values() -> st.SearchStrategy[Any]:
    """Wrong types, empties, look-alikes, huge and deep values (fresh copies: documents
    are mutated in place and the pool must not change between examples)."""
    return st.one_of(
        st.sampled_from(WEIRD).map(copy.deepcopy),
        st.text(max_size=20),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.builds(lambda n: "\u00e9" * n, st.integers(1000, 50000)),  # huge
        st.builds(_nested, st.integers(2, 200)),  # deep
        st.lists(st.sampled_from(PLAUSIBLE), max_size=4),
    )


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = []
    if isinstance(value, dict):
        for k, v in value.items():
            found.append((*prefix, k))
            found.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found.append((*prefix, i))
            found.extend(_paths(v, (*prefix, i)))
    return found


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


@st.composite
def mutated(draw: Any, base: Any, targeted: list[tuple[Any, ...]]) -> Any:
    """``base`` with one to three mutations: delete, replace, empty, add a key."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        if not paths:
            break
        live = [p for p in targeted if _exists(doc, p)]
        aimed = bool(live) and draw(st.booleans())
        path = draw(st.sampled_from(live)) if aimed else draw(st.sampled_from(paths))
        parent, key = _parent(doc, path), path[-1]
        op = draw(st.sampled_from(["delete", "replace", "replace", "empty", "add"]))
        if aimed and op == "replace" and draw(st.booleans()):
            parent[key] = draw(neighbour_values())
            continue
        if op == "delete":
            del parent[key]
        elif op == "empty":
            current = parent[key]
            parent[key] = type(current)() if isinstance(current, (str, list, dict)) else None
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(max_size=10))] = draw(weird_values())
        else:
            parent[key] = draw(weird_values())
    return doc


def _exists(doc: Any, path: tuple[Any, ...]) -> bool:
    """``path`` names a member of an object or an array (not a character of a string)."""
    try:
        parent = _parent(doc, path)
        parent[path[-1]]
    except (KeyError, IndexError, TypeError):
        return False
    return isinstance(parent, (dict, list))


@st.composite
def serialised(draw: Any, doc: Any) -> bytes:
    """JSON text of ``doc``, sometimes damaged: duplicate key, lone surrogate, bad bytes."""
    op = draw(st.sampled_from(["plain"] * 6 + ["duplicate", "surrogate", "bytes", "truncate",
                                                "bom", "nan"]))
    if op == "duplicate":
        return _with_duplicate(doc, draw).encode("utf-8", "surrogatepass")
    text = json.dumps(doc)  # ASCII: lone surrogates in strings come out as \udxxx escapes
    data = text.encode()
    if op == "surrogate" and '"' in text:
        at = text.index('"') + 1
        data = (text[:at] + draw(st.sampled_from(["\\ud800", "\\udfff", "\\udbff"]))
                + text[at:]).encode()
    elif op == "bytes":
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    elif op == "truncate":
        data = data[: draw(st.integers(0, max(0, len(data) - 1)))]
    elif op == "bom":
        data = b"\xef\xbb\xbf" + data
    elif op == "nan":
        data = data.replace(b"1", b"NaN", 1)
    return data


def _with_duplicate(doc: Any, draw: Any) -> str:
    objects = [p for p in [(), *_paths(doc)] if isinstance(_get(doc, p), dict) and _get(doc, p)]
    if not objects:
        return json.dumps(doc)
    where = draw(st.sampled_from(objects))
    obj = _get(doc, where)
    key = draw(st.sampled_from(sorted(obj)))
    extra = json.dumps(key) + ": " + json.dumps(draw(weird_values()))
    first = draw(st.booleans())

    def dump(value: Any, path: tuple[Any, ...]) -> str:
        if isinstance(value, dict):
            items = [json.dumps(k) + ": " + dump(v, (*path, k)) for k, v in value.items()]
            if path == where:
                items = [extra, *items] if first else [*items, extra]
            return "{" + ", ".join(items) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(dump(v, (*path, i)) for i, v in enumerate(value)) + "]"
        return json.dumps(value)

    return dump(doc, ())


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


# ---- gate inputs


@cache
def allowed_gate_input() -> dict[str, Any]:
    return json.loads((EXAMPLES / "gate_input_allowed.json").read_text(encoding="utf-8"))


GATE_INPUT_TARGETS = [
    ("facts", "audience"), ("facts", "regions"), ("facts", "modalities"),
    ("facts", "filing", "status"), ("facts", "filing", "id"),
    ("facts", "assessment", "status"), ("facts", "assessment", "date"),
    ("facts", "assessment", "date_ns"), ("facts", "assessment", "report"),
    ("facts", "labeling", "explicit"), ("facts", "labeling", "implicit"), ("facts", "errors"),
    ("manifest", "attached"), ("manifest", "content"), ("manifest", "digest_tagged"),
    ("manifest", "digest_computed"), ("manifest", "schema_errors"), ("manifest", "parse_error"),
    ("manifest", "content", "labeling", "used"), ("manifest", "content", "datasets"),
    ("manifest", "content", "quality_measures"), ("request", "target"),
    ("request", "enforcement"), ("request", "kind"), ("now",), ("now_ns",), ("tags",),
    ("waivers",),
]
TARGETS = ["production", "PRODUCTION", "Production", "public", "champion", "staging",
           "candidate", "prodúction", "PRODUCTİON", "publıc", "production ", " production",
           "", "bad alias!", "production\n", "latest", "v1"]


@st.composite
def gate_inputs(draw: Any) -> tuple[bytes, str | None]:
    """(file bytes, --target or None): a mutated allowed gate input document."""
    doc = draw(mutated(allowed_gate_input(), GATE_INPUT_TARGETS))
    extra = draw(st.sampled_from(["none"] * 6 + ["waiver", "consistent-fact", "date"]))
    if extra == "waiver" and isinstance(doc, dict):
        doc["waivers"] = [{
            "id": "W-1", "codes": [draw(st.sampled_from(
                ["data_manifest.*", "filing.not_completed", "scope.*", "labeling.*"]))],
            "expires": draw(date_strings()), "justification": "j", "approver": "a",
            "ticket": "T-1",
        }]
    elif extra == "consistent-fact" and isinstance(doc, dict):
        _consistent_fact(doc, draw)
    elif extra == "date" and isinstance(doc.get("facts"), dict) and \
            isinstance(doc["facts"].get("assessment"), dict):
        day = draw(date_strings())
        doc["facts"]["assessment"]["date"] = day
        if isinstance(doc.get("tags"), dict):
            doc["tags"][ADATE] = day
        if re.match(r"^\d{4}-\d{2}-\d{2}$", day):
            try:
                d = date.fromisoformat(day)
                doc["facts"]["assessment"]["date_ns"] = int(
                    datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()) * 10**9
            except ValueError:
                pass
    target = draw(st.sampled_from(TARGETS)) if draw(st.integers(0, 9)) == 0 else None
    return draw(serialised(doc)), target


def _consistent_fact(doc: dict[str, Any], draw: Any) -> None:
    """Change a tag and its fact together, as Python would parse it: the hard cases."""
    if not isinstance(doc.get("facts"), dict) or not isinstance(doc.get("tags"), dict):
        return
    tag, value = draw(st.sampled_from([
        (AUDIENCE, "research"), (AUDIENCE, "enterprise"), (REGIONS, "SG"), (REGIONS, "US,SG"),
        (FSTATUS, "pending"), (ASTATUS, "failed"), (EXPLICIT, "false"), (MODS, "text,image"),
    ]))
    doc["tags"][tag] = value
    parsed = parse_tag(tag, value)
    fact_path = _FACT_OF_TAG[tag]
    try:
        _parent(doc["facts"], fact_path)[fact_path[-1]] = parsed
    except (KeyError, IndexError, TypeError):  # an earlier mutation removed the object
        return


# ---- registry evidence: tags and manifests


def compliant_tags(today: date) -> dict[str, str]:
    return shared_compliant_tags(today)


LOOKALIKE_KEYS = ["COMPLIANCE.audience", "compliance.AUDIENCE", "Compliance.Audience",
                  "compliance.audiénce", "ｃompliance.audience", "compliance.regions ",
                  "compliance.régions", "COMPLIANCE.FILING.STATUS", "compliance.filing.statuś",
                  "compliance.labeling.explicit\u0301", "compliance.data_manifest.SHA256"]


@st.composite
def tag_sets(draw: Any, today: date) -> dict[str, str]:
    """Compliant tags with one to four mutations."""
    tags = compliant_tags(today)
    tags[DIGEST] = hashlib.sha256(example_manifest_bytes()).hexdigest()
    values = st.one_of(st.sampled_from(PLAUSIBLE), st.text(max_size=30), date_strings(today),
                       st.builds(lambda n: "a" * n, st.integers(1000, 100_000)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "set", "set", "lookalike", "random", "digest"]))
        if op == "delete" and tags:
            del tags[draw(st.sampled_from(sorted(tags)))]
        elif op == "set":
            tags[draw(st.sampled_from(KNOWN_TAGS))] = draw(values)
        elif op == "lookalike":
            tags[draw(st.sampled_from(LOOKALIKE_KEYS))] = draw(values)
        elif op == "random":
            tags[draw(st.text(min_size=1, max_size=30))] = draw(st.text(max_size=30))
        else:
            tags[DIGEST] = draw(st.sampled_from([
                tags.get(DIGEST, "").upper(), " " + tags.get(DIGEST, ""), "0" * 64, "x" * 64,
                hashlib.sha256(b"other").hexdigest(), "",
            ]))
    return tags


MANIFEST_TARGETS = [
    ("manifest_version",), ("datasets",), ("datasets", 0), ("datasets", 0, "legitimate_source"),
    ("datasets", 0, "ip_cleared"), ("datasets", 0, "contains_personal_info"),
    ("datasets", 0, "personal_info_consent"), ("datasets", 0, "records"),
    ("datasets", 0, "kind"), ("foundation_models",), ("foundation_models", 0,
                                                       "legitimate_source"),
    ("quality_measures",), ("labeling",), ("labeling", "used"),
    ("labeling", "rules_documented"), ("labeling", "labeler_training"),
]


@st.composite
def manifests(draw: Any) -> bytes:
    """Manifest bytes mutated from the example (the digest tag is set to match them)."""
    base = json.loads(example_manifest_bytes())
    return draw(serialised(draw(mutated(base, MANIFEST_TARGETS))))


# ---------------------------------------------------------------- running mlgate


@dataclass
class Outcome:
    kind: str  # refused | blocked | allowed | crash
    detail: str = ""
    decision: Any = None


@cache
def embedded() -> tuple[Any, Any]:
    from mlgate.cli import EngineChoice, load_engine

    return load_engine(None, EngineChoice.embedded, None, None, 5.0)


_TMP = Path(tempfile.mkdtemp(prefix="mlgate-fuzz-"))


def run_check_input(data: bytes, target: str | None) -> Outcome:
    """``mlgate check --input FILE [--target T]`` in-process, minus the printing."""
    from mlgate.cli import input_document
    from mlgate.errors import InputError
    from mlgate.runner import evaluate

    policy_set, engine = embedded()
    path = _TMP / "gate_input.json"
    path.write_bytes(data)
    try:
        gate_input = input_document(path, policy_set, target, "alias")
    except InputError as exc:
        return Outcome("refused", str(exc))
    except Exception as exc:  # noqa: BLE001 - the finding
        return Outcome("crash", f"{type(exc).__name__}: {exc}"[:300])
    return _decide(lambda: evaluate(gate_input, engine, policy_set))


def run_registry(tags: dict[str, str], manifest: bytes | None, model: str = "fuzz-model") -> \
        Outcome:
    """A registered version's evidence through build_gate_input, waivers, evaluate."""
    from mlgate.evidence import Evidence, build_gate_input
    from mlgate.runner import attach_waivers, evaluate

    policy_set, engine = embedded()

    def decide() -> Any:
        evidence = Evidence(model=model, version="1", source="models:/m-fuzz", tags=tags,
                            aliases=[], manifest=manifest)
        gate_input = build_gate_input(evidence, target="production", kind="alias",
                                      config=policy_set.config)
        gate_input, warnings = attach_waivers(gate_input, policy_set)
        return evaluate(gate_input, engine, policy_set, warnings=warnings)

    return _decide(decide)


def _decide(call: Any) -> Outcome:
    try:
        decision = call()
    except Exception as exc:  # noqa: BLE001 - the finding: an error, not a decision
        return Outcome("crash", f"{type(exc).__name__}: {exc}"[:300])
    statuses = [g.status for g in decision.gates]
    if decision.allowed and decision.enforcement == "deny" and any(
        s not in ("pass", "waived", "not_applicable") for s in statuses
    ):
        return Outcome("crash", "decision invariant: allowed with a failing gate", decision)
    return Outcome("allowed" if decision.allowed else "blocked", decision=decision)


# ---------------------------------------------------------------- classification


def judge_check_input(data: bytes, target: str | None) -> tuple[Outcome, list[str], str]:
    """Run and judge one ``check --input`` case: (outcome, oracle reasons, verdict)."""
    outcome = run_check_input(data, target)
    document, why = strict_json(data)
    if why:
        protected, reasons = True, [f"document: {why}"]
    else:
        protected, reasons = gate_input_reasons(document, target)
    return outcome, reasons, verdict(outcome, protected, reasons)


def judge_registry(tags: dict[str, str], manifest: bytes | None) -> tuple[Outcome, list[str],
                                                                           str]:
    outcome = run_registry(tags, manifest)
    if outcome.kind == "refused":  # evidence is never the command's input: a gate failure
        outcome = Outcome("crash", "InputError on registry evidence: " + outcome.detail)
    reasons = registry_reasons(tags, manifest, datetime.now(UTC))
    return outcome, reasons, verdict(outcome, True, reasons)


def verdict(outcome: Outcome, protected: bool, reasons: list[str]) -> str:
    """``ok``, ``crash`` or ``fail-open``."""
    if outcome.kind == "crash":
        return "crash"
    if outcome.kind == "allowed" and protected and reasons:
        return "fail-open"
    return "ok"


# ---------------------------------------------------------------- describing a case


def changes(base: Any, value: Any, path: str = "") -> list[str]:
    """What differs between ``base`` and ``value``: ``path: old -> new`` lines, short."""
    if isinstance(base, dict) and isinstance(value, dict):
        out = []
        for key in sorted(set(base) | set(value), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in value:
                out.append(f"{where}: deleted")
            elif key not in base:
                out.append(f"{where}: added {_short(value[key])}")
            else:
                out.extend(changes(base[key], value[key], where))
        return out
    if isinstance(base, list) and isinstance(value, list) and len(base) == len(value):
        return [c for i, (b, v) in enumerate(zip(base, value, strict=True))
                for c in changes(b, v, f"{path}[{i}]")]
    if base == value and type(base) is type(value):
        return []
    return [f"{path}: {_short(base)} -> {_short(value)}"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def describe_bytes(data: bytes, base: Any) -> str:
    """A mutated document as its changes from ``base`` (or why it is not strict JSON)."""
    document, why = strict_json(data)
    if why:
        return f"{why}: {_short(data[:200])}"
    return "; ".join(changes(base, document)) or "(unchanged)"
