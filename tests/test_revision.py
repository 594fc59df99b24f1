"""The content-digest policy revision: the same files give the same revision everywhere."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import POLICIES, mlgate
from mlgate.policy import load_policy_dir


def copy(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(POLICIES, target)
    return target


def test_copies_outside_git_share_one_digest_whatever_the_layout(tmp_path: Path) -> None:
    plain, windows = copy(tmp_path, "a"), copy(tmp_path, "b")
    for rego in windows.rglob("*.rego"):  # a Windows checkout: CRLF line endings
        rego.write_bytes(rego.read_bytes().replace(b"\n", b"\r\n"))
    data = json.loads((windows / "data.json").read_text())
    (windows / "data.json").write_text(json.dumps(data, indent=8, sort_keys=False))
    next(windows.rglob("*_test.rego")).write_text("package extra_test\n")  # tests do not decide

    first = load_policy_dir(plain).revision
    assert first.startswith("sha256:") and first.endswith("+mlgate-0.1.0")
    assert load_policy_dir(windows).revision == first
    run = mlgate("policy", "revision", "--policies", str(plain))
    assert (run.exit_code, run.stdout) == (0, first + "\n")


def test_a_changed_rule_or_setting_changes_the_digest(tmp_path: Path) -> None:
    base = load_policy_dir(copy(tmp_path, "base")).revision
    edited = copy(tmp_path, "edited")
    data = json.loads((edited / "data.json").read_text())
    data["mlgate"]["config"]["assessment"]["max_age_days"] = 364
    (edited / "data.json").write_text(json.dumps(data))
    assert load_policy_dir(edited).revision != base
