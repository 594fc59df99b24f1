"""The bundled policies and schemas work from an installed wheel, run from elsewhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("mlgate-*.whl")
    return built


def test_wheel_ships_policies_schemas_and_entry_points(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "mlgate/_bundled/policies/data.json" in names
    assert "mlgate/_bundled/policies/gates/scope/scope.rego" in names
    # The corpus ships with its policies: `mlgate policy verify` runs it on the bundled set.
    assert "mlgate/_bundled/policies/scenarios/base.json" in names
    assert "mlgate/_bundled/policies/scenarios/all_pass/expected.json" in names
    assert "mlgate/_bundled/schemas/gate_input.schema.json" in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "mlgate = mlgate.cli:main" in text


def test_installed_wheel_checks_from_another_directory(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import mlgate.policy as p; print(p.bundled_dir('policies'));"
            "from mlgate.cli import main; main()",
            "check",
            "--input",
            str(EXAMPLES / "gate_input_blocked.json"),
            "--format",
            "json",
        ],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    where, _, report = done.stdout.partition("\n")
    assert where.startswith(str(target)), where  # the wheel's copy, not the checkout's
    decision = json.loads(report)
    assert decision["allowed"] is False
    # Not in a git work tree: the content digest of the bundled policy set.
    assert decision["policy_revision"].startswith("sha256:")


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel installed into a directory of its own (no git anywhere near it)."""
    target = tmp_path_factory.mktemp("installed") / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    return target


def installed_mlgate(site: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from mlgate.cli import main; main()", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_wheel_installed_server_records_the_content_digest_revision(
    installed: Path, tmp_path: Path
) -> None:
    """Installed from the wheel there is no git: the server records the policy set's
    content digest, the one ``mlgate policy revision`` prints (also from the checkout's
    copy of the same files)."""
    from mlflow.tracking import MlflowClient

    from fixtures_mlflow import _stop, out_of_scope_tags, start_mlflow_server
    from mlgate.policy import load_policy_dir
    from mlgate.revision import content_revision

    printed = installed_mlgate(installed, "policy", "revision", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    revision = printed.stdout.strip()
    assert revision.startswith("sha256:") and revision.endswith("+mlgate-0.1.0")
    checkout = load_policy_dir(ROOT / "policies")
    files = {**checkout.modules, **checkout.tests,
             "data.json": (ROOT / "policies" / "data.json").read_text(encoding="utf-8")}
    for schema in (ROOT / "policies").rglob("data.schema.json"):  # the defaults decide too
        files[schema.relative_to(ROOT / "policies").as_posix()] = schema.read_text("utf-8")
    waivers = ROOT / "policies" / "waivers.json"
    if waivers.is_file():
        files["waivers.json"] = waivers.read_text(encoding="utf-8")
    for declared in sorted((ROOT / "policies").rglob("tags.json")):  # tag declarations decide
        files[declared.relative_to(ROOT / "policies").as_posix()] = declared.read_text("utf-8")
    assert content_revision(files) == revision  # same files, same digest

    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc, url = start_mlflow_server(
        tmp_path, backend_store_uri=db, registry_store_uri="mlgate+" + db,
        env={"PYTHONPATH": str(installed)}, app_name="mlgate",
    )
    try:
        client = MlflowClient(url)
        client.create_registered_model("wheel-chat")
        files = tmp_path / "model"
        files.mkdir()
        (files / "MLmodel").write_text("flavors: {}\n", encoding="utf-8")
        run = client.create_run(client.create_experiment("wheel"))
        client.log_artifacts(run.info.run_id, str(files), "model")
        mv = client.create_model_version("wheel-chat", f"runs:/{run.info.run_id}/model",
                                         run_id=run.info.run_id, tags=out_of_scope_tags())
        client.set_registered_model_alias("wheel-chat", "production", mv.version)
        tags = client.get_model_version("wheel-chat", mv.version).tags
    finally:
        _stop(proc)
    assert tags["mlgate.decision"] == "allowed"
    assert tags["mlgate.policy_revision"] == revision
