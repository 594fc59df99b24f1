"""Benchmark the server plugin: latency of ``set_registered_model_alias`` over REST.

Two real ``mlflow server`` processes on one sqlite database and one artifact store: the
plain SQL registry store, and the mlgate store (``mlgate+sqlite``, bundled policies,
embedded engine, decision log beside the database). One compliant model version with an
attached manifest, so every gated call reads the manifest, evaluates all five gates,
appends to the decision log and writes the four decision tags; the alias is
``production``. Calls alternate between the two servers (same machine conditions for
both) after a warm-up; the figures are p50 and p95 per call, and the p50 overhead.

    python benchmarks/bench_server.py [--iterations 200] [--warmup 20]

Target (issue 4): p50 overhead at most 50 ms with the bundled policies.

``--tag-writes`` measures instead ``set_model_version_tag`` of a compliance key (a new
value each call) on the same two servers: the mlgate store takes the model's lock, checks
the freeze and the evidence writers, and appends one evidence-ledger row per write (issue
12); the p50 overhead is what that costs per tag write.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' server and registry helpers

TARGET_MS = 50.0


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--tag-writes", action="store_true",
                        help="time compliance-tag writes (the evidence ledger) instead")
    args = parser.parse_args()

    from mlflow.tracking import MlflowClient

    from fixtures_mlflow import (
        _new_helper,
        _stop,
        compliant_tags,
        example_manifest,
        start_mlflow_server,
    )

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        root = Path(tmp)
        db = f"sqlite:///{root / 'mlflow.db'}"
        plain_proc, plain_url = start_mlflow_server(
            root, backend_store_uri=db, registry_store_uri=db
        )
        gated_proc, gated_url = None, ""
        try:
            gated_proc, gated_url = start_mlflow_server(
                root, backend_store_uri=db, registry_store_uri="mlgate+" + db, app_name="mlgate"
            )
            reg = _new_helper(plain_url, root, None)
            name = reg.unique("bench")
            mv = reg.create_version(name, compliant_tags(), manifest=example_manifest())
            clients = {
                "plain": MlflowClient(tracking_uri=plain_url),
                "mlgate": MlflowClient(tracking_uri=gated_url),
            }
            counter = iter(range(10**9))
            if args.tag_writes:
                calls = {
                    label: (lambda c=client: c.set_model_version_tag(
                        name, mv.version, "compliance.filing.id", f"Beijing-{next(counter)}"))
                    for label, client in clients.items()
                }
            else:
                calls = {
                    label: (lambda c=client: c.set_registered_model_alias(
                        name, "production", mv.version))
                    for label, client in clients.items()
                }
            for _ in range(args.warmup):
                for call in calls.values():
                    call()
            samples: dict[str, list[float]] = {label: [] for label in calls}
            for _ in range(args.iterations):
                for label, call in calls.items():
                    samples[label].append(timed(call))
            if args.tag_writes:
                from mlgate.decisionlog import DecisionLog, default_log_url

                with DecisionLog(default_log_url(db)) as log:  # the ledger really grew
                    rows = log.evidence_history(name, str(mv.version))
                assert len(rows) >= args.iterations + args.warmup, len(rows)
            else:
                tags = clients["mlgate"].get_model_version(name, mv.version).tags
                assert tags.get("mlgate.decision") == "allowed", tags  # the gate really ran
        finally:
            if gated_proc is not None:
                _stop(gated_proc)
            _stop(plain_proc)

    what = "set_model_version_tag (compliance key)" if args.tag_writes else (
        "set_registered_model_alias")
    print(f"{what} over REST, {args.iterations} calls each "
          f"after {args.warmup} warm-up, sqlite, one uvicorn worker")
    print(f"{'store':<8} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    for label, values in samples.items():
        print(f"{label:<8} {percentile(values, 50):8.1f} {percentile(values, 95):8.1f} "
              f"{statistics.fmean(values):8.1f}")
    overhead = percentile(samples["mlgate"], 50) - percentile(samples["plain"], 50)
    verdict = "within" if overhead <= TARGET_MS else "OVER"
    print(f"p50 overhead {overhead:.1f} ms ({verdict} the {TARGET_MS:.0f} ms target)")
    return 0 if overhead <= TARGET_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
