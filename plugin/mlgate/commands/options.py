"""Options shared by several commands, defined once. ``cli`` re-exports them."""

from __future__ import annotations

import math
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..errors import InputError

if TYPE_CHECKING:
    from ..policy import PolicySet


class Format(StrEnum):
    table = "table"
    json = "json"
    junit = "junit"
    sarif = "sarif"
    markdown = "markdown"
    github = "github"


class EngineChoice(StrEnum):
    embedded = "embedded"
    opa = "opa"


PoliciesOpt = Annotated[
    Path | None,
    typer.Option(
        "--policies",
        envvar="MLGATE_POLICIES",
        help="Policy directory (Rego + data.json). Default: the bundled policies.",
        show_default=False,
    ),
]
EngineOpt = Annotated[
    EngineChoice,
    typer.Option("--engine", envvar="MLGATE_ENGINE", help="Rego engine to evaluate with."),
]
OpaUrlOpt = Annotated[
    str | None,
    typer.Option("--opa-url", envvar="MLGATE_OPA_URL", help="OPA server URL (engine opa)."),
]
OpaTokenOpt = Annotated[
    str | None,
    typer.Option("--opa-token", envvar="MLGATE_OPA_TOKEN", help="Bearer token for the OPA server."),
]
OpaTimeoutOpt = Annotated[
    float,
    typer.Option("--opa-timeout", envvar="MLGATE_OPA_TIMEOUT", help="Seconds per OPA request."),
]
# The same number as mlgate.evidence.DEFAULT_REGISTRY_TIMEOUT (a test holds them equal);
# not imported from there, so that `mlgate --help` does not load the evidence module.
DEFAULT_REGISTRY_TIMEOUT = 15
RegistryTimeoutOpt = Annotated[
    int,
    typer.Option(
        "--registry-timeout",
        envvar="MLGATE_REGISTRY_TIMEOUT",
        help=(
            "Give up when an HTTP tracking server has not answered a request within this "
            "many seconds, retries included; default 15 (MLFLOW_HTTP_REQUEST_TIMEOUT and "
            "MLFLOW_HTTP_REQUEST_MAX_RETRIES, when set, take precedence)."
        ),
    ),
]


Seconds = TypeVar("Seconds", int, float)


def seconds(value: Seconds, option: str) -> Seconds:
    """A timeout option's value when it is a positive finite number; else InputError.

    Checked in the command, not by click, so that the error is one line (exit 2):
    ``nan`` parses as a float and would otherwise reach an HTTP library.
    """
    if not math.isfinite(value) or value <= 0:
        raise InputError(f"{option} {value}: expected a positive number of seconds, e.g. 5")
    return value
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Report format.")]
OutputOpt = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="Write the report to FILE instead of stdout."),
]
SarifAnchorOpt = Annotated[
    str | None,
    typer.Option(
        "--sarif-anchor",
        envvar="MLGATE_SARIF_ANCHOR",
        metavar="PATH[:LINE]",
        help=(
            "SARIF: the file of your repository (and line) each alert points at when the "
            "policies are not in the current git repository. Inside it, an alert points at "
            "the violated rule's METADATA block."
        ),
        show_default=False,
    ),
]
SarifWaivedOpt = Annotated[
    bool,
    typer.Option(
        "--sarif-include-waived",
        help="SARIF: also report waived violations, as suppressed results "
        "(GitHub code scanning would show them as open alerts).",
    ),
]
RegistryUriOpt = Annotated[
    str | None,
    typer.Option(
        "--registry-uri",
        envvar="MLFLOW_REGISTRY_URI",
        help="MLflow model registry URI. Default: MLFLOW_REGISTRY_URI, else the tracking URI.",
        show_default=False,
    ),
]

DecisionLogOpt = Annotated[
    str | None,
    typer.Option(
        "--decision-log",
        envvar="MLGATE_DECISION_LOG",
        help=(
            "Decision log database (SQLAlchemy URL). Default: mlgate-decisions.db beside a "
            "sqlite tracking database, the tracking database itself for PostgreSQL/MySQL, "
            "else sqlite:///mlgate-decisions.db in the current directory."
        ),
        show_default=False,
    ),
]
TrackingUriOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        envvar="MLFLOW_TRACKING_URI",
        help="MLflow tracking URI. Default: MLFLOW_TRACKING_URI, else sqlite:///mlruns.db.",
        show_default=False,
    ),
]


def sarif_options(
    fmt: Format, policy_set: PolicySet, anchor: str | None, include_waived: bool
) -> dict[str, Any]:
    """The SARIF renderer's options: where each rule lives (when the policies are in the
    current directory's git repository), the anchor, waived or not. Computed before the
    command acts, so a bad anchor is exit 2 before promote sets anything."""
    if fmt is not Format.sarif:
        return {}
    from ..output.sarif import no_location, parse_anchor, repository_root, rule_sources

    cwd = Path.cwd()
    repo = repository_root(cwd)
    rules = rule_sources(policy_set, repo)
    if not anchor and not any(source.location for source in rules.values()):
        raise no_location()
    return {
        "rules": rules,
        "anchor": parse_anchor(anchor, cwd, repo) if anchor else None,
        "include_waived": include_waived,
    }
