"""Benchmark the cost the attestation gate adds to ``mlgate check`` (issue 12 item 4).

For each size (100 MB and 1 GB of model files by default) a fresh sqlite MLflow registry
gets one MLflow 3 logged model whose artifact directory holds MLmodel and the weights
split in 4 files, registered as version 1; ``mlgate attest`` signs it with a fresh
Ed25519 key. Then, each as a subprocess (a fresh interpreter, imports included), best of
``--repeat``:

- ``mlgate check`` with the shipped policies (attestation gate off: no hashing);
- ``mlgate check`` with a copy whose policy data trusts the key (gate on: the envelope is
  verified and every model file re-hashed, streaming, in parallel over files);
- in one process, interleaved: reading the version's evidence without and with the
  trusted keys (``Registry.read``: the gate's whole added work, verification and hashing
  included), the difference being the figure least moved by other load;
- the gate's hashing alone in-process (``mlgate.modelfiles.hash_tree``) and
  ``sha256sum`` over the same files, both in MB/s.

Every run reads the files from the page cache (they were just written): the figures are
the hashing cost, not the disk's. On a remote artifact store the download comes first.

    python benchmarks/bench_attest.py [--sizes-mb 100,1000] [--repeat 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugin"))

CHUNK = 8 << 20


def mlgate(*args: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugin")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "mlgate.cli", *args], capture_output=True,
                          text=True, env=env, check=False)
    return time.perf_counter() - started, done


def best(repeat: int, *args: str) -> float:
    times = []
    for _ in range(repeat):
        elapsed, done = mlgate(*args)
        if done.returncode not in (0, 1):
            raise SystemExit(f"mlgate {' '.join(args)} failed: {done.stderr.strip()}")
        times.append(elapsed)
    return min(times)


def write_weights(folder: Path, size_mb: int) -> None:
    (folder / "MLmodel").write_text("artifact_path: model\nflavors: {}\n", encoding="utf-8")
    block = os.urandom(CHUNK)
    per_file = size_mb * (1 << 20) // 4
    for index in range(4):
        with open(folder / f"weights-{index}.bin", "wb") as handle:
            left = per_file
            while left > 0:
                piece = block[: min(left, CHUNK)]
                handle.write(piece)
                left -= len(piece)
            handle.write(index.to_bytes(4, "big"))  # four different files


def make_registry(work: Path, size_mb: int) -> tuple[str, Path]:
    from mlflow.tracking import MlflowClient

    from mlgate.evidence import global_mlflow_uri

    uri = f"sqlite:///{work / 'mlruns.db'}"
    client = MlflowClient(tracking_uri=uri)
    (work / "artifacts").mkdir()
    experiment = client.create_experiment("bench", artifact_location=(work / "artifacts").as_uri())
    files = work / "model"
    files.mkdir()
    write_weights(files, size_mb)
    logged = client.create_logged_model(experiment, name="bench")
    client.log_model_artifacts(logged.model_id, str(files))
    shutil.rmtree(files)
    client.create_registered_model("bench")
    with global_mlflow_uri(uri):
        client.create_model_version("bench", f"models:/{logged.model_id}",
                                    model_id=logged.model_id)
    location = client.get_logged_model(logged.model_id).artifact_location
    from urllib.parse import urlparse

    return uri, Path(urlparse(location).path)


def key_pair(work: Path) -> tuple[Path, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    path = work / "officer.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return path, public.decode()


def run_size(size_mb: int, repeat: int, keep: Path | None) -> dict[str, float]:
    from mlgate.modelfiles import hash_tree

    work = Path(tempfile.mkdtemp(prefix=f"bench-attest-{size_mb}-", dir=keep))
    try:
        uri, model_dir = make_registry(work, size_mb)
        key, public = key_pair(work)
        policies = work / "policies"
        shutil.copytree(ROOT / "policies", policies)
        data = json.loads((policies / "data.json").read_text())
        data["mlgate"]["config"]["attestation"] = {
            "trusted_keys": [{"name": "officer", "public_key_pem": public}]
        }
        (policies / "data.json").write_text(json.dumps(data))
        attest_s, done = mlgate("attest", "bench", "1", "--key", str(key),
                                "--tracking-uri", uri)
        if done.returncode != 0:
            raise SystemExit(f"attest failed: {done.stderr.strip()}")
        check = ("check", "bench", "1", "--target", "production", "--tracking-uri", uri,
                 "--format", "json")
        off = best(repeat, *check)
        on = best(repeat, *check, "--policies", str(policies))
        from mlgate.attestation import trusted_keys
        from mlgate.evidence import Registry, VersionRef
        from mlgate.policy import load_policy_dir

        keys = trusted_keys(load_policy_dir(policies).config.values)
        reader = Registry(uri)
        ref = VersionRef("bench", version="1")
        read_off, read_on = [], []
        for _ in range(repeat):  # interleaved, in one process: the load moves both alike
            reader.trusted_keys = ()
            started = time.perf_counter()
            reader.read(ref)
            read_off.append(time.perf_counter() - started)
            reader.trusted_keys = keys
            started = time.perf_counter()
            evidence = reader.read(ref)
            read_on.append(time.perf_counter() - started)
            assert evidence.attestation is not None and evidence.attestation.error is None
        mb = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file()
                 and "compliance" not in p.parts) / (1 << 20)
        hashed = []
        for _ in range(repeat):
            started = time.perf_counter()
            hash_tree(model_dir)
            hashed.append(time.perf_counter() - started)
        names = sorted(str(p) for p in model_dir.rglob("*") if p.is_file()
                       and "compliance" not in p.parts)
        summed = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run(["sha256sum", *names], capture_output=True, check=True)
            summed.append(time.perf_counter() - started)
        return {"mb": mb, "attest_s": attest_s, "check_off_s": off, "check_on_s": on,
                "added_s": on - off, "read_added_s": min(read_on) - min(read_off),
                "hash_mb_s": mb / min(hashed),
                "sha256sum_mb_s": mb / min(summed)}
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes-mb", default="100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    print(f"cpus {os.cpu_count()}; best of {args.repeat}; files in the page cache")
    print(f"{'model':>8} {'attest':>8} {'check off':>10} {'check on':>9} {'added':>7} "
          f"{'read +gate':>10} {'gate MB/s':>10} {'sha256sum MB/s':>15}")
    for size in (int(s) for s in args.sizes_mb.split(",")):
        r = run_size(size, args.repeat, args.keep)
        print(f"{r['mb']:>6.0f}MB {r['attest_s']:>7.2f}s {r['check_off_s']:>9.2f}s "
              f"{r['check_on_s']:>8.2f}s {r['added_s']:>6.2f}s {r['read_added_s']:>9.2f}s "
              f"{r['hash_mb_s']:>10.0f} "
              f"{r['sha256sum_mb_s']:>15.0f}", flush=True)


if __name__ == "__main__":
    main()
