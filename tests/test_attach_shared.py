"""``mlgate manifest attach`` on a version that shares its artifacts with another (#17 item 9).

Two versions registered from one logged model read one ``compliance/data_manifest.json``.
Attaching a different manifest to one used to overwrite the other's silently, so the
version holding ``production`` became ``data_manifest.digest_mismatch``. Real sqlite
registries and a real ``mlflow server`` running the mlgate store.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from mlflow.entities.model_registry import ModelVersion

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest, global_mlflow_uri
from fixtures_server import GatedServer
from helpers import mlgate, one_error_line

CHANGED = {**example_manifest(), "quality_measures": ["deduplication", "a new filter"]}


def register_again(registry: RegistryHelper, name: str, first: ModelVersion) -> ModelVersion:
    """A second version of ``name`` registered from ``first``'s logged model."""
    model_id = first.source.removeprefix("models:/")
    with global_mlflow_uri(registry.tracking_uri):
        mv = registry.client.create_model_version(
            name, first.source, tags=compliant_tags(), model_id=model_id
        )
    return registry.client.get_model_version(name, str(mv.version))


def check(registry: RegistryHelper, name: str, version: str) -> dict[str, object]:
    run = mlgate("check", name, version, *registry.args, "--format", "json")
    assert run.exit_code in (0, 1), run.stderr
    document: dict[str, object] = run.json()
    return document


def refused(registry: RegistryHelper, name: str, *, production: bool) -> None:
    """v1 carries a manifest (and holds ``production``); v2 shares its logged model: a
    different manifest for v2 is refused, nothing is written, v1 still passes; the same
    bytes are allowed."""
    v1 = registry.create_version(name, compliant_tags(), manifest=example_manifest())
    if production:
        registry.client.set_registered_model_alias(name, "production", v1.version)
    approved = registry.download_manifest(name, "1")
    v2 = register_again(registry, name, v1)
    assert str(v2.version) == "2"

    run = mlgate("manifest", "attach", name, "2", str(registry.write_file(CHANGED)),
                 *registry.args)
    line = one_error_line(run)
    assert (
        f"model '{name}' version 2 shares its artifact location with '{name}' version 1, "
        "which carries compliance evidence: attaching would overwrite their "
        "compliance/data_manifest.json, and nothing was written. Register this version from "
        "its own model artifact (log the model again) and attach there" in line
    )
    assert registry.download_manifest(name, "1") == approved
    assert "compliance.data_manifest.sha256" not in registry.tags(name, "2")
    assert check(registry, name, "1")["allowed"] is True

    # The manifest they already share: nothing changes for v1, so it is allowed.
    same = mlgate("manifest", "attach", name, "2", str(registry.write_file(approved)),
                  *registry.args)
    assert same.exit_code == 0, same.stderr
    assert registry.tags(name, "2")["compliance.data_manifest.sha256"] == (
        registry.tags(name, "1")["compliance.data_manifest.sha256"]
    )
    assert check(registry, name, "1")["allowed"] is True
    assert check(registry, name, "2")["allowed"] is True


def test_a_different_manifest_on_a_shared_logged_model_is_refused(
    registry: RegistryHelper,
) -> None:
    refused(registry, "chat", production=True)


def test_sharing_with_a_version_without_evidence_is_allowed_then_guards_it(
    registry: RegistryHelper,
) -> None:
    v1 = registry.create_version("chat", compliant_tags())  # no manifest, no digest tag
    register_again(registry, "chat", v1)
    first = mlgate("manifest", "attach", "chat", "2", str(registry.write_file(CHANGED)),
                   *registry.args)
    assert first.exit_code == 0, first.stderr  # v1 carried nothing that could change
    assert json.loads(registry.download_manifest("chat", "2")) == CHANGED

    # Now v2 carries evidence: a different manifest through v1 is refused, naming v2.
    run = mlgate("manifest", "attach", "chat", "1", str(registry.write_file(example_manifest())),
                 *registry.args)
    assert "version 1 shares its artifact location with 'chat' version 2" in (
        one_error_line(run)
    )
    assert json.loads(registry.download_manifest("chat", "2")) == CHANGED
    assert check(registry, "chat", "2")["allowed"] is True


def test_a_digest_tag_alone_is_evidence(registry: RegistryHelper) -> None:
    """v1 tags a digest (its manifest not uploaded yet): only that manifest may go there."""
    v1 = registry.create_version("chat", compliant_tags())
    v2 = register_again(registry, "chat", v1)
    wanted = registry.write_file(example_manifest())
    digest = hashlib.sha256(wanted.read_bytes()).hexdigest()
    registry.client.set_model_version_tag("chat", "1", "compliance.data_manifest.sha256", digest)
    run = mlgate("manifest", "attach", "chat", str(v2.version), str(registry.write_file(CHANGED)),
                 *registry.args)
    assert "with 'chat' version 1, which carries compliance evidence" in one_error_line(run)
    ok = mlgate("manifest", "attach", "chat", str(v2.version), str(wanted), *registry.args)
    assert ok.exit_code == 0, ok.stderr
    assert check(registry, "chat", "1")["allowed"] is True


def test_versions_with_their_own_artifacts_are_not_affected(registry: RegistryHelper) -> None:
    registry.create_version("chat", compliant_tags(), manifest=example_manifest())
    registry.create_version("chat", compliant_tags())  # its own logged model
    run = mlgate("manifest", "attach", "chat", "2", str(registry.write_file(CHANGED)),
                 *registry.args)
    assert run.exit_code == 0, run.stderr
    assert json.loads(registry.download_manifest("chat", "1")) == example_manifest()


def test_refused_through_a_tracking_server(
    sqlite_server: GatedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    helper = sqlite_server.helper(tmp_path)
    # Without an alias: the server refuses any artifact write under a version holding
    # production itself (test_attach_freeze.py), even of the same bytes.
    refused(helper, helper.unique("chat"), production=False)
