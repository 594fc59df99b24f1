"""Policy sets at git revisions, read from the repository's objects (GitPython).

``mlgate policy impact`` compares decisions under the policies at two revisions without
checking anything out: the working tree and the index are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import InputError, PolicyError
from .policy import PolicySet, is_policy_file, policy_set_from_files


def _repo(directory: Path) -> Any:
    import git

    try:
        return git.Repo(directory, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError) as exc:
        raise InputError(f"{directory}: not inside a git repository") from exc


def load_policy_at(ref: str, directory: str | Path) -> PolicySet:
    """The policy set of ``directory`` as committed at ``ref`` (a branch, tag or sha)."""
    import git

    directory = Path(directory).resolve()
    repo = _repo(directory)
    try:
        commit = repo.commit(ref)
    except (git.BadName, ValueError, git.GitCommandError) as exc:
        raise InputError(
            f"--base/--head: unknown git revision {ref!r} in {repo.working_dir}"
        ) from exc
    rel = directory.relative_to(Path(repo.working_dir).resolve()).as_posix()
    try:
        tree = commit.tree / rel if rel != "." else commit.tree
    except KeyError as exc:
        raise PolicyError(f"{rel}/ does not exist at {ref} ({commit.hexsha[:12]})") from exc
    files: dict[str, str] = {}
    for item in tree.traverse():
        if item.type != "blob":
            continue
        path = Path(item.path).relative_to(tree.path).as_posix() if tree.path else item.path
        if is_policy_file(path):
            try:
                files[path] = item.data_stream.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise PolicyError(f"{rel}/{path} at {ref}: not UTF-8") from exc
    label = f"{rel}@{ref}"
    return policy_set_from_files(label, files, commit.hexsha)
