"""``mlgate manifest attach`` on a version holding a protected alias writes nothing.

Before the fix the artifact was uploaded first and only the digest tag was refused by the
server's freeze: the approved manifest was overwritten and the production version then
failed ``audit`` with ``data_manifest.digest_mismatch``. The refusal's remediation is
followed to the end to prove it works.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures_mlflow import compliant_tags, example_manifest
from fixtures_server import GatedServer
from helpers import mlgate


def test_attach_on_a_frozen_version_writes_nothing_and_the_fix_works(
    sqlite_server: GatedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("chat")
    mv = reg.create_version(name, compliant_tags(), manifest=example_manifest())
    reg.client.set_registered_model_alias(name, "production", mv.version)
    approved = reg.download_manifest(name, mv.version)
    changed = {**example_manifest(), "quality_measures": ["deduplication", "new filter"]}
    new_file = reg.write_file(changed)
    where = ["--tracking-uri", sqlite_server.url]

    run = mlgate("manifest", "attach", name, mv.version, str(new_file), *where)

    assert run.exit_code == 2
    assert (
        "holds alias 'production': its compliance evidence is frozen and nothing was written"
        in run.stderr
    )
    assert reg.download_manifest(name, mv.version) == approved  # the artifact is untouched
    audit = mlgate("audit", *where, "--format", "json")
    [decision] = [d for d in audit.json() if d["model"] == name]
    assert decision["allowed"] is True, decision

    # The remediation it gives: remove the alias, attach again, promote again.
    reg.client.delete_registered_model_alias(name, "production")
    again = mlgate("manifest", "attach", name, mv.version, str(new_file), *where)
    assert again.exit_code == 0, again.stderr
    assert json.loads(reg.download_manifest(name, mv.version)) == changed
    promote = mlgate("promote", name, mv.version, "--alias", "production", *where)
    assert promote.exit_code == 0, promote.stdout + promote.stderr
    assert reg.aliases(name) == {"production": mv.version}
