"""``mlgate attest MODEL VERSION --key KEY.pem``: sign the version's evidence and model
files (:mod:`mlgate.attestation`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .common import app, guarded
from .options import (
    DEFAULT_REGISTRY_TIMEOUT,
    PoliciesOpt,
    RegistryTimeoutOpt,
    RegistryUriOpt,
    TrackingUriOpt,
    seconds,
)

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

    from ..evidence import Registry


@app.command("attest")
@guarded
def attest_command(
    model: Annotated[str, typer.Argument(help="Registered model name.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Model version number.", show_default=False)],
    key: Annotated[
        Path,
        typer.Option(
            "--key", help="PEM private key, Ed25519 or ECDSA P-256, unencrypted.",
            show_default=False,
        ),
    ],
    name: Annotated[
        str | None,
        typer.Option(
            "--name", help="Who attests (default: the user running the command).",
            show_default=False,
        ),
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    policies: PoliciesOpt = None,
    registry_timeout: RegistryTimeoutOpt = DEFAULT_REGISTRY_TIMEOUT,
) -> None:
    """Sign the version's compliance tags, manifest digest and model files; attach it.

    Builds an in-toto Statement v1 whose subject is every model file of the version
    (name and sha256, everything under its artifact location but compliance/) and whose
    predicate holds its compliance.* tags, the data manifest's digest, the attester and
    the time; signs it as a DSSE envelope with KEY; logs it as
    compliance/attestation.dsse.json and, once it reads back intact, tags its digest as
    compliance.attestation.sha256. The attestation gate (on when policy data lists
    attestation.trusted_keys) then passes only while all of it is unchanged. A bad key,
    or a version holding a protected alias or stage (its evidence is frozen), is refused
    (exit 2) before anything is written.

    Example:

        mlgate attest chatbot 3 --key compliance-officer.pem --name compliance-officer
    """
    from ..attestation import attest
    from ..decisionlog import current_actor
    from ..dsse import load_private_key
    from ..errors import InputError
    from ..evidence import (
        Registry,
        configure_cli_environment,
        parse_version_ref,
        refuse_frozen,
    )
    from ..policy import load_policy_dir

    ref = parse_version_ref(model, version)
    try:
        pem = key.read_bytes()
    except OSError as exc:
        raise InputError(f"--key {key}: cannot read: {exc.strerror or exc}") from exc
    private_key = load_private_key(pem, f"--key {key}")
    attester = (name if name is not None else current_actor()).strip()
    if not attester:
        raise InputError("--name: the attester's name is empty")
    config = load_policy_dir(policies).config
    configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
    registry = Registry(tracking_uri, registry_uri)
    mv = registry.model_version(ref)
    refuse_frozen(mv, config)
    _refuse_shared(registry, mv)
    evidence = registry.evidence(mv)
    digest, document = attest(registry, mv, evidence, private_key, attester)
    typer.echo(
        f"attested model {mv.name} version {mv.version}: {len(document['subject'])} model "
        f"file(s), {len(document['predicate']['compliance_tags'])} compliance tag(s); "
        f"compliance/attestation.dsse.json sha256 {digest}"
    )


def _refuse_shared(registry: Registry, mv: ModelVersion) -> None:
    """Exit 2, nothing written, when another version reads its artifacts from the same
    place and carries an attestation: one envelope file would serve both, and
    overwriting it would break the other's."""
    from ..attestation import ATTESTATION_TAG
    from ..errors import InputError
    from ..sharedartifacts import sharing_versions

    others = [o for o in sharing_versions(registry, mv) if ATTESTATION_TAG in (o.tags or {})]
    if others:
        named = ", ".join(f"{o.name!r} version {o.version}" for o in others[:5])
        raise InputError(
            f"model {mv.name!r} version {mv.version} shares its artifact location with "
            f"{named}, which carries an attestation: attesting would overwrite its "
            "compliance/attestation.dsse.json, and nothing was written. Register this "
            "version from its own model artifact and attest there"
        )
