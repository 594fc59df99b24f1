"""``mlgate policy impact``: what a policy change does to the registry, before it is pushed.

The work is in :mod:`mlgate.impact`; this module loads the two sides (a git revision,
or the working tree of the policy directory), parses options, chooses the rendering and
sets the exit code.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError, MlgateError, one_line
from .audit import WorkersOpt, progress_bar
from .common import EXIT_ALLOWED, EXIT_BLOCKED, emit, guarded, policy_app
from .options import (
    DEFAULT_REGISTRY_TIMEOUT,
    OutputOpt,
    RegistryTimeoutOpt,
    RegistryUriOpt,
    TrackingUriOpt,
    seconds,
)

if TYPE_CHECKING:
    from ..policy import PolicySet


class ImpactFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def default_policy_dir() -> Path:
    """``./policies`` when there is one, else the bundled policies (in a checkout)."""
    local = Path("policies")
    if local.is_dir():
        return local
    from ..policy import bundled_dir

    return bundled_dir("policies")


def _uncommitted(tree: PolicySet, at_head: PolicySet | None, directory: Path) -> bool:
    """Whether the working tree's policies differ from those committed at HEAD."""
    from ..impact import load_policies, same_policies

    if at_head is None:
        try:
            at_head = load_policies("base", "HEAD", directory, str(directory))
        except MlgateError:
            return True  # not committed at HEAD at all
    return not same_policies(tree, at_head)


@policy_app.command("impact")
@guarded
def policy_impact(
    base: Annotated[
        str,
        typer.Option(
            "--base",
            help="Git revision of the policies to compare from (branch, tag or sha).",
        ),
    ] = "HEAD",
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            help="Git revision to compare to. Default: the working tree of the policy "
            "directory, uncommitted edits included.",
            show_default=False,
        ),
    ] = None,
    policies: Annotated[
        Path | None,
        typer.Option(
            "--policies",
            envvar="MLGATE_POLICIES",
            help="The policy directory inside the git repository. Default: ./policies "
            "when it exists, else the bundled policies of a checkout.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Only versions of this registered model."),
    ] = None,
    protected: Annotated[
        bool,
        typer.Option(
            "--protected/--all",
            help="Only versions holding a protected alias or stage (under either "
            "revision), each for what it holds; or every version, for --target.",
        ),
    ] = False,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            "-t",
            help="Alias every version is evaluated for with --all. Default: the head "
            "policies' default_target (production).",
            show_default=False,
        ),
    ] = None,
    expiring_within: Annotated[
        int,
        typer.Option(
            "--expiring-within",
            min=0,
            max=3650,
            metavar="DAYS",
            help="Also list the versions allowed under the head policies now that they "
            "will block within DAYS days because of time alone (assessment age, waiver "
            "expiry), with the first day. 0: do not look ahead.",
        ),
    ] = 30,
    fail_on_flip: Annotated[
        bool, typer.Option("--fail-on-flip", metavar="", help="Exit 1 when any decision flips.")
    ] = False,
    fmt: Annotated[
        ImpactFormat, typer.Option("--format", "-f", help="Report format.")
    ] = ImpactFormat.table,
    output: OutputOpt = None,
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    registry_timeout: RegistryTimeoutOpt = DEFAULT_REGISTRY_TIMEOUT,
    workers: WorkersOpt = None,
) -> None:
    """What a policy change does to the registry: flips, new violations, data and wording.

    The registry's versions are evaluated now under the policy directory at --base
    (default HEAD) and under its working tree, uncommitted edits included (or, with
    --head, as committed at that revision: read from the repository's objects, the
    working tree and the index are not touched). Each side uses its own gates, data
    and waivers, on the embedded engine. The report says what is compared, the
    policy-data changes (dotted keys, old -> new) and the wording changes (METADATA
    title, failure_msg and solution per code), every decision that flips (allowed ->
    blocked, blocked -> allowed) with the violation codes added and removed, the
    versions blocked on both sides whose violations change, and the versions allowed
    under the head policies that time alone will block within --expiring-within days.
    Exit 0, or 1 with --fail-on-flip when anything flips; 2 on error (an unknown
    revision, a side that cannot decide: the message names the side).

    Example:

        mlgate policy impact --base origin/main --format markdown
    """
    from ..evidence import Registry, configure_cli_environment
    from ..impact import Side, impact, load_policies, same_policies
    from ..output.impact import (
        comparing_line,
        render_impact_json,
        render_impact_markdown,
        render_impact_table,
    )
    from ..runner import make_engine
    from ..targets import validate_alias

    if protected and target is not None:
        raise InputError("policy impact: --target applies to --all; --protected "
                         "evaluates each version for the alias or stage it holds")
    if target is not None:
        validate_alias(target, what="--target")
    directory = policies if policies is not None else default_policy_dir()
    label = str(directory)
    base_set = load_policies("base", base, directory, label)
    head_set = load_policies("head", head, directory, label)
    warnings: list[str] = []
    if head is None:
        uncommitted = _uncommitted(head_set, base_set if base == "HEAD" else None, directory)
    else:
        uncommitted = False
        try:
            tree = load_policies("head", None, directory, label)
        except MlgateError as exc:
            warnings.append(f"warning: {one_line(str(exc))}; the working tree is not compared")
        else:
            if not same_policies(tree, head_set):
                warnings.append(
                    f"warning: the working tree of {label.rstrip('/')}/ differs from {head}: "
                    "its uncommitted changes are not compared (omit --head to compare them)"
                )
    sides = (
        Side("base", base, base_set, make_engine("embedded", base_set)),
        Side("head", head, head_set, make_engine("embedded", head_set)),
    )
    configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
    registry = Registry(tracking_uri, registry_uri)
    with progress_bar("policy impact") as progress:
        result = impact(
            registry,
            *sides,
            protected_only=protected,
            label=label,
            model=model,
            target=target,
            expiring_within=expiring_within,
            progress=progress,
            workers=workers,
        )
    comparing = comparing_line(
        label, (base, base_set.revision), (head, head_set.revision),
        uncommitted=uncommitted,
    )
    for warning in warnings:
        typer.echo(f"mlgate: {warning}", err=True)
    if fmt is ImpactFormat.json:
        meta = {
            "policies": label,
            "comparing": comparing,
            "warnings": warnings,
            "base": {"ref": base, "working_tree": False},
            "head": {"ref": head, "working_tree": head is None},
        }
        text = render_impact_json(result, meta)
    else:
        header = "\n".join([f"policy impact: {comparing} on {registry.where}", *warnings])
        render = render_impact_markdown if fmt is ImpactFormat.markdown else render_impact_table
        text = render(result, header)
    emit(text, output)
    raise typer.Exit(EXIT_BLOCKED if fail_on_flip and result.flips else EXIT_ALLOWED)
