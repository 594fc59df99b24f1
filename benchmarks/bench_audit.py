"""Benchmark ``mlgate audit`` on a registry of 5,000 protected holdings (issue 5, target <= 60 s).

Layout, as a team running many services would have it: 2,500 registered models with two
versions each, version 1 holding ``production`` and version 2 holding ``champion``.
Every version is an MLflow 3 logged model (source ``models:/m-<id>``, what
``mlflow.register_model`` leaves) with the twelve compliance tags and an attached data
manifest (the example manifest with a per-version dataset name, so every digest differs).
One version in 100 has an assessment that has aged past its limit since it was promoted;
its promotion is in the decision log, so audit explains it (replay included).

How the registry is filled, fast. The store API costs 5-10 ms per call on sqlite (one
transaction and fsync each): about 17,500 calls here, two minutes. Instead the rows are
inserted through MLflow's own ORM classes (``SqlLoggedModel``, ``SqlRegisteredModel``,
``SqlModelVersion`` with its tags, ``SqlRegisteredModelAlias``), with the column values
the store's ``create_*`` methods would write (``storage_location`` = the logged model's
artifact location, as ``create_model_version`` resolves it), in one transaction per
store; manifests are written straight to each logged model's artifact directory on disk.
A sample of versions is then read back through the public client and ``mlgate check``'s
own evidence code before anything is timed.

Then ``mlgate audit --format json --output FILE --timings`` runs as a subprocess (a fresh
interpreter: imports, engine compilation and all) and its wall time is the figure. The
split comes from audit's own ``--timings`` line (registry reads, manifest downloads,
evaluation, decision log; the phases do not overlap).

With ``--evaluation`` the evaluation gate is switched on (a copy of the bundled policies)
and every version names a finished evaluation run (100 real runs, metrics logged with
``log_batch``, shared round-robin): audit reads one run per version with ``get_run``, on
its thread pool beside the manifest downloads (issue 13).

    python benchmarks/bench_audit.py [--models 2500] [--workers N] [--keep DIR] [--evaluation]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 60.0
ALIASES = ("production", "champion")
MANIFEST_PATH = ("compliance", "data_manifest.json")

sys.path.insert(0, str(ROOT / "tests"))
from evidence_fixtures import passing_metrics  # noqa: E402
from fixtures_mlflow import compliant_tags  # noqa: E402  (the tests' compliant evidence)


def manifest_for(model: str, version: int) -> bytes:
    manifest = json.loads((ROOT / "examples" / "data_manifest.json").read_text())
    manifest["datasets"][0]["name"] = f"{model}-v{version}-pretraining"
    return json.dumps(manifest, indent=2).encode()


def _local_path(uri: str) -> Path:
    return Path(url2pathname(urlparse(uri).path))


EVALUATION_RUNS = 100


def evaluation_runs(client: Any, experiment_id: str) -> list[str]:
    """Finished runs meeting every evaluation row; their ids."""
    from mlflow.entities import Metric

    ids = []
    now_ms = int(time.time() * 1000)
    for _ in range(EVALUATION_RUNS):
        run = client.create_run(experiment_id)
        client.log_batch(run.info.run_id, metrics=[
            Metric(k, v, now_ms, 0) for k, v in passing_metrics().items()
        ])
        client.set_terminated(run.info.run_id)
        ids.append(run.info.run_id)
    return ids


def evaluation_policies(root: Path) -> Path:
    """A copy of the bundled policies with the evaluation gate on."""
    from mlgate.policy import bundled_dir

    target = root / "policies"
    shutil.copytree(bundled_dir("policies"), target, ignore=shutil.ignore_patterns("scenarios"))
    data = json.loads((target / "data.json").read_text())
    data["mlgate"]["config"]["evaluation"]["required"] = True
    (target / "data.json").write_text(json.dumps(data))
    return target


def fill(
    root: Path, models: int, *, aged_every: int = 100, evaluation: bool = False
) -> tuple[str, list[tuple[str, str]]]:
    """Create the registry under ``root``; return its URI and the aged (model, version)s."""
    from mlflow.entities import LifecycleStage
    from mlflow.entities.logged_model_status import LoggedModelStatus
    from mlflow.store.model_registry.dbmodels.models import (
        SqlModelVersion,
        SqlModelVersionTag,
        SqlRegisteredModel,
        SqlRegisteredModelAlias,
    )
    from mlflow.store.tracking.dbmodels.models import SqlLoggedModel
    from mlflow.tracking import MlflowClient

    from mlgate.facts import sha256_hex

    uri = f"sqlite:///{root / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment_id = client.create_experiment(
        "bench-audit", artifact_location=(root / "artifacts").as_uri()
    )
    experiment = client.get_experiment(experiment_id)
    runs = evaluation_runs(client, experiment_id) if evaluation else []
    tracking_store = client._tracking_client.store
    registry_store = client._get_registry_client().store
    now_ms = int(time.time() * 1000)
    today = datetime.now(UTC).date()
    fresh = (today - timedelta(days=30)).isoformat()
    # Promoted 100 days ago, when it was 65 days short of the shipped max_age_days; past
    # it by 35 days now (whatever the shipped number, above 65 days).
    from mlgate.policy import load_policy_dir

    max_age = load_policy_dir(None).config.gate_setting("assessment", "max_age_days")
    stale = (today - timedelta(days=max_age + 35)).isoformat()

    logged_rows, model_rows, version_rows, alias_rows, aged = [], [], [], [], []
    index = 0
    for m in range(models):
        name = f"service-{m:05d}"
        model_rows.append(
            SqlRegisteredModel(name=name, creation_time=now_ms, last_updated_time=now_ms)
        )
        for version, alias in enumerate(ALIASES, start=1):
            index += 1
            model_id = f"m-{uuid.uuid4().hex}"
            location = f"{experiment.artifact_location}/models/{model_id}/artifacts"
            content = manifest_for(name, version)
            target = _local_path(location).joinpath(*MANIFEST_PATH)
            target.parent.mkdir(parents=True)
            target.write_bytes(content)
            logged_rows.append(
                SqlLoggedModel(
                    model_id=model_id,
                    experiment_id=int(experiment_id),
                    name=name,
                    artifact_location=location,
                    creation_timestamp_ms=now_ms,
                    last_updated_timestamp_ms=now_ms,
                    status=LoggedModelStatus.READY.to_int(),
                    lifecycle_stage=LifecycleStage.ACTIVE,
                )
            )
            is_aged = index % aged_every == 0
            if is_aged:
                aged.append((name, str(version)))
            tags = compliant_tags(
                **{
                    "assessment.date": stale if is_aged else fresh,
                    "data_manifest.sha256": sha256_hex(content),
                }
            )
            if runs:
                tags["compliance.evaluation.run_id"] = runs[index % len(runs)]
            mv = SqlModelVersion(
                name=name,
                version=version,
                creation_time=now_ms,
                last_updated_time=now_ms,
                source=f"models:/{model_id}",
                storage_location=location,
            )
            mv.model_version_tags = [
                registry_store._with_workspace_field(
                    SqlModelVersionTag(name=name, version=version, key=k, value=v)
                )
                for k, v in tags.items()
            ]
            version_rows.append(registry_store._with_workspace_field(mv))
            alias_rows.append(
                registry_store._with_workspace_field(
                    SqlRegisteredModelAlias(name=name, alias=alias, version=version)
                )
            )
    with tracking_store.ManagedSessionMaker(read_only=False) as session:
        session.add_all(logged_rows)
    with registry_store.ManagedSessionMaker(read_only=False) as session:
        session.add_all([registry_store._with_workspace_field(r) for r in model_rows])
        session.flush()
        session.add_all(version_rows)
        session.flush()
        session.add_all(alias_rows)
    return uri, aged


def verify(uri: str, models: int) -> None:
    """Read a sample back through the public client and mlgate's own evidence code."""
    from mlgate.evidence import Registry, VersionRef

    registry = Registry(uri)
    for m in sorted({0, models // 2, models - 1}):
        name = f"service-{m:05d}"
        for version, alias in enumerate(ALIASES, start=1):
            evidence = registry.read(VersionRef(name, alias=alias))
            assert evidence.version == str(version), (name, alias, evidence.version)
            assert evidence.manifest == manifest_for(name, version), name
            assert evidence.aliases == [alias], evidence.aliases


def log_promotions(uri: str, root: Path, aged: list[tuple[str, str]]) -> str:
    """An allowed promotion, 100 days ago, for each aged version (audit explains them)."""
    from mlgate.decisionlog import DecisionLog
    from mlgate.evidence import Registry, VersionRef, build_gate_input
    from mlgate.gate import record_model_files
    from mlgate.policy import load_policy_dir
    from mlgate.runner import attach_waivers, evaluate, make_engine, now_rfc3339

    policy_set = load_policy_dir(None)
    engine = make_engine("embedded", policy_set)
    registry = Registry(uri)
    then = now_rfc3339(datetime.now(UTC) - timedelta(days=100))
    url = f"sqlite:///{root / 'mlgate-decisions.db'}"
    with DecisionLog(url) as log:
        for name, version in aged:
            evidence = registry.read(VersionRef(name, version=version))
            alias = ALIASES[int(version) - 1]
            gate_input, warnings = attach_waivers(
                build_gate_input(
                    evidence, target=alias, kind="alias", config=policy_set.config, now=then
                ),
                policy_set,
            )
            decision = evaluate(gate_input, engine, policy_set, warnings=warnings)
            record_model_files(decision, evidence)  # as every protected decision does
            assert decision.allowed, f"{name} v{version} should have been promotable then"
            log.append(decision, gate_input, actor="bench", source="cli")
    return url


_PHASE = re.compile(r"([a-z][a-z ]+?) ([0-9.]+) s")


def run_audit(
    uri: str, log_url: str, out: Path, workers: int | None, policies: Path | None = None
) -> tuple[float, dict[str, float], str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("MLGATE_DECISION_LOG", None)
    command = [
        str(Path(sys.executable).parent / "mlgate"), "audit", "--tracking-uri", uri,
        "--decision-log", log_url, "--format", "json", "--output", str(out), "--timings",
        *(["--workers", str(workers)] if workers else []),
        *(["--policies", str(policies)] if policies else []),
    ]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"mlgate audit failed ({done.returncode}):\n{done.stderr}")
    line = next(ln for ln in done.stderr.splitlines() if "audit timings:" in ln)
    phases = {k.strip(): float(v) for k, v in _PHASE.findall(line.split("timings:", 1)[1])}
    summary = next(ln for ln in done.stderr.splitlines() if "protected holdings" in ln)
    return wall, phases, summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=2500, help="registered models (x2 versions)")
    parser.add_argument("--workers", type=int, help="mlgate audit --workers (default: its own)")
    parser.add_argument("--keep", type=Path, help="build the registry in DIR and keep it")
    parser.add_argument("--evaluation", action="store_true",
                        help="switch the evaluation gate on; every version names a run")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")

    root = args.keep or Path(tempfile.mkdtemp(prefix="mlgate-bench-audit-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        started = time.perf_counter()
        uri, aged = fill(root, args.models, evaluation=args.evaluation)
        policies = evaluation_policies(root) if args.evaluation else None
        verify(uri, args.models)
        log_url = log_promotions(uri, root, aged)
        holdings = args.models * len(ALIASES)
        print(f"filled {uri}: {holdings} holdings, {len(aged)} aged, "
              f"in {time.perf_counter() - started:.1f} s")

        out = root / "audit.json"
        wall, phases, summary = run_audit(uri, log_url, out, args.workers, policies)
        decisions = json.loads(out.read_text())
        blocked = [d for d in decisions if not d["allowed"]]
        assert len(decisions) == holdings, (len(decisions), holdings)
        assert {(d["model"], d["version"]) for d in blocked} == set(aged), "unexpected blocked"
        assert all(any(w.startswith("assessment aged") for w in d["warnings"]) for d in blocked)
        if args.evaluation:
            statuses = {
                g["status"] for d in decisions for g in d["gates"] if g["id"] == "evaluation"
            }
            assert statuses == {"pass"}, statuses

        print(summary)
        print(f"mlgate audit wall time: {wall:.1f} s (target <= {TARGET_SECONDS:.0f} s): "
              f"{'met' if wall <= TARGET_SECONDS else 'MISSED'}")
        for phase, seconds in phases.items():
            print(f"  {phase:<20} {seconds:6.2f} s")
        startup = wall - phases.get("total", wall)
        print(f"  {'process start-up':<20} {startup:6.2f} s (imports, policy compile)")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
