"""``mlgate evidence``: a version's compliance evidence, and what the policy set asks for.

``mlgate evidence MODEL VERSION`` (``show``) lists each current compliance fact with who
set it and when. The writers come from the evidence ledger (:mod:`mlgate.ledger`), the
table beside the decision log that the ``mlgate+`` registry store fills. A fact no ledger
row set to its current value is "unknown": written before the ledger, outside the gated
store (a plain registry keeps no ledger), or changed in the database directly.
``mlgate evidence template`` is in :mod:`mlgate.commands.evidencetemplate`.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import InputError
from .common import app, emit, guarded
from .options import DecisionLogOpt, OutputOpt, RegistryUriOpt, TrackingUriOpt

if TYPE_CHECKING:
    from ..models import Provenance

class _ShowByDefault(TyperGroup):
    """``mlgate evidence MODEL VERSION`` is ``mlgate evidence show MODEL VERSION`` (the
    contract's form): a first argument that names no subcommand is a model name."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["show", *args]
        return super().parse_args(ctx, args)


evidence_app = typer.Typer(
    cls=_ShowByDefault,
    help="A version's compliance evidence and who wrote it (MODEL VERSION, or show), "
    "and what the policy set requires (template).",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(evidence_app, name="evidence")


class EvidenceFormat(StrEnum):
    table = "table"
    json = "json"


@evidence_app.command("show")
@guarded
def show_command(
    model: Annotated[str, typer.Argument(help="Registered model name.", show_default=False)],
    version: Annotated[str, typer.Argument(help="Model version number.", show_default=False)],
    tracking_uri: TrackingUriOpt = None,
    registry_uri: RegistryUriOpt = None,
    decision_log: DecisionLogOpt = None,
    fmt: Annotated[
        EvidenceFormat, typer.Option("--format", "-f", help="table or json.")
    ] = EvidenceFormat.table,
    output: OutputOpt = None,
) -> None:
    """Show each current compliance.* tag of a version with who set it and when.

    Who and when come from the evidence ledger beside the decision log (the table
    mlgate_evidence_ledger, written by the mlgate+ registry store): "unknown" when no
    ledger row set the tag's current value. Against a tracking server (http, https) the
    ledger is in the server's database: name it with --decision-log. Exit 0, 2 on error.

    Example:

        mlgate evidence chatbot 3 --decision-log postgresql://mlgate@db/mlflow
        mlgate evidence show chatbot 3 --format json
    """
    from ..decisionlog import DecisionLog, default_log_url
    from ..evidence import Registry, parse_version_ref, resolve_tracking_uri
    from ..ledger import provenance
    from ..serverrecord import is_server_uri
    from ..uris import mask_password

    ref = parse_version_ref(model, version)
    uri = resolve_tracking_uri(tracking_uri)
    if not decision_log and is_server_uri(uri):
        raise InputError(
            f"evidence show: {mask_password(uri)} is a tracking server; its evidence ledger "
            "is in the server's database: give it with --decision-log URL"
        )
    registry = Registry(tracking_uri, registry_uri)
    mv = registry.model_version(ref)
    name, number = mv.name, str(mv.version)
    tags = {k: str(v) for k, v in (mv.tags or {}).items() if k.startswith("compliance.")}
    with DecisionLog(decision_log or default_log_url(uri)) as log:
        history = log.evidence_history(name, number)
    facts = provenance(tags, history)
    if fmt == EvidenceFormat.json:
        document = {
            "model": name,
            "version": number,
            "evidence": [
                {"key": key, "value": tags[key], **facts[key].model_dump()} for key in sorted(tags)
            ],
        }
        emit(json.dumps(document, indent=2, ensure_ascii=False) + "\n", output)
        return
    emit(_table(name, number, tags, facts), output)


def _table(
    name: str, version: str, tags: dict[str, str], facts: dict[str, Provenance]
) -> str:
    from ..textsafe import printable

    lines = [f"model {printable(name)} version {version}: {len(tags)} compliance fact(s)"]
    if not tags:
        return lines[0] + "\n"
    width = max(len(k) for k in tags)
    for key in sorted(tags):
        writer, when = facts[key].writer, facts[key].time
        who = f"set by {printable(writer)} at {when}" if writer else "writer unknown"
        lines.append(f"  {printable(key):<{width}}  {printable(tags[key])[:60]}  ({who})")
    return "\n".join(lines) + "\n"

