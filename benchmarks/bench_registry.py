"""Benchmark ``mlgate check MODEL VERSION`` against a real ``mlflow server``.

Whole-process wall time of

- ``mlgate check MODEL VERSION`` (the console script, tracking URI from the environment),
- next to a minimal script that does the least any gate must do: import ``MlflowClient``,
  fetch the same model version, and download its manifest through
  ``models:/<name>/<version>/compliance/data_manifest.json``.

- and ``mlgate check`` of a second version naming a safety-evaluation run, with the
  evaluation gate switched on (a copy of the bundled policies): the extra cost of the
  evaluation gate, one ``get_run`` (issue 13).

All run as fresh processes with the same interpreter and ``MLFLOW_TRACKING_URI``,
interleaved (alternating which goes first), after one unmeasured warm-up run of each.
Target: mlgate's median within 1.2x of the script's (importing mlflow alone dominates
both; mlgate must not add to it).

The server is a real ``mlflow server`` on 127.0.0.1 (a free port, sqlite backend and
proxied artifacts in a temp dir, one worker, no job runner), seeded with one compliant
MLflow 3 logged-model version with its manifest attached by mlgate, and stopped by its
process group at the end.

    python benchmarks/bench_registry.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

# The test suite's server launcher and registry helpers.
from evidence_fixtures import passing_metrics  # noqa: E402
from fixtures_mlflow import (  # noqa: E402
    _new_helper,
    _stop,
    compliant_tags,
    example_manifest,
    start_mlflow_server,
)

MODEL = "bench-chatbot"
TARGET = 1.2

# The "minimal script": what any gate has to do at the least, and nothing else.
BASELINE = """\
import sys, tempfile
from mlflow.tracking import MlflowClient
import mlflow.artifacts

name, version = sys.argv[1], sys.argv[2]
mv = MlflowClient().get_model_version(name, version)
with tempfile.TemporaryDirectory() as tmp:
    path = mlflow.artifacts.download_artifacts(
        f"models:/{name}/{version}/compliance/data_manifest.json", dst_path=tmp
    )
    size = len(open(path, "rb").read())
print(mv.name, mv.version, len(mv.tags), size)
"""




def seed(url: str, root: Path) -> tuple[str, str]:
    """One compliant logged-model version with its manifest attached, and a second one
    also naming a finished evaluation run; returns both versions."""
    helper = _new_helper(url, root, None)
    mv = helper.create_version(MODEL, compliant_tags(), manifest=example_manifest())
    assert mv.source.startswith("models:/m-"), mv.source  # an MLflow 3 logged model
    assert "compliance.data_manifest.sha256" in mv.tags
    from mlflow.entities import Metric

    run = helper.client.create_run(helper.experiment_id)
    now_ms = int(time.time() * 1000)
    helper.client.log_batch(
        run.info.run_id, metrics=[Metric(k, v, now_ms, 0) for k, v in passing_metrics().items()]
    )
    helper.client.set_terminated(run.info.run_id)
    evaluated = helper.create_version(
        MODEL, compliant_tags(**{"evaluation.run_id": run.info.run_id}),
        manifest=example_manifest(),
    )
    return str(mv.version), str(evaluated.version)


def evaluation_policies(root: Path) -> Path:
    from mlgate.policy import bundled_dir

    target = root / "policies"
    shutil.copytree(bundled_dir("policies"), target, ignore=shutil.ignore_patterns("scenarios"))
    data = json.loads((target / "data.json").read_text())
    data["mlgate"]["config"]["evaluation"]["required"] = True
    (target / "data.json").write_text(json.dumps(data))
    return target


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall time, CPU time (user + sys of the process and what it reaped), stdout.

    CPU time comes from the reaped-children counters around the run: the server is a
    child too, but is only counted when it is reaped, at the end.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(
            f"{' '.join(command)} exited {done.returncode}:\n{done.stdout}{done.stderr}"
        )
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs of each")
    args = parser.parse_args()

    import mlflow

    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"mlflow {mlflow.__version__}, {os.cpu_count()} CPUs, {args.runs} runs each")

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        root = Path(tmp)
        (root / "work").mkdir()
        server, url = start_mlflow_server(root)
        try:
            version, evaluated = seed(url, root)
            policies = evaluation_policies(root)
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))
            }
            env["MLFLOW_TRACKING_URI"] = url
            script = root / "baseline.py"
            script.write_text(BASELINE, encoding="utf-8")
            commands = {
                "mlgate": [str(Path(sys.executable).parent / "mlgate"), "check", MODEL, version,
                           "--format", "json"],
                "script": [sys.executable, str(script), MODEL, version],
                "evaluation": [str(Path(sys.executable).parent / "mlgate"), "check", MODEL,
                               evaluated, "--format", "json", "--policies", str(policies)],
            }
            # Warm-up (bytecode caches, the server's first requests) and a sanity check:
            # the version is allowed, so every gate ran, the manifest included.
            *_, out = timed(commands["mlgate"], env, root / "work")
            decision = json.loads(out)
            assert decision["allowed"] is True, decision
            assert {g["id"]: g["status"] for g in decision["gates"]}["data_manifest"] == "pass"
            *_, out = timed(commands["script"], env, root / "work")
            assert out.split()[:2] == [MODEL, version], out
            *_, out = timed(commands["evaluation"], env, root / "work")
            gates = {g["id"]: g["status"] for g in json.loads(out)["gates"]}
            assert gates["evaluation"] == "pass", gates

            times: dict[str, list[float]] = {name: [] for name in commands}
            cpu: dict[str, list[float]] = {name: [] for name in commands}
            for i in range(args.runs):
                order = list(commands) if i % 2 == 0 else list(reversed(commands))
                for name in order:
                    wall, used, _ = timed(commands[name], env, root / "work")
                    times[name].append(wall)
                    cpu[name].append(used)
        finally:
            _stop(server)

    medians = {name: statistics.median(t) for name, t in times.items()}
    mins = {name: min(t) for name, t in times.items()}
    cpu_medians = {name: statistics.median(t) for name, t in cpu.items()}
    print(f"server {url} (stopped), model {MODEL} v{version} (logged model, manifest attached)")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    labels = {"mlgate": "mlgate check MODEL VERSION ", "script": "minimal MlflowClient script",
              "evaluation": "mlgate check, evaluation gate on"}
    for name, label in labels.items():
        print(
            f"{label}: wall median {medians[name]:.3f} s, min {mins[name]:.3f} s;"
            f" CPU median {cpu_medians[name]:.3f} s"
        )
    ratio = medians["mlgate"] / medians["script"]
    verdict = "met" if ratio <= TARGET else "NOT met"
    print(
        f"ratio mlgate/script: wall median {ratio:.2f}x,"
        f" min {mins['mlgate'] / mins['script']:.2f}x,"
        f" CPU median {cpu_medians['mlgate'] / cpu_medians['script']:.2f}x"
        f"  target <= {TARGET}x on the wall median ({verdict})"
    )
    extra = medians["evaluation"] - medians["mlgate"]
    print(f"evaluation gate on (one get_run): {extra * 1000:+.0f} ms on the wall median, "
          f"{(cpu_medians['evaluation'] - cpu_medians['mlgate']) * 1000:+.0f} ms CPU")


if __name__ == "__main__":
    main()
