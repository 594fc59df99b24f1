"""``mlgate demo``: the self-contained walk-through (the work is in :mod:`mlgate.demo`)."""

from __future__ import annotations

from typing import Annotated

import typer

from ..errors import MlgateError
from .common import app, guarded, load_engine
from .options import EngineChoice, PoliciesOpt

# Not the shared TrackingUriOpt: that one reads MLFLOW_TRACKING_URI, and a demo that
# registers models and sets production aliases must never land in a real registry
# because of an environment variable. Only an explicit --tracking-uri does that.
DemoTrackingUriOpt = Annotated[
    str | None,
    typer.Option(
        "--tracking-uri",
        help="Run the demo on this MLflow tracking URI and keep what it registers. "
        "Default: a temporary sqlite registry, removed at the end "
        "(MLFLOW_TRACKING_URI is ignored).",
        show_default=False,
    ),
]


@app.command("demo")
@guarded
def demo_command(
    tracking_uri: DemoTrackingUriOpt = None,
    policies: PoliciesOpt = None,
) -> None:
    """Walk through the gate on a throwaway local MLflow registry.

    Logs and registers four tiny pyfunc models with different compliance evidence,
    attaches the data manifest, promotes each to production (one allowed, one blocked
    with its reasons, one blocked by its safety-evaluation run's refusal rate of 0.93
    with the evaluation gate switched on, one out of scope) and prints the blocked
    promotions from the decision log. Exit 0 when everything happened as designed; the
    blocked promotions are the point of the demo, not a failure.

    Example:

        mlgate demo
    """
    from ..demo import run_demo
    from ..evidence import configure_cli_environment

    policy_set, engine = load_engine(policies, EngineChoice.embedded, None, None, 5.0)
    configure_cli_environment()
    result = run_demo(policy_set, engine, typer.echo, tracking_uri=tracking_uri)
    if not result.as_expected:
        raise MlgateError(f"demo: unexpected outcome: {result.mismatch()}")
