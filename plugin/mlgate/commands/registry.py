"""``mlgate promote`` and ``mlgate manifest validate | attach``: the registry-writing commands.

The commands are thin: :func:`mlgate.gate.promote` does the work (``mlgate demo`` calls
it too).
A promotion is logged (source ``cli``) and tagged on the version, allowed or blocked;
``--dry-run`` evaluates and reports but writes nothing anywhere. ``mlgate check`` is a
read and logs nothing, as ``conftest test`` and an OPA query write nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import EXIT_ALLOWED, app, guarded, load_engine, report
from .options import (
    DEFAULT_REGISTRY_TIMEOUT,
    DecisionLogOpt,
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
    from ..evidence import Registry, VersionRef
    from ..models import Decision
    from ..serverrecord import ServerRecord

manifest_app = typer.Typer(
    help="Validate a training-data manifest, or attach one to a model version.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(manifest_app, name="manifest")


# --------------------------------------------------------------------------- the server decides


# The decision id at the end of the server store's refusal ("decision <uuid> (policy ...").
_DECISION_ID = re.compile(
    r"\bdecision ([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"
)


def promote_on_server(
    registry: Registry, ref: VersionRef, alias: str, record: ServerRecord
) -> Decision:
    """Ask a tracking server that runs the mlgate store to set the alias, and read back the
    decision it made and logged.

    The server's store evaluates every alias it is asked to set (and refuses a blocked
    one with 403), so deciding here as well would log a second, different decision for
    one request. The decision is found by the id the refusal names, or, when allowed, by
    the version's ``mlgate.decision_id`` tag (checked against model, version and target;
    else the newest allowed decision for them).
    """
    from ..errors import RegistryError
    from ..evidence import _error_code

    mv = registry.model_version(ref)
    name, version = mv.name, str(mv.version)
    decision_id: str | None = None
    try:
        registry.client.set_registered_model_alias(name, alias, version)
        allowed = True
    except Exception as exc:  # noqa: BLE001 - sorted out below; anything else is exit 2
        message = str(getattr(exc, "message", "") or exc)
        found = _DECISION_ID.search(message)
        if _error_code(exc) != "PERMISSION_DENIED" or found is None:
            raise registry._registry_error(
                f"set alias {alias!r} of model {name!r} to version {version}", exc
            ) from exc
        allowed, decision_id = False, found.group(1)
    if decision_id is None:
        with registry.calling(f"model {name!r} version {version}"):
            decision_id = registry.client.get_model_version(name, version).tags.get(
                "mlgate.decision_id"
            )
    entry = record.decision(decision_id) if decision_id else None
    if entry is None or (entry.model, entry.version, entry.target, entry.allowed) != (
        name, version, alias, allowed
    ):
        # Another promotion of the same version may have re-tagged it meanwhile.
        latest = record.entries(model=name, version=version, target=alias,
                                allowed_only=allowed, blocked_only=not allowed, limit=1)
        entry = latest[0] if latest else None
    if entry is None:
        raise RegistryError(
            f"the server {registry.where} {'set' if allowed else 'refused'} alias {alias!r} "
            f"of model {name!r} version {version}, but its record "
            f"{record.masked_url} holds no such decision"
        )
    return entry.decision


# --------------------------------------------------------------------------- commands


@app.command("promote")
@guarded
def promote_command(
    model: Annotated[str, typer.Argument(help="Registered model name.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Model version number.", show_default=False)],
    alias: Annotated[
        str,
        typer.Option(
            "--alias", "-a", help="Alias to set when the gates allow it, e.g. production.",
            show_default=False,
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", metavar="",
            help="Evaluate and report only: set no alias, write no tag, log nothing.",
        ),
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    registry_timeout: RegistryTimeoutOpt = DEFAULT_REGISTRY_TIMEOUT,
    decision_log: DecisionLogOpt = None,
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
    """Check a model version, then set ALIAS on it only if the gates allow it.

    The decision is appended to the decision log and written on the version as the tags
    mlgate.decision, mlgate.decision_id, mlgate.policy_revision and mlgate.checked_at,
    allowed or blocked. If the version's compliance tags or manifest change while it is
    being evaluated, the alias is not set (exit 2). Against a tracking server that runs
    the mlgate store, the server decides, logs and tags (its store gates every alias), and
    promote reports the decision it reads back from the server's record. Exit 0 allowed
    (alias set), 1 blocked, 2 error.

    Example:

        mlgate promote chatbot 3 --alias production
    """
    from ..decisionlog import DecisionLog, current_actor, default_log_url
    from ..evidence import Registry, configure_cli_environment, parse_version_ref
    from ..gate import promote
    from ..targets import validate_alias, validate_target

    ref = parse_version_ref(model, version)
    validate_alias(alias)
    policy_set, eng = load_engine(policies, engine, opa_url, opa_token, opa_timeout)
    formatting = sarif_options(fmt, policy_set, sarif_anchor, sarif_include_waived)
    validate_target(alias, "alias", policy_set.config.protected_aliases, what="--alias")
    configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
    registry = Registry(tracking_uri, registry_uri)
    from ..attestation import trusted_keys

    registry.trusted_keys = trusted_keys(policy_set.config.values)
    if not dry_run:
        record = _server_record(registry, decision_log)
        if record is not None:
            decision = promote_on_server(registry, ref, alias, record)
            raise typer.Exit(report([decision], fmt, output, formatting))
    result = promote(
        registry, ref, alias, eng, policy_set,
        open_log=lambda: DecisionLog(decision_log or default_log_url(registry.tracking_uri)),
        actor=current_actor, dry_run=dry_run,
    )
    raise typer.Exit(report([result.decision], fmt, output, formatting))


def _server_record(registry: Registry, decision_log: str | None) -> ServerRecord | None:
    """The record of a tracking server running the mlgate store, which then decides; None
    to decide here (not a server, or one without the store: said on stderr, with where
    this decision is logged instead)."""
    from ..decisionlog import default_log_url
    from ..serverrecord import NoServerRecord, is_server_uri, server_record
    from ..uris import mask_password

    uri = registry.registry_uri or registry.tracking_uri
    if not is_server_uri(uri):
        return None
    try:
        return server_record(uri)
    except NoServerRecord as exc:
        url = decision_log or default_log_url(registry.tracking_uri)
        typer.echo(
            f"mlgate: {exc}. Deciding here; this decision is logged to {mask_password(url)}",
            err=True,
        )
        return None


@manifest_app.command("validate")
@guarded
def manifest_validate(
    file: Annotated[
        Path, typer.Argument(help="Data manifest (JSON) to validate.", show_default=False)
    ],
) -> None:
    """Validate a data manifest against schemas/data_manifest.schema.json.

    Exit 0 valid; 2 invalid, with one line naming the file and the field.

    Example:

        mlgate manifest validate compliance/data_manifest.json
    """
    from ..evidence import load_manifest_file
    from ..facts import sha256_hex

    content = load_manifest_file(file)
    typer.echo(f"{file}: valid data manifest (sha256 {sha256_hex(content)})")
    raise typer.Exit(EXIT_ALLOWED)


@manifest_app.command("attach")
@guarded
def manifest_attach(
    model: Annotated[str, typer.Argument(help="Registered model name.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Model version number.", show_default=False)],
    file: Annotated[
        Path, typer.Argument(help="Data manifest (JSON) to attach.", show_default=False)
    ],
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    policies: PoliciesOpt = None,
    registry_timeout: RegistryTimeoutOpt = DEFAULT_REGISTRY_TIMEOUT,
) -> None:
    """Validate FILE, log it as the version's manifest artifact and tag its digest.

    FILE becomes the version's compliance/data_manifest.json (for MLflow 3 logged models
    and run-based versions alike) and its sha256 the tag compliance.data_manifest.sha256,
    set only after the artifact reads back intact. An invalid file, or a version holding
    a protected alias or stage (its evidence is frozen), is refused (exit 2) before
    anything is written.

    Example:

        mlgate manifest attach chatbot 3 data_manifest.json
    """
    from ..evidence import (
        Registry,
        configure_cli_environment,
        load_manifest_file,
        parse_version_ref,
    )
    from ..policy import load_policy_dir

    ref = parse_version_ref(model, version)
    load_manifest_file(file)  # refuse a bad file before touching the registry
    config = load_policy_dir(policies).config  # its protected aliases and stages
    configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
    registry = Registry(tracking_uri, registry_uri)
    evidence, digest = registry.attach_manifest(ref, file, config)
    typer.echo(
        f"attached {file} to model {evidence.model} version {evidence.version} "
        f"(sha256 {digest})"
    )
