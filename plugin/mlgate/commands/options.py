"""Options shared by several command modules, defined once (the rest live in ``cli``)."""

from __future__ import annotations

from typing import Annotated

import typer

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
