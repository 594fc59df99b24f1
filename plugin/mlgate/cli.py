"""The command line: parse options, call the runner, choose the formatter, set the exit code.

Keep this module import-light: mlflow, sqlalchemy and rich are imported inside the
commands that need them, so ``mlgate --help`` and ``mlgate check --input`` start fast.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from .commands.options import (  # noqa: F401 - re-exported for the command modules
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
from .errors import InputError, MlgateError, one_line
from .textsafe import printable

app = typer.Typer(
    name="mlgate",
    help=(
        "Policy-as-code gate for ML model promotion: evaluate a registered model version's "
        "compliance evidence against Rego policies before it reaches the public.\n\n"
        "Exit codes: 0 allowed, 1 blocked by policy, 2 error."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Markdown: paragraphs reflow, indented blocks (the examples) stay as written.
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},
)
policy_app = typer.Typer(
    help="Test, check and publish the Rego policies.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)
app.add_typer(policy_app, name="policy")

EXIT_ALLOWED, EXIT_BLOCKED, EXIT_ERROR = 0, 1, 2

_state = {"debug": bool(os.environ.get("MLGATE_DEBUG"))}


F = TypeVar("F", bound=Callable[..., Any])


def guarded(fn: F) -> F:
    """Turn every error into one line on stderr and exit 2; a traceback only with --debug.

    Unexpected exceptions are errors too: a bug must block, never allow.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except MlgateError as exc:
            _fail(exc, one_line(str(exc)))
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - a crash blocks, with one line
            _fail(exc, f"internal error: {type(exc).__name__}: {one_line(str(exc))}")

    return wrapper  # type: ignore[return-value]


def _fail(exc: BaseException, line: str) -> None:
    if _state["debug"]:
        traceback.print_exception(exc)
    typer.echo(f"mlgate: error: {printable(line)}", err=True)
    raise typer.Exit(EXIT_ERROR)


@app.callback()
def _root(
    debug: Annotated[
        bool,
        # An empty metavar: typer's help would show a flag as "--debug <bool>".
        typer.Option(
            "--debug", help="Show tracebacks for errors.", envvar="MLGATE_DEBUG", metavar=""
        ),
    ] = False,
) -> None:
    _state["debug"] = debug


def emit(text: str, output: Path | None) -> None:
    """Print, or write ``output`` atomically: never a half-written report."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InputError(f"--output {output}: cannot write: {exc.strerror or exc}") from exc


def report(
    decisions: list[Any], fmt: Format, output: Path | None, options: dict[str, Any] | None = None
) -> int:
    """Render the decisions (``options`` for the format, see ``sarif_options``), write them,
    and return the exit code they call for."""
    from .output import render

    options = dict(options or {})
    if fmt is Format.table and output is None:
        from .output.table import wants_color

        options["color"] = wants_color()
    emit(render(fmt.value, decisions, **options), output)
    if fmt is Format.github:
        from .output.github import write_step_summary

        write_step_summary(decisions)
    return EXIT_ALLOWED if all(d.allowed for d in decisions) else EXIT_BLOCKED


def load_engine(
    policies: Path | None,
    engine: EngineChoice,
    opa_url: str | None,
    opa_token: str | None,
    opa_timeout: float,
) -> tuple[Any, Any]:
    """The policy set and a ready engine for the common options."""
    from .policy import load_policy_dir
    from .runner import make_engine

    seconds(opa_timeout, "--opa-timeout")
    policy_set = load_policy_dir(policies)
    eng = make_engine(
        engine.value, policy_set, opa_url=opa_url, opa_token=opa_token, timeout=opa_timeout
    )
    return policy_set, eng


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
    from .runner import attach_waivers, evaluate
    from .targets import validate_target

    kind = "stage" if stage else "alias"
    warnings: list[str] | None = None
    if input_file is not None:
        if model is not None:
            raise InputError("check: give MODEL VERSION, MODEL@ALIAS or --input FILE, not both")
        policy_set, eng = load_engine(policies, engine, opa_url, opa_token, opa_timeout)
        formatting = sarif_options(fmt, policy_set, sarif_anchor, sarif_include_waived)
        gate_input = input_document(input_file, policy_set, target, kind)
    else:
        if model is None:
            raise InputError("check: give MODEL VERSION, MODEL@ALIAS or --input FILE")
        from .evidence import Registry, configure_cli_environment, parse_version_ref

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
        _, gate_input = registry.gate_input(
            ref, target=target, kind=kind, config=policy_set.config
        )
        gate_input, warnings = attach_waivers(gate_input, policy_set)
    decision = evaluate(gate_input, eng, policy_set, warnings=warnings)
    raise typer.Exit(report([decision], fmt, output, formatting))


def input_document(
    input_file: Path, policy_set: Any, target: str | None, kind: str
) -> Any:
    """``check --input``: the gate input document in ``input_file``, ready to evaluate.

    Everything ``check --input`` does to a document before the engine sees it happens
    here (tests/test_fuzz.py drives this function with mutated documents): read it
    strictly, validate it, validate the target (``--target`` or the document's own) and
    retarget. :class:`InputError` for anything wrong, one line naming file and field.
    """
    from .runner import check_enforcement_claim, load_gate_input, retarget
    from .targets import validate_target

    protected = policy_set.config.protected_aliases
    gate_input = load_gate_input(input_file)
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


# Register the other command groups (import-light modules).
from .commands import audit as _audit_commands  # noqa: E402,F401
from .commands import demo as _demo_commands  # noqa: E402,F401
from .commands import log as _log_commands  # noqa: E402,F401
from .commands import policy as _policy_commands  # noqa: E402,F401
from .commands import registry as _registry_commands  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
