"""The model files of a version: every file under its artifact location but the
``compliance/`` evidence, each with the sha256 of its bytes.

The digest per file is the one OpenSSF ``model-signing`` computes in its per-file
(``files``) serialisation: sha256 of the file's content, named by its path relative to
the model directory with ``/`` separators. Files are hashed streaming (1 MiB reads, never
a whole file in memory) and in parallel over files (hashlib releases the GIL on large
buffers). A local artifact store is hashed in place; any other store is downloaded one
file at a time into a temporary directory, hashed and deleted.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

EVIDENCE_DIR = "compliance"  # mlgate's own artifacts: not model files
CHUNK = 1 << 20


def workers() -> int:
    return max(2, min(8, (os.cpu_count() or 2) * 2))


def hash_file(path: str | Path) -> str:
    """sha256 (hex) of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while True:
            n = handle.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()


def is_model_file(name: str) -> bool:
    return name.split("/", 1)[0] != EVIDENCE_DIR


def _local_names(root: Path) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for filename in sorted(filenames):
            name = (base / filename).relative_to(root).as_posix()
            if is_model_file(name):
                yield name


def hash_tree(root: str | Path) -> dict[str, str]:
    """name -> sha256 of every model file under the local directory ``root``."""
    top = Path(root)
    if not top.is_dir():
        raise FileNotFoundError(f"{top}: not a directory")
    names = list(_local_names(top))
    return _parallel(names, lambda name: hash_file(top / name))


def _parallel(names: list[str], digest_of: Callable[[str], str]) -> dict[str, str]:
    if not names:
        return {}
    with ThreadPoolExecutor(max_workers=min(workers(), len(names))) as pool:
        digests = list(pool.map(digest_of, names))
    return dict(zip(names, digests, strict=True))


def _remote_names(repo: Any, path: str | None = None) -> Iterator[str]:
    for item in repo.list_artifacts(path):
        name = str(item.path).strip("/")
        if not is_model_file(name):
            continue
        if item.is_dir:
            yield from _remote_names(repo, name)
        else:
            yield name


def hash_repository(repo: Any) -> dict[str, str]:
    """name -> sha256 of every model file of an MLflow artifact repository."""
    local_root = getattr(repo, "artifact_dir", None)
    if isinstance(local_root, str) and type(repo).__name__ == "LocalArtifactRepository":
        return hash_tree(local_root)
    from .mlflowapi import download_artifact

    names = sorted(_remote_names(repo))

    def one(name: str) -> str:
        with tempfile.TemporaryDirectory(prefix="mlgate-hash-") as tmp:
            return hash_file(download_artifact(repo, name, tmp))

    return _parallel(names, one)


def files_sha256(files: Mapping[str, str]) -> str:
    """One digest of a set of model files: sha256 of the canonical JSON of name -> sha256."""
    text = json.dumps(dict(sorted(files.items())), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def files_diff(attested: dict[str, str], current: dict[str, str]) -> list[str]:
    """The names added, removed or changed between two sets of model files, sorted."""
    return sorted(n for n in attested.keys() | current.keys() if attested.get(n) != current.get(n))


class FilesOnce:
    """The model files of one read of a version, hashed at most once: the attestation
    gate, the decision's recorded digest and audit's fetch threads share one hashing.
    A failure is kept and raised again to every caller, so all see the same outcome."""

    def __init__(self, hash_files: Callable[[], dict[str, str]]) -> None:
        import threading

        self._hash_files = hash_files
        self._lock = threading.Lock()
        self._files: dict[str, str] | None = None
        self._error: BaseException | None = None

    def __call__(self) -> dict[str, str]:
        with self._lock:
            if self._files is None and self._error is None:
                try:
                    self._files = self._hash_files()
                except Exception as exc:  # noqa: BLE001 - kept for every caller
                    self._error = exc
            if self._error is not None:
                raise self._error
            return dict(self._files or {})
