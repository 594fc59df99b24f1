"""What every command shares: the app, the error guard, the report writer, the engine.

The commands import from here (and from :mod:`.options`); :mod:`mlgate.cli` only
assembles the app from the command modules, so no command imports the CLI module back.
Import-light: mlflow, sqlalchemy and rich are imported inside the commands that need them.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, NoReturn, ParamSpec, TypeVar

import typer

from ..errors import InputError, MlgateError, one_line
from ..textsafe import printable
from .options import EngineChoice, Format, seconds

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


P = ParamSpec("P")
R = TypeVar("R")


def guarded(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn every error into one line on stderr and exit 2; a traceback only with --debug.

    Unexpected exceptions are errors too: a bug must block, never allow.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
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

    return wrapper


def _fail(exc: BaseException, line: str) -> NoReturn:
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
    from ..output import render

    options = dict(options or {})
    if fmt is Format.table and output is None:
        from ..output.table import wants_color

        options["color"] = wants_color()
    emit(render(fmt.value, decisions, **options), output)
    if fmt is Format.github:
        from ..output.github import write_step_summary

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
    from ..policy import load_policy_dir
    from ..runner import make_engine

    seconds(opa_timeout, "--opa-timeout")
    policy_set = load_policy_dir(policies)
    eng = make_engine(
        engine.value, policy_set, opa_url=opa_url, opa_token=opa_token, timeout=opa_timeout
    )
    return policy_set, eng
