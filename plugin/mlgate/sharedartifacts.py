"""Model versions that share one artifact location, and the manifest they then share.

Two versions registered from one logged model (or one run path, or one storage URI)
read their artifacts from the same place, so ``compliance/data_manifest.json`` is one
file for both. Attaching a different manifest to one would silently change the other's:
the version holding ``production`` would then fail its digest check
(``data_manifest.digest_mismatch``). :func:`refuse_shared` refuses that, before anything
is written, unless the new manifest is byte for byte the one the other versions already
vouch for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from .errors import InputError
from .facts import DIGEST_TAG, MANIFEST_ARTIFACT, sha256_hex

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from mlflow.entities.model_registry import ModelVersion

# Rows per search page (MLflow's default for model versions).
PAGE = 10_000


class SharedReader(Protocol):
    """What :func:`refuse_shared` needs of :class:`mlgate.evidence.Registry`."""

    @property
    def client(self) -> Any: ...

    def calling(self, what: str) -> AbstractContextManager[None]: ...

    def manifest_bytes(self, mv: ModelVersion) -> bytes | None: ...

    def artifact_location(self, mv: ModelVersion) -> str: ...


def _same_location_sources(registry: SharedReader, mv: ModelVersion) -> list[str]:
    """The ``source`` strings under which another version reads ``mv``'s artifacts: the
    same source, ``models:/<name>/<version>`` of ``mv`` itself, and the location they
    resolve to."""
    candidates = [mv.source or "", f"models:/{mv.name}/{mv.version}"]
    if mv.source:
        location = registry.artifact_location(mv)
        candidates += [location, location.rstrip("/"), location.rstrip("/") + "/"]
    return sorted({c for c in candidates if c})


def _search(registry: SharedReader, filter_string: str | None) -> Iterator[ModelVersion]:
    token: str | None = None
    while True:
        page = registry.client.search_model_versions(
            filter_string=filter_string,
            max_results=PAGE,
            order_by=["name ASC", "version_number ASC"],
            page_token=token,
        )
        yield from page
        token = getattr(page, "token", None)
        if not token:
            return


def sharing_versions(registry: SharedReader, mv: ModelVersion) -> list[ModelVersion]:
    """The other versions of the registry whose artifacts are ``mv``'s, in name and
    version order. A source holding a quote is matched by reading every version (a
    filter string cannot hold it safely)."""
    sources = _same_location_sources(registry, mv)
    found: dict[tuple[str, str], ModelVersion] = {}
    with registry.calling(f"search the versions sharing the artifacts of {mv.name!r} "
                          f"version {mv.version}"):
        if any("'" in s or "\\" in s for s in sources):
            matches: Iterator[ModelVersion] = (
                other for other in _search(registry, None) if (other.source or "") in sources
            )
        else:
            matches = (
                other for s in sources for other in _search(registry, f"source_path = '{s}'")
            )
        for other in matches:
            key = (other.name, str(other.version))
            if key != (mv.name, str(mv.version)):
                found.setdefault(key, other)
    return [found[k] for k in sorted(found, key=lambda k: (k[0], int(k[1])))]


def refuse_shared(registry: SharedReader, mv: ModelVersion, content: bytes) -> None:
    """Exit 2, before anything is written, when attaching ``content`` as ``mv``'s
    manifest would change the compliance evidence of another version sharing its
    artifact location: one with a manifest there or a digest tag, unless ``content``
    is exactly the manifest stored there and the digest each tags."""
    others = sharing_versions(registry, mv)
    if not others:
        return
    stored = registry.manifest_bytes(mv)
    digest = sha256_hex(content)
    affected = []
    for other in others:
        tagged = (other.tags or {}).get(DIGEST_TAG)
        if stored is None and tagged is None:
            continue  # no evidence on it to change
        if (stored is None or stored == content) and (tagged is None or tagged == digest):
            continue  # the same bytes: nothing changes for it
        affected.append(other)
    if not affected:
        return
    named = ", ".join(f"{o.name!r} version {o.version}" for o in affected[:5])
    if len(affected) > 5:
        named += f" and {len(affected) - 5} more"
    raise InputError(
        f"model {mv.name!r} version {mv.version} shares its artifact location with {named}, "
        f"which carr{'ies' if len(affected) == 1 else 'y'} "
        f"compliance evidence: attaching would overwrite their {MANIFEST_ARTIFACT}, and "
        "nothing was written. Register this version from its own model artifact (log the "
        "model again) and attach there, or attach the manifest they already carry"
    )
