"""The git revision of a policy directory: ``<commit>``, ``<commit>+dirty``, or ``""``."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(directory), *args],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def policy_revision(directory: str | Path) -> str:
    """The last commit touching the policy tree, ``+dirty`` with uncommitted changes.

    Empty when the directory is not in a git work tree (an installed wheel).
    """
    directory = Path(directory).resolve()
    if _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return ""
    commit = _git(directory, "log", "-1", "--format=%H", "--", ".")
    if not commit:
        return "+dirty"  # in a repository but never committed: nothing to name but the state
    status = _git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return commit + ("+dirty" if status else "")
