"""``mlgate audit``: compliance's view over the whole registry (``mlgate policy impact``,
the other one, is in :mod:`mlgate.commands.impact`).

The work is in :mod:`mlgate.audit`; this module parses options, draws the progress bar
(on a terminal only), chooses the rendering and sets the exit code.

Audit is a read, like ``check``: it writes no tag, sets no alias and appends nothing to
the decision log. Its report (``--format json|junit|sarif`` into ``--output``) is the
record of a run; logging audit decisions would also make them the "promotion on record"
that the next audit compares against, which is wrong.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import InputError
from ..output.audit import markdown_audit, render_audit, summary_line
from .common import EXIT_ALLOWED, EXIT_BLOCKED, app, emit, guarded, load_engine
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
    from ..decisionlog import DecisionLog
    from ..evidence import Registry

WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="Manifests fetched concurrently. Default: 8 against a tracking server "
        "(http, https), where each fetch waits on round trips; 1 for a database read "
        "directly, where threads only contend.",
        show_default=False,
    ),
]
TimingsOpt = Annotated[
    bool,
    typer.Option(
        "--timings", metavar="",
        help="Print the time split (registry reads, manifest downloads, evaluation, "
        "decision log) on stderr.",
    ),
]


# --------------------------------------------------------------------------- progress


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when stderr is a terminal; None otherwise (CI logs)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --------------------------------------------------------------------------- audit


def open_log(explicit: str | None, registry: Registry) -> tuple[DecisionLog | None, str]:
    """The decision log to explain against, or None and why there is none.

    A log named with ``--decision-log`` (or ``MLGATE_DECISION_LOG``) must exist: a sqlite
    file that is not there is exit 2. Against a tracking server (http, https) the record
    is the server's; a server that serves none is said so, with where its record is. The
    default local location may be absent (nobody has promoted through mlgate from here):
    audit still re-evaluates, and says so. A missing sqlite file is never created: audit
    is a read.
    """
    from ..decisionlog import DecisionLog, default_log_url
    from ..serverrecord import NoServerRecord, is_server_uri, server_record
    from ..uris import mask_password, sqlite_path

    if not explicit and is_server_uri(registry.tracking_uri):
        try:
            # A ServerRecord reads like a DecisionLog (last_allowed, masked_url, close), which
            # is all audit asks of it; no common protocol is declared yet, hence the ignore.
            return server_record(registry.tracking_uri), ""  # type: ignore[return-value]
        except NoServerRecord as exc:
            return None, str(exc)

    url = explicit or default_log_url(registry.tracking_uri)
    path = sqlite_path(url)
    if path is not None and not os.path.exists(path):
        if explicit:
            raise InputError(f"--decision-log {mask_password(url)}: {path} does not exist")
        return None, f"no decision log at {mask_password(url)} (give --decision-log)"
    return DecisionLog(url), ""


def _append_step_summary(text: str) -> None:
    """Append to ``$GITHUB_STEP_SUMMARY`` when it is set (as ``--format github`` does)."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return
    try:
        with Path(target).open("a", encoding="utf-8") as summary:
            summary.write(text)
    except OSError as exc:
        raise InputError(
            f"GITHUB_STEP_SUMMARY={target}: cannot append the summary: {exc.strerror or exc}"
        ) from exc


@app.command("audit")
@guarded
def audit_command(
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
    timings: TimingsOpt = False,
    workers: WorkersOpt = None,
    sarif_anchor: SarifAnchorOpt = None,
    sarif_include_waived: SarifWaivedOpt = False,
) -> None:
    """Re-evaluate every version holding a protected alias or stage Production, now.

    Each version that would be blocked today is reported with why, compared with its
    allowed promotion in the decision log: the evidence changed since (the tags and
    manifest artifact that differ), a waiver it relied on expired, the security
    assessment aged past its limit, or the policy changed (the logged gate input is
    blocked under today's policies). A version with no allowed promotion on record says
    so. Every holding's model files are hashed again and compared with those its
    promotion on record was decided on: a file added, removed or changed since is
    reported like a block, even when the gates allow. Against a tracking server that
    runs the mlgate store, the record is the server's. Table, markdown and github show
    the reported versions and a summary line; json, junit and sarif carry every
    decision. Audit writes nothing anywhere. Exit 0 when every holding is allowed with
    its approved model files, 1 when any is blocked or its files changed, 2 on error.

    Example:

        mlgate audit --tracking-uri http://mlflow:5000 --format junit -o audit.xml
    """
    from ..audit import audit
    from ..evidence import Registry, configure_cli_environment

    policy_set, eng = load_engine(policies, engine, opa_url, opa_token, opa_timeout)
    formatting = sarif_options(fmt, policy_set, sarif_anchor, sarif_include_waived)
    configure_cli_environment(timeout=seconds(registry_timeout, "--registry-timeout"))
    registry = Registry(tracking_uri, registry_uri)
    from ..attestation import trusted_keys

    # Every protected holding's model files are re-hashed (streaming, in parallel) and
    # compared with its promotion on record; with trusted keys, also with its
    # attestation, by the attestation gate.
    registry.trusted_keys = trusted_keys(policy_set.config.values)
    log, missing = open_log(decision_log, registry)
    try:
        with progress_bar("audit") as progress:
            result = audit(
                registry, policy_set, eng, log, log_missing=missing, progress=progress,
                workers=workers,
            )
    finally:
        if log is not None:
            log.close()
    summary = summary_line(result, registry.where, eng.revision())
    color = False
    if fmt is Format.table and output is None:
        from ..output.table import wants_color

        color = wants_color()
    emit(render_audit(result, fmt.value, summary, color=color, options=formatting), output)
    if fmt in (Format.json, Format.junit, Format.sarif):
        typer.echo(f"mlgate: {summary}", err=True)  # stdout stays machine-readable
    if fmt is Format.github:
        from ..output.markdown import md_text

        _append_step_summary(markdown_audit(result.reported, f"## mlgate {md_text(summary)}\n"))
    if timings:
        typer.echo(f"mlgate: audit timings: {result.timings.line()}", err=True)
    raise typer.Exit(EXIT_BLOCKED if result.reported else EXIT_ALLOWED)
