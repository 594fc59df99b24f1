"""The safety-evaluation run a version names -> :class:`EvaluationEvidence` (contract §7).

Pure interpretation, no MLflow import: the reader (:class:`mlgate.evidence.Registry`, on
the command line and inside the server store) hands in its own ``get_run``, so the run is
read with one call on the same tracking server the registry sits on. Nothing here raises:
a run that does not exist or a tracking server that does not answer is evidence
(``found: false`` with the reason), which the ``evaluation`` gate blocks on, never a pass.
Metric values that are not finite numbers (MLflow stores NaN and infinities) are left out
of ``metrics`` and listed in ``invalid_metrics``: Rego never compares them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import one_line
from .models import EvaluationEvidence

RUN_TAG = "compliance.evaluation.run_id"

# The largest magnitude a metric may have: integers beyond 2**53 are not exact in a
# double, and the engines cannot compare numbers beyond 64-bit integers (regorus fails on
# them). No rate, count or sample size comes near it; anything larger is invalid.
MAX_MAGNITUDE = float(2**53)

__all__ = ["RUN_TAG", "run_id_of", "evaluation_evidence", "read_evaluation", "split_metrics"]


def run_id_of(tags: dict[str, str]) -> str | None:
    """The run id the version's tag names (stripped), or None when absent or blank."""
    value = tags.get(RUN_TAG)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def split_metrics(raw: dict[str, Any]) -> tuple[dict[str, float], list[str]]:
    """Finite numeric metrics, and the sorted keys of any that are not (NaN, inf, text,
    a magnitude beyond :data:`MAX_MAGNITUDE`)."""
    metrics: dict[str, float] = {}
    invalid: list[str] = []
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            invalid.append(key)
            continue
        number = float(value)
        if math.isfinite(number) and abs(number) <= MAX_MAGNITUDE:
            metrics[key] = number
        else:
            invalid.append(key)
    return metrics, sorted(invalid)


def _not_found(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


def evaluation_evidence(
    run_id: str | None, get_run: Callable[[str], Any], where: str
) -> EvaluationEvidence | None:
    """What ``get_run(run_id)`` says of the run, None when the version names none.

    ``where`` names the tracking server in the reason of a failed read.
    """
    if run_id is None:
        return None
    try:
        run = get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - any failure is evidence, never a pass
        if _not_found(exc):
            return EvaluationEvidence(
                run_id=run_id, found=False,
                error=f"no run {run_id} on the tracking server {where}",
            )
        reason = one_line(str(exc)) or type(exc).__name__
        if len(reason) > 200:
            reason = reason[:197] + "..."
        return EvaluationEvidence(
            run_id=run_id, found=False,
            error=f"the tracking server {where} did not answer get_run: {reason}",
        )
    info = getattr(run, "info", None)
    data = getattr(run, "data", None)
    lifecycle = getattr(info, "lifecycle_stage", None)
    if lifecycle == "deleted":
        return EvaluationEvidence(
            run_id=run_id, found=False, error=f"the run {run_id} is deleted"
        )
    raw = getattr(data, "metrics", None)
    metrics, invalid = split_metrics(raw if isinstance(raw, dict) else {})
    status = getattr(info, "status", None)
    experiment = getattr(info, "experiment_id", None)
    return EvaluationEvidence(
        run_id=run_id,
        found=True,
        status=str(status) if status is not None else None,
        experiment_id=str(experiment) if experiment is not None else None,
        metrics=metrics,
        invalid_metrics=invalid,
    )


def read_evaluation(
    client: Callable[[], Any], tags: dict[str, str], where: str
) -> EvaluationEvidence | None:
    """The run ``tags`` name, read with one ``get_run`` of ``client()`` (an MlflowClient on
    the registry's own tracking server); None when the version names no run."""
    run_id = run_id_of(tags)
    if run_id is None:
        return None
    try:
        get_run = client().get_run
    except Exception as exc:  # noqa: BLE001 - no client: the run cannot be read
        failure = exc

        def get_run(_run_id: str) -> Any:
            raise failure

    return evaluation_evidence(run_id, get_run, where)
