"""Many versions, one compiled engine: how ``mlgate audit`` and ``mlgate policy impact``
read the registry in bulk.

Both commands evaluate many model versions:

- one paged ``search_registered_models`` gives every alias (a model version found by
  search carries none), and one paged ``search_model_versions`` gives every version
  with its tags, stage and source; pages are ordered by name and version so a version
  updated mid-scan is neither skipped nor read twice;
- only the manifest is fetched per version (it is an artifact, not a registry field),
  through :meth:`Registry.manifest_bytes`, the same code ``mlgate check`` uses; against
  a tracking server on a small thread pool, since each fetch is two or three HTTP round
  trips and waiting for them one at a time dominates the run (see
  :data:`REMOTE_WORKERS`);
- audit also hashes each holding's model files on those threads (streaming, in parallel
  over files; :mod:`mlgate.modelfiles`), counted with the manifest downloads;
- every decision is evaluated on the calling thread by the one engine it was given
  (the embedded engine is compiled once per policy set and thread).

Versions are processed in chunks (fetch a chunk's manifests, then evaluate it), so
memory stays bounded on a large registry and the time split in :class:`Timings` is
honest: fetching and evaluating never overlap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .evidence import Registry
from .gate_input import Evidence
from .models import Decision, TargetKind
from .policydata import PolicySettings

if TYPE_CHECKING:
    from mlflow.entities.model_registry import ModelVersion

# Rows per search page: MLflow's own default for model versions (its server accepts up to
# 200,000), and the most it accepts for registered models.
VERSIONS_PAGE = 10_000
MODELS_PAGE = 1_000
# Versions whose manifests are fetched, then evaluated, per chunk.
CHUNK = 500
# Concurrent manifest fetches against a tracking server, where each fetch waits on HTTP
# round trips (measured, 5,000 versions, local `mlflow server`: 264 s with 1, 40 s with
# 8). Against a database the client reads itself (sqlite, PostgreSQL, MySQL) a fetch is
# Python work under the GIL and threads only contend (sqlite: 17 s with 1, 26 s with 8).
REMOTE_WORKERS = 8
Progress = Callable[[int, int], None]
Key = tuple[str, str]  # (model name, version)


@dataclass(frozen=True)
class Holding:
    """A version holding a protected alias or stage: what audit re-evaluates."""

    version: ModelVersion
    target: str
    kind: TargetKind

    @property
    def key(self) -> Key:
        return (self.version.name, str(self.version.version))


@dataclass
class Timings:
    """Wall-clock seconds per phase of a run; the phases never overlap."""

    registry_reads: float = 0.0
    manifest_downloads: float = 0.0
    evaluation: float = 0.0
    decision_log: float = 0.0
    total: float = 0.0

    def line(self) -> str:
        return (
            f"registry reads {self.registry_reads:.2f} s, manifest downloads "
            f"{self.manifest_downloads:.2f} s, evaluation {self.evaluation:.2f} s, "
            f"decision log {self.decision_log:.2f} s, total {self.total:.2f} s"
        )


class Clock:
    """Adds the time spent in a ``with`` block to one field of :class:`Timings`."""

    def __init__(self, timings: Timings, phase: str) -> None:
        self.timings, self.phase = timings, phase

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        spent = time.perf_counter() - self.started
        setattr(self.timings, self.phase, getattr(self.timings, self.phase) + spent)


# --------------------------------------------------------------------------- reading


def _paged(fetch: Callable[[str | None], Any]) -> Iterator[Any]:
    token: str | None = None
    while True:
        page = fetch(token)
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def all_versions(registry: Registry, model: str | None = None) -> list[ModelVersion]:
    """Every model version (of ``model``, if given), paged, in name and version order."""
    client = registry.client
    filter_string = f"name = {_quoted(model)}" if model else None
    what = f"search model versions of {model!r}" if model else "search model versions"
    with registry.calling(what):
        return list(
            _paged(
                lambda token: client.search_model_versions(
                    filter_string=filter_string,
                    max_results=VERSIONS_PAGE,
                    order_by=["name ASC", "version_number ASC"],
                    page_token=token,
                )
            )
        )


def aliases_by_version(registry: Registry, model: str | None = None) -> dict[Key, list[str]]:
    """``(model, version) -> aliases``, from the registered models (paged)."""
    client = registry.client
    filter_string = f"name = {_quoted(model)}" if model else None
    found: dict[Key, list[str]] = {}
    with registry.calling("search registered models"):
        for rm in _paged(
            lambda token: client.search_registered_models(
                filter_string=filter_string,
                max_results=MODELS_PAGE,
                order_by=["name ASC"],
                page_token=token,
            )
        ):
            for alias, version in (rm.aliases or {}).items():
                found.setdefault((rm.name, str(version)), []).append(alias)
    return found


def protected_holdings(
    versions: Iterable[ModelVersion],
    aliases: dict[Key, list[str]],
    configs: Sequence[PolicySettings],
) -> list[Holding]:
    """Each protected alias or stage a version holds, protected under any of ``configs``
    (case-insensitive, as the policies compare them)."""
    protected = {a.lower() for c in configs for a in c.protected_aliases}
    stages = {s.lower() for c in configs for s in c.protected_stages}
    holdings = []
    for mv in versions:
        for alias in sorted(aliases.get((mv.name, str(mv.version)), [])):
            if alias.lower() in protected:
                holdings.append(Holding(mv, alias, "alias"))
        stage = (mv.current_stage or "").strip()
        if stage.lower() in stages:
            holdings.append(Holding(mv, stage, "stage"))
    return holdings


def default_workers(registry: Registry) -> int:
    """:data:`REMOTE_WORKERS` for a registry behind HTTP, else 1."""
    scheme = registry.where.partition(":")[0].lower()
    return REMOTE_WORKERS if scheme in ("http", "https", "databricks", "uc") else 1


def read_evidence(
    registry: Registry,
    versions: Sequence[ModelVersion],
    aliases: dict[Key, list[str]],
    *,
    workers: int = 1,
    hash_files: bool = False,
) -> dict[Key, Evidence]:
    """The evidence of each version: fields from the search, manifests fetched in
    parallel. Any fetch failing is a :class:`~mlgate.errors.RegistryError` (exit 2).
    ``hash_files``: hash each version's model files on the same threads (a failure is
    kept with the evidence; the decision records it)."""
    registry.client  # noqa: B018 - connect once, before the threads share the client

    def one(mv: ModelVersion) -> Evidence:
        evidence = registry.evidence(mv, aliases.get((mv.name, str(mv.version)), []))
        if hash_files and evidence.model_files is not None:
            with suppress(Exception):  # kept by the evidence's FilesOnce for the decision
                evidence.model_files()
        return evidence

    if workers <= 1 or len(versions) <= 1:
        found = [one(mv) for mv in versions]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mlgate-fetch") as pool:
            found = list(pool.map(one, versions))
    return {(e.model, e.version): e for e in found}


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def unique_versions(holdings: Sequence[Holding]) -> list[ModelVersion]:
    seen: dict[Key, ModelVersion] = {}
    for holding in holdings:
        seen.setdefault(holding.key, holding.version)
    return list(seen.values())


def with_evidence(
    registry: Registry,
    work: list[Holding],
    aliases: dict[tuple[str, str], list[str]],
    clock: Timings,
    workers: int,
    progress: Progress | None,
    *,
    hash_files: bool = False,
) -> Iterator[tuple[Holding, Evidence]]:
    """Each holding with its version's evidence, fetched a chunk at a time (bounded
    memory, separate timings), reporting progress after each holding is handled;
    ``hash_files``: model files hashed with the fetch (see :func:`read_evidence`)."""
    if progress:
        progress(0, len(work))
    done = 0
    for chunk in chunks(work, CHUNK):
        with Clock(clock, "manifest_downloads"):
            evidence = read_evidence(
                registry, unique_versions(chunk), aliases, workers=workers, hash_files=hash_files
            )
        for holding in chunk:
            yield holding, evidence[holding.key]
            done += 1
            if progress:
                progress(done, len(work))



def unwaived_codes(decision: Decision) -> set[str]:
    """Codes of the violations no waiver covers, in failing or errored gates."""
    return set(decision.failing_codes)

