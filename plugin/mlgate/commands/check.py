"""``mlgate check``: evaluate a model version (or a gate input document) and report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import InputError
from .common import app, guarded, load_engine, report
from .options import (
    DEFAULT_REGISTRY_TIMEOUT,
    EngineChoice,
    EngineOpt,
    Format,
    FormatOpt,
    OpaTimeoutOpt,
    OpaTokenOpt,
    OpaUrlOpt,
    OutputOpt,
    PoliciesOpt,
    RegistryTimeoutOpt,
    RegistryUriOpt,
    SarifAnchorOpt,
    SarifWaivedOpt,
    TrackingUriOpt,
    sarif_options,
    seconds,
)

if TYPE_CHECKING:
    from ..models import TargetKind


@app.command()
@guarded
def check(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Registered model name (then VERSION), or MODEL@ALIAS.", show_default=False
        ),
    ] = None,
    version: Annotated[
        str | None, typer.Argument(help="Model version number.", show_default=False)
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="Evaluate a gate input document (JSON) offline, with no MLflow at all.",
        ),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Alias (or stage with --stage) to evaluate promotion to. "
            "Default: the policy data's default_target (production).",
            show_default=False,
        ),
    ] = None,
    stage: Annotated[
        bool, typer.Option("--stage", help="--target names a stage, not an alias.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    registry_timeout: RegistryTimeoutOpt = DEFAULT_REGISTRY_TIMEOUT,
    policies: PoliciesOpt = None,
    engine: EngineOpt = EngineChoice.embedded,
    opa_url: OpaUrlOpt = None,
    opa_token: OpaTokenOpt = None,
    opa_timeout: OpaTimeoutOpt = 5.0,
    fmt: FormatOpt = Format.table,
    output: OutputOpt = None,
    sarif_anchor: SarifAnchorOpt = None,
    sarif_include_waived: SarifWaivedOpt = False,
) -> None:
    """Evaluate the gates for a model version (or a gate input document); print the report.

    Exit 0 allowed, 1 blocked, 2 error. Without --target the version is checked for the
    policy data's default_target (production). A check is a read: it sets no alias, writes
    no tag and logs nothing (promote does).

    Examples:

        mlgate check chatbot 3

        mlgate check chatbot@champion --target public --format json

        mlgate check --input examples/gate_input_blocked.json --format table
    """
    from ..gate import decide, decide_input
    from ..targets import validate_target

    kind: TargetKind = "stage" if stage else "alias"
    if input_file is not None:
        if model is not None:
            raise InputError("check: give MODEL VERSION, MODEL@ALIAS or --input FILE, not both")
        policy_set, eng = load_engine(policies, engine, opa_url, opa_token, opa_timeout)
        formatting = sarif_options(fmt, policy_set, sarif_anchor, sarif_include_waived)
        decision = decide_input(input_document(input_file, policy_set, target, kind), eng,
                                policy_set)
    else:
        if model is None:
            raise InputError("check: give MODEL VERSION, MODEL@ALIAS or --input FILE")
        from ..evidence import Registry, configure_cli_environment, parse_version_ref

        ref = parse_version_ref(model, version)
        policy_set, eng = load_engine(policies, engine, opa_url, opa_token, opa_timeout)
        formatting = sarif_options(fmt, policy_set, sarif_anchor, sarif_include_waived)
        target_given = target is not None
        if target is None:
            target = policy_set.config.default_target
        validate_target(
            target,
            kind,
            policy_set.config.protected_aliases,
            what="--target" if target_given else "policy data default_target",
        )
        configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
        registry = Registry(tracking_uri, registry_uri)
        from ..attestation import trusted_keys

        registry.trusted_keys = trusted_keys(policy_set.config.values)
        decision, _ = decide(registry.read(ref), target, kind, eng, policy_set)
    raise typer.Exit(report([decision], fmt, output, formatting))


def input_document(
    input_file: Path, policy_set: Any, target: str | None, kind: TargetKind
) -> Any:
    """``check --input``: the gate input document in ``input_file``, ready to evaluate.

    Everything ``check --input`` does to a document before the engine sees it happens
    here (tests/test_fuzz.py drives this function with mutated documents): read it
    strictly, validate it, validate the target (``--target`` or the document's own) and
    retarget. :class:`InputError` for anything wrong, one line naming file and field.
    """
    from ..runner import check_enforcement_claim, load_gate_input, retarget
    from ..targets import validate_target

    protected = policy_set.config.protected_aliases
    gate_input = load_gate_input(input_file, policy_set.tag_declarations)
    if target is not None:
        validate_target(target, kind, protected)
        return retarget(gate_input, target, kind, policy_set.config)
    request = gate_input.request  # the document's own target: the same rules as --target
    validate_target(request.target, request.kind, protected, what=f"{input_file}: request.target")
    try:
        check_enforcement_claim(gate_input, policy_set.config)
    except InputError as exc:
        raise InputError(f"{input_file}: {exc}") from exc
    return gate_input
