"""The revision of a policy directory: what a decision's ``policy_revision`` records.

- in a git work tree that tracks the directory: the last commit touching it, with
  ``+dirty`` when it has uncommitted changes;
- anywhere else (an installed wheel, a copied directory, files git ignores): a content
  digest, ``sha256:<hex>+mlgate-<version>``, of the policy set's modules (``*.rego``
  without the tests; line endings normalised) and data (``data.json``, ``waivers.json``
  and the ``data.schema.json`` files and the tag declarations ``**/tags.json``,
  canonical JSON), so the same files give the same revision everywhere and an auditor
  can tie a decision to the rules that made it.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path

TEST_SUFFIX = "_test.rego"
DATA_FILES = ("data.json", "waivers.json")


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


def git_revision(directory: str | Path) -> str:
    """The last commit touching the policy tree, ``+dirty`` with uncommitted changes;
    empty when git does not track the directory."""
    directory = Path(directory).resolve()
    if _git(directory, "rev-parse", "--is-inside-work-tree") != "true":
        return ""
    if not _git(directory, "ls-files", "--", "."):
        return ""  # inside a work tree but untracked or ignored (a venv in a checkout)
    commit = _git(directory, "log", "-1", "--format=%H", "--", ".")
    if not commit:
        return "+dirty"  # tracked but never committed: nothing to name but the state
    status = _git(directory, "status", "--porcelain", "--untracked-files=all", "--", ".")
    return commit + ("+dirty" if status else "")


def content_revision(files: dict[str, str]) -> str:
    """``sha256:<hex>+mlgate-<version>`` over the files that decide (see the module doc).

    ``files`` maps paths relative to the policy directory (``/``-separated) to texts.
    """
    from . import __version__
    from .jsondoc import canonical

    digest = hashlib.sha256()
    for path in sorted(files):
        text = files[path]
        if (
            path in DATA_FILES
            or path.endswith("data.schema.json")
            or path.rsplit("/", 1)[-1] == "tags.json"
        ):
            try:
                body = canonical(json.loads(text))
            except ValueError:
                body = text.encode("utf-8")  # the loader reports it; still a digest
        elif path.endswith(".rego") and not path.endswith(TEST_SUFFIX):
            body = text.replace("\r\n", "\n").encode("utf-8")
        else:
            continue
        digest.update(path.encode("utf-8") + b"\0" + body + b"\0")
    return f"sha256:{digest.hexdigest()}+mlgate-{__version__}"


def policy_revision(directory: str | Path, files: dict[str, str] | None = None) -> str:
    """The git revision of ``directory``, else the content digest of ``files`` (its
    policy files as :func:`mlgate.policy.load_policy_dir` read them), else ``""``."""
    revision = git_revision(directory)
    if revision or files is None:
        return revision
    return content_revision(files)
