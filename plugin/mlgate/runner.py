"""Gate input -> engine -> decision. No printing, no typer: the CLI and the server plugin
both call this, so they decide identically.

Fail closed: the engine's raw result is checked here, once, for every engine. A missing
gate, an unknown status or an inconsistent ``allowed`` is an :class:`EngineError`.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from .engine.base import Engine
from .errors import EngineError, InputError
from .gate_input import enforcement_for, now_rfc3339  # noqa: F401 - runner's callers
from .jsondoc import GATE_INPUT_MAX_DEPTH, canonical, read_document
from .metadata import format_message
from .models import (
    OPTIONAL_INPUT_KEYS,
    Decision,
    EngineName,
    GateInput,
    GateResult,
    Severity,
    TargetKind,
    Violation,
)
from .policy import PolicySet
from .policydata import PolicySettings
from .tags import TagDeclarations

PASSING = ("pass", "waived", "not_applicable")
STATUSES = (*PASSING, "fail")
SEVERITIES: tuple[Severity, ...] = ("critical", "high", "medium", "low")


# --------------------------------------------------------------------------- inputs


def input_sha256(gate_input: GateInput) -> str:
    return serialise(gate_input)[2]


def serialise(gate_input: GateInput) -> tuple[dict[str, Any], str, str]:
    """The gate input as a JSON document, its canonical text, and that text's sha256.

    The manifest content goes in as it is: it is JSON as parsed (``manifest_evidence``,
    ``load_gate_input``), and pydantic re-walking it for ``mode="json"`` costs eight
    times the rest of the document (benchmarks/bench_policy.py).
    """
    document = gate_input.model_dump(mode="json", exclude={"manifest": {"content"}})
    document["manifest"]["content"] = gate_input.manifest.content
    for key in OPTIONAL_INPUT_KEYS:
        if document.get(key) is None:
            document.pop(key, None)
    text = canonical(document)
    return document, text.decode(), hashlib.sha256(text).hexdigest()


def load_gate_input(
    path: str | Path, declarations: TagDeclarations | None = None
) -> GateInput:
    """Read and validate a gate input document; :class:`InputError` names file and field.

    Its facts are validated against ``declarations``, the tag declarations of the policy
    set it is evaluated with (default: the bundled policies').
    """
    from pydantic import ValidationError

    from .tags import facts_model

    if declarations is None:
        from .policy import bundled_declarations

        declarations = bundled_declarations()
    document = read_document(path, max_depth=GATE_INPUT_MAX_DEPTH)
    where: tuple[str, ...] = ()
    try:
        # Strict: "on", "yes" or 1 for a boolean fact is not what Python writes; lax
        # pydantic would turn it into true before the engine sees it.
        gate_input = GateInput.model_validate(document, strict=True)
        where = ("facts",)  # the facts' shape is the declarations' (policies/**/tags.json)
        facts = facts_model(declarations).model_validate(gate_input.facts, strict=True)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in (*where, *err["loc"])) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        schema = "the policy set's tags.json" if where else "schemas/gate_input.schema.json"
        raise InputError(
            f"{path}: field {field}: {err['msg']}; expected a gate input document "
            f"({schema}){more}"
        ) from exc
    gate_input.facts = facts.model_dump(mode="json")
    contradictions = derived_contradictions(gate_input, declarations)
    if contradictions:
        more = f" (and {len(contradictions) - 1} more)" if len(contradictions) > 1 else ""
        raise InputError(f"{path}: {contradictions[0]}{more}")
    return gate_input


NS_LIMIT = 9_000_000_000_000_000_000
"""Nanoseconds beyond this (years before 1684 or after 2255) no engine's time functions take."""


def derived_contradictions(
    gate_input: GateInput, declarations: TagDeclarations | None = None
) -> list[str]:
    """Fields of a gate input document that contradict what they are derived from.

    A document evaluated offline (``check --input``) carries its raw material: the tags
    the facts were parsed from, the manifest content its schema errors come from, the
    evaluation time in two forms, the waivers' expiry. Python re-derives each and names
    the first field that disagrees, ``field X: ...``; an empty list when all agree.
    The facts are re-parsed with ``declarations`` (default: the bundled policies'), so
    every declared tag is checked, a date and its ``_ns`` included. The order of
    ``facts.errors`` is not evidence: it is compared as a set.
    """
    from .facts import DIGEST_PATH, manifest_errors, parse_facts

    if declarations is None:
        from .policy import bundled_declarations

        declarations = bundled_declarations()
    found: list[str] = []
    facts, digest = parse_facts(gate_input.tags, declarations)
    found += [
        f"field facts.{name}: {got!r} contradicts the tags, which give {want!r}"
        for name, got, want in _differences(
            _errors_sorted(gate_input.facts), _errors_sorted(facts)
        )
    ]
    manifest = gate_input.manifest
    if manifest.digest_tagged != digest:
        tag = declarations.input_path_tag(DIGEST_PATH) or "(no tag declared)"
        found.append(
            f"field manifest.digest_tagged: {manifest.digest_tagged!r} contradicts the tag "
            f"{tag}, which gives {digest!r}"
        )
    found += _manifest_contradictions(manifest, manifest_errors)
    found += _time_contradictions(gate_input)
    return found


def _errors_sorted(facts: dict[str, Any]) -> dict[str, Any]:
    errors = facts.get("errors")
    if not isinstance(errors, list):
        return facts
    return {**facts, "errors": sorted(errors, key=lambda e: json.dumps(e, sort_keys=True))}


def _differences(got: Any, want: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(got, dict) and isinstance(want, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in sorted(set(got) | set(want)):
            name = f"{prefix}.{key}" if prefix else key
            out += _differences(got.get(key), want.get(key), name)
        return out
    return [] if got == want else [(prefix, got, want)]


def _manifest_contradictions(manifest: Any, manifest_errors: Any) -> list[str]:
    found: list[str] = []
    for name in ("digest_tagged", "digest_computed"):
        value = getattr(manifest, name)
        if value is not None and not re.fullmatch(r"[0-9a-f]{64}", value):
            found.append(f"field manifest.{name}: {value!r} is not a lower-case sha256 digest")
    if not manifest.attached:
        if manifest.content is not None or manifest.digest_computed is not None:
            found.append(
                "field manifest.attached: false, but the document has the manifest's "
                "content or digest"
            )
        return found
    if manifest.digest_computed is None:
        found.append("field manifest.digest_computed: null, but the manifest is attached")
    if manifest.parse_error is None:
        if manifest.content is None:
            found.append(
                "field manifest.content: null, but the manifest is attached and parsed "
                "(parse_error is null)"
            )
        elif bool(manifest_errors(manifest.content)) != bool(manifest.schema_errors):
            valid = "schema-invalid" if manifest.schema_errors == [] else "schema-valid"
            found.append(
                f"field manifest.schema_errors: {manifest.schema_errors!r}, but the content "
                f"is {valid} (schemas/data_manifest.schema.json)"
            )
    return found


def _time_contradictions(gate_input: GateInput) -> list[str]:
    # `now` must be exactly what now_rfc3339 writes for now_ns (the policies compare
    # the two the same way), within the years the engines' time functions take.
    now, now_ns = gate_input.now, gate_input.now_ns
    if not -NS_LIMIT < now_ns < NS_LIMIT:
        return [f"field now_ns: {now_ns} is out of range"]
    moment = datetime.fromtimestamp(now_ns // 1_000_000_000, tz=UTC)
    expected = moment.isoformat(timespec="seconds").replace("+00:00", "Z")
    if now != expected:
        return [f"field now: {now!r} is not now_ns ({now_ns}) in RFC 3339 UTC, {expected}"]
    today = moment.astimezone(UTC).date()
    found = []
    for index, waiver in enumerate(gate_input.waivers):
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", waiver.expires):
                raise ValueError(waiver.expires)
            expires = date.fromisoformat(waiver.expires)
        except ValueError:
            found.append(
                f"field waivers.{index}.expires: {waiver.expires!r} is not a date (YYYY-MM-DD)"
            )
            continue
        if expires < today:
            found.append(
                f"field waivers.{index}.expires: waiver {waiver.id} expired on {expires}, "
                f"before now ({gate_input.now}); an expired waiver cannot apply"
            )
    return found


def retarget(
    gate_input: GateInput, target: str, kind: TargetKind, config: PolicySettings
) -> GateInput:
    """The same evidence, evaluated for another promotion target."""
    request = gate_input.request.model_copy(
        update={
            "target": target,
            "kind": kind,
            "enforcement": enforcement_for(target, kind, config),
        }
    )
    return gate_input.model_copy(update={"request": request})


# --------------------------------------------------------------------------- decision


def _expect(condition: bool, what: str) -> None:
    if not condition:
        raise EngineError(f"engine returned a malformed decision: {what}")


def build_decision(
    gate_input: GateInput,
    raw: Any,
    policy_set: PolicySet,
    *,
    engine_name: EngineName,
    revision: str,
    sha256: str | None = None,
) -> Decision:
    """Check the engine's raw decision and dress it with METADATA wording."""
    _expect(isinstance(raw, dict), "not an object")
    gates_raw = raw.get("gates")
    _expect(isinstance(gates_raw, dict), "gates is not an object")
    gate_ids = policy_set.gate_ids  # this set's own list: each revision decides with its own
    for gate_id in gate_ids:
        if gate_id not in gates_raw:
            raise EngineError(
                f"the policy set {policy_set.root} leaves gate '{gate_id}' undefined "
                f"(data.mlgate.main.decision.gates.{gate_id}); refusing to decide"
            )
    enforcement = raw.get("enforcement")
    _expect(enforcement in ("deny", "warn"), f"enforcement is {enforcement!r}")
    # Enforcement is Python's to decide, from the target and the validated policy data: an
    # OPA server with stale or foreign policies must not turn a protected target into warn.
    request = gate_input.request
    required = enforcement_for(request.target, request.kind, policy_set.config)
    if enforcement != required:
        raise EngineError(
            f"engine said enforcement={enforcement} for {request.kind} '{request.target}', "
            f"but the policy data makes it {required}; refusing (stale or foreign policies?)"
        )
    _expect(raw.get("in_scope") in (True, False, None), "in_scope is not true, false or null")
    _expect(isinstance(raw.get("allowed"), bool), "allowed is not a boolean")

    ordered = list(gate_ids) + sorted(set(gates_raw) - set(gate_ids))
    gates = [_gate_result(gid, gates_raw[gid], policy_set) for gid in ordered]

    all_pass = all(g.status in PASSING for g in gates)
    allowed = all_pass or enforcement == "warn"
    if raw["allowed"] != allowed:
        raise EngineError(
            f"engine said allowed={raw['allowed']} but the gate statuses say {allowed}; "
            "refusing an inconsistent decision"
        )
    waivers = sorted({v.waived_by for g in gates for v in g.violations if v.waived_by})
    return Decision(
        decision_id=str(uuid.uuid4()),
        model=gate_input.model.name,
        version=gate_input.model.version,
        target=gate_input.request.target,
        allowed=allowed,
        in_scope=raw["in_scope"],
        enforcement=enforcement,
        gates=gates,
        waivers_applied=waivers,
        policy_revision=revision,
        engine=engine_name,
        input_sha256=sha256 or input_sha256(gate_input),
        evaluated_at=gate_input.now,
        model_files_sha256=gate_input.attestation.files_sha256 if gate_input.attestation else None,
    )


def _gate_result(gate_id: str, raw: Any, policy_set: PolicySet) -> GateResult:
    _expect(isinstance(raw, dict), f"gate {gate_id} is not an object")
    status = raw.get("status")
    _expect(status in STATUSES, f"gate {gate_id} has status {status!r}")
    raw_violations = raw.get("violations")
    _expect(isinstance(raw_violations, list), f"gate {gate_id} violations is not a list")
    _expect(status != "fail" or len(raw_violations) > 0, f"gate {gate_id} fails with no violation")
    violations = sorted(
        (_violation(gate_id, v, policy_set) for v in raw_violations), key=lambda v: v.code
    )
    meta = policy_set.gate_meta.get(gate_id)
    solutions: list[str] = []
    for v in violations:
        rule = policy_set.violation_meta.get(v.code)
        if rule and rule.solution and rule.solution not in solutions and not v.waived_by:
            solutions.append(rule.solution)
    return GateResult(
        id=gate_id,
        title=meta.title if meta else gate_id,
        status=status,
        violations=violations,
        references=list(meta.references) if meta else [],
        remediation=" ".join(solutions) if status == "fail" else "",
    )


def _violation(gate_id: str, raw: Any, policy_set: PolicySet) -> Violation:
    _expect(isinstance(raw, dict), f"a violation of gate {gate_id} is not an object")
    code = raw.get("code")
    _expect(isinstance(code, str) and code.startswith(gate_id + "."), f"bad code {code!r}")
    params = raw.get("params") or {}
    _expect(isinstance(params, dict), f"params of {code} is not an object")
    rule = policy_set.violation_meta.get(code)
    template = rule.failure_msg if rule and rule.failure_msg else code
    severity: Severity = next((s for s in SEVERITIES if rule and rule.severity == s), "high")
    waived_by = raw.get("waived_by")
    return Violation(
        code=code,
        message=format_message(template, params),
        severity=severity,
        waived_by=waived_by if isinstance(waived_by, str) else None,
    )


def evaluate(
    gate_input: GateInput,
    engine: Engine,
    policy_set: PolicySet,
    *,
    warnings: list[str] | None = None,
) -> Decision:
    """Evaluate one gate input document with ``engine``; raise on any engine trouble.

    The document is evaluated as it is (``--input`` replays a logged decision); registry
    flows first fill in the active waivers with :func:`attach_waivers`.
    """
    check_enforcement_claim(gate_input, policy_set.config)
    document, text, sha256 = serialise(gate_input)
    raw = engine.evaluate(document, text)
    decision = build_decision(
        gate_input,
        raw,
        policy_set,
        engine_name=engine.name,
        revision=engine.revision(),
        sha256=sha256,
    )
    if warnings:
        decision.warnings = list(warnings)
    return decision


def check_enforcement_claim(gate_input: GateInput, config: PolicySettings) -> None:
    """A document (``check --input``) whose enforcement contradicts its target is refused."""
    request = gate_input.request
    required = enforcement_for(request.target, request.kind, config)
    if request.enforcement != required:
        raise InputError(
            f"field request.enforcement: '{request.enforcement}' contradicts the policy data, "
            f"which makes {request.kind} '{request.target}' {required}"
        )


def attach_waivers(gate_input: GateInput, policy_set: PolicySet) -> tuple[GateInput, list[str]]:
    """The gate input with the policy set's waivers active for this version at ``now``."""
    from .waivers import applicable_waivers

    moment = datetime.fromisoformat(gate_input.now.replace("Z", "+00:00"))
    found = applicable_waivers(
        policy_set.waivers,
        gate_input.model.name,
        gate_input.model.version,
        moment,
        policy_set.config.waivers,
    )
    return gate_input.model_copy(update={"waivers": found.active}), found.warnings


def make_engine(
    name: str,
    policy_set: PolicySet,
    *,
    opa_url: str | None = None,
    opa_token: str | None = None,
    timeout: float = 5.0,
) -> Engine:
    """The engine deciding under ``policy_set``; a set whose gates are miswired (a gate
    package not in required_gates, a wired id without its package) is refused here, so
    no decision is made on it (exit 2, naming the set)."""
    policy_set.require_wired()
    if name == "embedded":
        from .engine.embedded import EmbeddedEngine

        return EmbeddedEngine(policy_set)
    if name == "opa":
        if not opa_url:
            raise InputError("--engine opa needs --opa-url or MLGATE_OPA_URL")
        from .engine.opa import OpaEngine

        return OpaEngine(opa_url, token=opa_token, timeout=timeout)
    raise InputError(f"--engine: unknown engine {name!r}; expected embedded or opa")
