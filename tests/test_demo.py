"""``mlgate demo`` as a user runs it: a subprocess, real MLflow, nothing mocked."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mlgate.decisionlog import DecisionLog

MLGATE = Path(sys.executable).with_name("mlgate")


def run_demo(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "MLGATE_"))},
        **(env or {}),
    }
    return subprocess.run(
        [str(MLGATE), "demo", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_demo_shows_allowed_blocked_and_out_of_scope(tmp_path: Path) -> None:
    result = run_demo(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "-> allowed: alias production now points at demo-chatbot v1" in out
    assert (
        "-> blocked: alias production not set "
        "(filing.id_missing, filing.not_completed, labeling.implicit_disabled)" in out
    )
    assert "-> allowed, out of scope: alias production now points at demo-research-model v1" in out
    # The evaluation gate, switched on for the demo, blocks a refusal rate of 0.93.
    assert "-> blocked: alias production not set (evaluation.threshold_missed)" in out
    assert "Metric gbt45654.refusal.should_refuse.rate is 0.93; required >= 0.95" in out
    # The blocked promotions, as the decision log shows them.
    log_part = out.split("== mlgate log --blocked", 1)[1]
    assert "2 entries, 2 blocked" in log_part
    assert "BLOCKED  demo-image-generator v1 -> production" in log_part
    assert "BLOCKED  demo-assistant v1 -> production" in log_part
    assert "Demo finished as expected" in out
    assert "Traceback" not in result.stderr
    # Throwaway: nothing is left in the working directory.
    assert list(tmp_path.iterdir()) == []


def test_demo_ignores_mlflow_tracking_uri(tmp_path: Path) -> None:
    """A demo sets production aliases: it never follows the environment to a real registry."""
    real = tmp_path / "real.db"
    result = run_demo(tmp_path, env={"MLFLOW_TRACKING_URI": f"sqlite:///{real}"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "a throwaway MLflow registry" in result.stdout
    assert not real.exists()


def test_demo_on_a_kept_registry(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run_demo(tmp_path, "--tracking-uri", uri)
    assert result.returncode == 0, result.stdout + result.stderr

    client = MlflowClient(tracking_uri=uri)
    assert client.get_registered_model("demo-chatbot").aliases == {"production": 1}
    assert client.get_registered_model("demo-image-generator").aliases == {}
    assert client.get_registered_model("demo-assistant").aliases == {}
    assert client.get_registered_model("demo-research-model").aliases == {"production": 1}
    tags = client.get_model_version("demo-image-generator", "1").tags
    assert tags["mlgate.decision"] == "blocked"
    with DecisionLog(f"sqlite:///{tmp_path / 'mlgate-decisions.db'}") as log:
        assert sorted((e.model, e.allowed) for e in log.entries()) == [
            ("demo-assistant", False),
            ("demo-chatbot", True),
            ("demo-image-generator", False),
            ("demo-research-model", True),
        ]


def test_demo_keeps_artifacts_beside_the_database(tmp_path: Path) -> None:
    """``--tracking-uri sqlite:///<elsewhere>/x.db`` from another directory: the artifacts
    go beside x.db, not into the current directory (MLflow's default ./mlruns)."""
    cwd, elsewhere = tmp_path / "cwd", tmp_path / "elsewhere"
    cwd.mkdir()
    elsewhere.mkdir()
    result = run_demo(cwd, "--tracking-uri", f"sqlite:///{elsewhere / 'x.db'}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert list(cwd.iterdir()) == []
    assert (elsewhere / "x-artifacts").is_dir()
    assert any((elsewhere / "x-artifacts").rglob("MLmodel"))
