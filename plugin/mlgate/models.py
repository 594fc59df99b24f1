"""The contract in pydantic: facts, data manifest, gate input, decision, waivers.

The JSON Schemas in ``schemas/`` are generated from these models (``python -m
mlgate.schemas``) and a test fails when they are stale. The policy data (``mlgate.config``)
is not here: its schemas live in the policy set (:mod:`mlgate.policydata`). Keep this
module free of I/O and of heavy imports: ``mlgate check --input`` imports it on its fast path.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_validator,
    model_serializer,
)

Audience = Literal["public", "enterprise", "internal", "research"]
Modality = Literal["text", "image", "audio", "video", "code"]
GateStatus = Literal["pass", "fail", "waived", "not_applicable", "error"]
Enforcement = Literal["deny", "warn"]
Severity = Literal["critical", "high", "medium", "low"]
EngineName = Literal["embedded", "opa"]
TargetKind = Literal["alias", "stage"]
# A decision in the words every report, log, page and the demo use (Decision.outcome).
Outcome = Literal["allowed", "warn", "out of scope", "blocked"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- manifest


def _json_integer(value: Any) -> Any:
    """A JSON Schema ``integer``: 3 and 3.0, never ``true`` (pydantic treats True as 1)."""
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not a boolean")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInteger = Annotated[int, BeforeValidator(_json_integer)]

# Strict: "true", 1 or "yes" for a boolean would pass pydantic's lax mode and then never
# equal true in Rego, so a duty would silently go unchecked. The manifest models accept
# exactly what schemas/data_manifest.schema.json accepts (tests/test_manifest_strict.py).
_MANIFEST = ConfigDict(extra="allow", strict=True)  # unknown fields kept, ignored by gates


class FoundationModel(BaseModel):
    model_config = _MANIFEST

    name: str = Field(min_length=1)
    source: str = Field(min_length=1)
    license: str = Field(min_length=1)
    legitimate_source: bool


class SafetySampling(BaseModel):
    """A dataset's safety sampling (GB/T 45654-2025 training-data source rule, v1 extension)."""

    model_config = _MANIFEST

    sample_size: JsonInteger = Field(ge=0)
    violation_rate: float = Field(ge=0, le=1, allow_inf_nan=False)


class Dataset(BaseModel):
    model_config = _MANIFEST

    name: str = Field(min_length=1)
    kind: Literal["pretraining", "finetuning", "preference", "evaluation", "other"]
    source_category: Literal[
        "licensed",
        "public_domain",
        "open_license",
        "user_consented",
        "web_crawl",
        "synthetic",
        "internal",
    ]
    license: str = Field(min_length=1)
    legitimate_source: bool
    ip_cleared: bool
    contains_personal_info: bool
    personal_info_consent: bool | None = None
    records: JsonInteger = Field(ge=0)
    # max_length too: a JSON Schema validator's "$" also matches before a final newline.
    sha256: str | None = Field(
        default=None, min_length=64, max_length=64, pattern=r"^[0-9a-fA-F]{64}$"
    )
    uri: str | None = None
    # Optional (manifest v1 extension): required only when policy data says so.
    safety_sampling: SafetySampling | None = None


class ManifestLabeling(BaseModel):
    model_config = _MANIFEST

    used: bool
    rules_documented: bool = False
    rules_uri: str | None = None
    quality_assessment: bool = False
    sampling_verification: bool = False
    labeler_training: bool = False


class DataManifest(BaseModel):
    """``compliance/data_manifest.json``, version 1."""

    model_config = ConfigDict(extra="allow", strict=True, title="mlgate data manifest v1")

    manifest_version: Annotated[Literal[1], BeforeValidator(_json_integer)]
    foundation_models: list[FoundationModel] = Field(default_factory=list)
    datasets: list[Dataset]
    quality_measures: list[str]
    labeling: ManifestLabeling


# --------------------------------------------------------------------------- facts


class FactError(_Strict):
    """A tag that is present but does not parse: a gate failure, never an exception."""

    tag: str
    value: str
    expected: str


# The facts' shape comes from the policy set's tag declarations (mlgate.tags.facts_model):
# GateInput.facts is validated against them where a document is read (runner).


# --------------------------------------------------------------------------- gate input


class ModelRef(_Strict):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)


class Request(_Strict):
    target: str = Field(min_length=1, description="alias or stage the version is promoted to")
    kind: TargetKind = "alias"
    enforcement: Enforcement


class ManifestEvidence(_Strict):
    attached: bool = Field(description="the artifact compliance/data_manifest.json exists")
    content: dict[str, Any] | None = Field(
        default=None, description="parsed JSON when it parsed, else null"
    )
    digest_tagged: str | None = Field(
        default=None, description="compliance.data_manifest.sha256, lower case; null if absent"
    )
    digest_computed: str | None = Field(
        default=None, description="sha256 of the artifact's bytes as downloaded now"
    )
    parse_error: str | None = Field(default=None, description="why the artifact is not JSON")
    schema_errors: list[str] = Field(
        default_factory=list, description="data_manifest.schema.json violations, path: message"
    )


AttestationSignature = Literal["valid", "invalid", "untrusted"]


class AttestationEvidence(_Strict):
    """What Python found checking ``compliance/attestation.dsse.json`` (mlgate.attestation):
    the signature verified and the model files hashed here; the attestation gate decides."""

    present: bool = Field(description="the artifact compliance/attestation.dsse.json exists")
    envelope_sha256: str | None = Field(default=None, description="sha256 of its bytes")
    error: str | None = Field(
        default=None, description="why it could not be read, verified or the files hashed"
    )
    signature: AttestationSignature | None = None
    signer: str | None = Field(default=None, description="name of the trusted key that signed")
    subject_match: bool = Field(default=False, description="the statement names this version")
    statement_model: str | None = None
    statement_version: str | None = None
    tags_diff: list[str] = Field(
        default_factory=list, description="compliance.* tags added, removed or changed since"
    )
    manifest_match: bool = Field(default=False, description="same data manifest digest")
    files_diff: list[str] = Field(
        default_factory=list, description="model files added, removed or changed since"
    )
    files_sha256: str | None = Field(
        default=None, description="digest of the current model files (mlgate.modelfiles)"
    )


def _whole(value: int | float) -> int | float:
    """An integral metric as an integer: the engines disagree on how a 499.0 reads back
    (regorus 499, OPA 499.0), and a message must not depend on the engine."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        return int(value)
    return value


Metric = Annotated[
    Annotated[int, Field(strict=True)]
    | Annotated[float, Field(strict=True, allow_inf_nan=False)],
    AfterValidator(_whole),
]


class EvaluationEvidence(_Strict):
    """The safety-evaluation run named by ``compliance.evaluation.run_id``, as read with
    one ``get_run`` on the registry's own tracking server (contract section 7)."""

    run_id: str = Field(description="the run id the tag names (stripped)")
    found: bool = Field(description="the run was read; false when absent or unreadable")
    status: str | None = Field(default=None, description="the run's status, e.g. FINISHED")
    experiment_id: str | None = Field(default=None, description="the run's experiment id")
    metrics: dict[str, Metric] = Field(
        default_factory=dict, description="the run's latest metrics, finite numbers only"
    )
    invalid_metrics: list[str] = Field(
        default_factory=list, description="metric keys whose value is NaN or infinite"
    )
    error: str | None = Field(default=None, description="why the run could not be read")


class Waiver(_Strict):
    """A waiver already matched to this model version and active at ``now``."""

    id: str
    codes: list[str]
    expires: str
    justification: str = ""
    approver: str = ""
    ticket: str = ""


class Provenance(_Strict):
    """Who set a compliance tag's current value, from the evidence ledger; all null when
    unknown (no ledger row set this value: written before the ledger, outside the gated
    store, or without a verified user)."""

    writer: str | None = Field(default=None, description="the verified MLflow user")
    time: str | None = Field(default=None, description="when, RFC 3339 UTC")
    source: str | None = Field(default=None, description="the request that wrote it")


# Optional gate-input keys left out of the document when absent, so that inputs without
# them (and their input_sha256) are exactly what they were before they existed.
OPTIONAL_INPUT_KEYS = ("provenance", "promoted_by", "attestation", "evaluation")


class GateInput(_Strict):
    """The one document Rego sees as ``input``; any decision can be replayed from it."""

    model_config = ConfigDict(extra="forbid", title="mlgate gate input")

    input_version: Literal[1] = 1
    model: ModelRef
    request: Request
    facts: dict[str, Any] = Field(
        description="the parsed compliance.* tags, shaped by the policy set's tag declarations"
    )
    tags: dict[str, str] = Field(default_factory=dict)
    aliases: list[str] = Field(default_factory=list)
    manifest: ManifestEvidence
    attestation: AttestationEvidence | None = Field(
        default=None, description="present only when the attestation gate has trusted keys"
    )
    evaluation: EvaluationEvidence | None = Field(
        default=None,
        description="the run compliance.evaluation.run_id names; null when the tag is absent",
    )
    now: str = Field(description="evaluation time, RFC 3339 UTC")
    now_ns: int
    waivers: list[Waiver] = Field(default_factory=list)
    provenance: dict[str, Provenance] | None = Field(
        default=None,
        description="per compliance.* tag: who set its current value and when (the "
        "evidence ledger); absent: not read (a plain registry or a document)",
    )
    promoted_by: str | None = Field(
        default=None,
        description="the verified user asking for the promotion; absent: unknown",
    )

    @model_serializer(mode="wrap")
    def _leave_out_absent_optional_keys(self, handler: SerializerFunctionWrapHandler) -> Any:
        # Every dump of an input without them is what it was before they existed.
        document = handler(self)
        if isinstance(document, dict):
            for key in OPTIONAL_INPUT_KEYS:
                if document.get(key) is None:
                    document.pop(key, None)
        return document


# --------------------------------------------------------------------------- decision


class Violation(_Strict):
    code: str
    message: str
    severity: Severity
    waived_by: str | None = Field(default=None, description="id of the waiver covering it")


class GateResult(_Strict):
    id: str
    title: str
    status: GateStatus
    violations: list[Violation] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    remediation: str = ""


class Decision(_Strict):
    model_config = ConfigDict(extra="forbid", title="mlgate decision")

    decision_id: str
    model: str
    version: str
    target: str
    allowed: bool
    in_scope: bool | None
    enforcement: Enforcement
    gates: list[GateResult]
    waivers_applied: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(
        default_factory=list, description="expired or soon-expiring waivers, and the like"
    )
    policy_revision: str
    engine: EngineName
    input_sha256: str
    evaluated_at: str
    model_files_sha256: str | None = Field(
        default=None, description="digest of the model files the decision was made on "
        "(sha256 of the canonical JSON of name -> sha256): for a protected target, and "
        "whenever the attestation gate hashed them; null when not hashed or hashing failed"
    )
    model_files: dict[str, str] | None = Field(
        default=None, description="name -> sha256 of each model file that digest covers "
        "(what audit names a changed file by); null when not hashed"
    )

    @property
    def blocking_gates(self) -> list[GateResult]:
        return [g for g in self.gates if g.status in ("fail", "error")]

    @property
    def failing_codes(self) -> list[str]:
        """Codes of the violations no waiver covers, in the gates that block (or would,
        under warn): sorted, each once. The decision log, audit and the demo name these."""
        return sorted(
            {v.code for g in self.blocking_gates for v in g.violations if not v.waived_by}
        )

    @property
    def outcome(self) -> Outcome:
        """The decision in the words a reader is told, the one place they are decided:

        - ``blocked``: not allowed (a gate fails or errored, and the target is protected);
        - ``warn``: allowed although gates fail or errored, because the target is not
          protected (enforcement warn): it would be blocked under deny;
        - ``out of scope``: allowed because the version is outside the regulation's scope
          (the scope gate says so; the other gates do not apply);
        - ``allowed``: every gate passed, was waived or does not apply.
        """
        if not self.allowed:
            return "blocked"
        if self.blocking_gates:
            return "warn"
        if self.in_scope is False:
            return "out of scope"
        return "allowed"


# --------------------------------------------------------------------------- waivers


class WaiverEntry(_Strict):
    """One exception in ``policies/waivers.json``, edited by compliance."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    model: str = Field(min_length=1, description="registered model name or glob (fnmatch)")
    versions: list[str] | Literal["*"] = Field(description='version numbers, or "*" for all')
    codes: list[Annotated[str, StringConstraints(pattern=r"^[a-z_]+\.([a-z0-9_]+|\*)$")]] = Field(
        min_length=1,
        description="violation codes or <gate>.*; scope codes cannot be waived",
    )
    justification: str = Field(min_length=1)
    approver: str = Field(min_length=1)
    ticket: str = Field(min_length=1)
    granted: date | None = Field(
        default=None, description="when it was granted; validity counts from here (or today)"
    )
    expires: date = Field(description="last day the waiver applies (UTC)")

    @field_validator("codes")
    @classmethod
    def _scope_is_not_waivable(cls, codes: list[str]) -> list[str]:
        # Scope undecidability means the gate cannot tell; no exception can fix that. Nor
        # can one fix ill-formed input or policy data (<gate>.input_invalid).
        for code in codes:
            if code.startswith("scope."):
                raise ValueError(f"{code}: scope violations cannot be waived")
            if code.endswith(".input_invalid"):
                raise ValueError(f"{code}: ill-formed input cannot be waived")
        return codes


class WaiverFile(_Strict):
    model_config = ConfigDict(extra="forbid", title="mlgate waivers")

    waivers: list[WaiverEntry] = Field(default_factory=list)
