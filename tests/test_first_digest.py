"""The model-files digest every protected decision records, with the attestation gate
off (the shipped policies), and ``mlgate audit`` comparing the files in production with
the ones first approved: real sqlite registries with logged model artifacts, real
``mlgate promote``, one byte of a model file replaced on disk; and a real ``mlflow
server`` with the ``mlgate+`` store recording the digest of the promotions it gates."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import pytest

from fixtures_mlflow import RegistryHelper, compliant_tags, example_manifest
from fixtures_server import GatedServer
from helpers import Run, mlgate
from mlgate.decisionlog import DecisionLog
from mlgate.evidence import Registry, VersionRef
from mlgate.modelfiles import files_sha256

WEIGHTS = bytes(range(256)) * 4096  # 1 MiB: more than one read chunk


def _model_dir(tracking_uri: str, name: str, version: str) -> Path:
    reg = Registry(tracking_uri)
    location = reg.artifact_location(reg.model_version(VersionRef(name, version=version)))
    return Path(url2pathname(urlparse(location).path))


def _version(registry: RegistryHelper, name: str = "chatbot") -> str:
    """A compliant version whose model files are MLmodel and weights/part-0.bin."""
    mv = registry.create_version(name, compliant_tags(), manifest=example_manifest())
    folder = _model_dir(registry.tracking_uri, name, str(mv.version)) / "weights"
    folder.mkdir()
    (folder / "part-0.bin").write_bytes(WEIGHTS)
    return str(mv.version)


def _log_url(registry: RegistryHelper) -> str:
    return f"sqlite:///{registry.root / 'decisions.db'}"


def _promote(registry: RegistryHelper, name: str, version: str) -> Run:
    run = mlgate("promote", name, version, "--alias", "production", "--format", "json",
                 "--decision-log", _log_url(registry), *registry.args)
    assert run.exit_code == 0, run.stdout + run.stderr
    return run


def _audit(registry: RegistryHelper, *args: str) -> Run:
    DecisionLog(_log_url(registry)).close()
    return mlgate("audit", "--decision-log", _log_url(registry), *registry.args, *args)


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _by_model(run: Run) -> dict[str, dict[str, Any]]:
    return {d["model"]: d for d in run.json()}


# --------------------------------------------------------------------------- recorded


def test_promote_records_the_files_with_the_attestation_gate_off(
    registry: RegistryHelper,
) -> None:
    version = _version(registry)
    decision = _promote(registry, "chatbot", version).json()
    files = {"MLmodel": decision["model_files"]["MLmodel"],
             "weights/part-0.bin": decision["model_files"]["weights/part-0.bin"]}
    assert decision["model_files"] == files  # compliance/ is evidence, not a model file
    assert decision["model_files_sha256"] == files_sha256(files)
    import hashlib

    assert files["weights/part-0.bin"] == hashlib.sha256(WEIGHTS).hexdigest()
    with DecisionLog(_log_url(registry)) as log:
        [entry] = log.entries(model="chatbot", limit=10)
    assert entry.decision.model_files == files
    # Out of the gate input: the Rego and the input digest are what they were.
    assert "attestation" not in entry.gate_input
    assert "model_files" not in entry.gate_input


def test_check_records_the_files_for_a_protected_target_only(registry: RegistryHelper) -> None:
    version = _version(registry)
    runs = {
        target: mlgate("check", "chatbot", version, "--target", target, "--format", "json",
                       *registry.args)
        for target in ("production", "staging")
    }
    assert runs["production"].exit_code == 0 and runs["staging"].exit_code == 0
    protected, other = runs["production"].json(), runs["staging"].json()
    assert len(protected["model_files_sha256"]) == 64
    assert sorted(protected["model_files"]) == ["MLmodel", "weights/part-0.bin"]
    assert protected["input_sha256"] != ""
    assert (other["model_files_sha256"], other["model_files"]) == (None, None)


def test_files_that_cannot_be_hashed_record_null_and_say_so(registry: RegistryHelper) -> None:
    """A dangling symlink among the model files: the promotion the gates allow still
    goes through (a hashing failure is no gate's evidence with the gate off), the
    decision records no digest and says why; audit then cannot vouch for the files."""
    version = _version(registry)
    folder = _model_dir(registry.tracking_uri, "chatbot", version)
    (folder / "weights" / "part-1.bin").symlink_to(folder / "nowhere.bin")
    decision = _promote(registry, "chatbot", version).json()
    assert (decision["allowed"], decision["model_files_sha256"]) == (True, None)
    [warning] = [w for w in decision["warnings"] if w.startswith("model files not hashed")]
    assert "part-1.bin" in warning or "nowhere.bin" in warning
    run = _audit(registry, "--format", "json")
    assert run.exit_code == 0, run.stderr
    [audited] = run.json()
    assert any("no first-approved digest" in w for w in audited["warnings"])


# --------------------------------------------------------------------------- audit


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("change", "weights/part-0.bin (changed)"),
        ("add", "weights/part-9.bin (added)"),
        ("remove", "weights/part-0.bin (removed)"),
    ],
)
def test_audit_names_the_file_that_differs_from_the_first_approved(
    registry: RegistryHelper, tamper: str, named: str
) -> None:
    tampered, kept = _version(registry, "tampered"), _version(registry, "kept")
    _promote(registry, "tampered", tampered)
    _promote(registry, "kept", kept)
    assert _audit(registry).exit_code == 0
    weights = _model_dir(registry.tracking_uri, "tampered", tampered) / "weights"
    if tamper == "change":
        _flip_last_byte(weights / "part-0.bin")
    elif tamper == "add":
        (weights / "part-9.bin").write_bytes(b"extra")
    else:
        (weights / "part-0.bin").unlink()

    run = _audit(registry, "--format", "json")
    assert run.exit_code == 1, run.stderr
    found = _by_model(run)
    assert found["tampered"]["allowed"] is True  # the gates allow; the files are what changed
    [finding] = [w for w in found["tampered"]["warnings"] if w.startswith("model files")]
    assert finding.startswith("model files changed since promotion ")
    assert finding.endswith(f"...): {named}")
    assert not any(w.startswith("model files") for w in found["kept"]["warnings"])

    table = _audit(registry)
    assert table.exit_code == 1
    assert named in table.stdout
    assert table.stdout.endswith(
        ": 0 blocked, 2 allowed (1 with model files changed since approved)\n"
    )
    assert "kept v" not in table.stdout


def test_files_that_cannot_be_hashed_now_are_reported(registry: RegistryHelper) -> None:
    """Fail closed: a digest on record and files that cannot be hashed now is a finding."""
    version = _version(registry)
    _promote(registry, "chatbot", version)
    folder = _model_dir(registry.tracking_uri, "chatbot", version)
    (folder / "weights" / "part-1.bin").symlink_to(folder / "nowhere.bin")
    run = _audit(registry, "--format", "json")
    assert run.exit_code == 1, run.stderr
    [audited] = run.json()
    assert audited["allowed"] is True and audited["model_files_sha256"] is None
    assert any(w.startswith("model files cannot be compared with promotion ")
               and w.endswith("they could not be hashed now") for w in audited["warnings"])
    assert any(w.startswith("model files not hashed") for w in audited["warnings"])


def test_a_blocked_holding_names_the_changed_file_among_its_reasons(
    registry: RegistryHelper,
) -> None:
    version = _version(registry)
    _promote(registry, "chatbot", version)
    registry.client.set_model_version_tag("chatbot", version, "compliance.filing.status", "none")
    _flip_last_byte(_model_dir(registry.tracking_uri, "chatbot", version) / "MLmodel")
    run = _audit(registry, "--format", "json")
    assert run.exit_code == 1
    [decision] = run.json()
    assert decision["allowed"] is False
    warnings = decision["warnings"]
    assert any(w.startswith("evidence changed since promotion") for w in warnings)
    assert any(w.startswith("model files changed since promotion") and w.endswith(
        "MLmodel (changed)") for w in warnings), warnings


def test_a_promotion_without_a_digest_on_record_is_not_reported_as_changed(
    registry: RegistryHelper,
) -> None:
    """A promotion logged before decisions recorded model files: audit says it has no
    first-approved digest and does not report the files as changed (nor as unchanged)."""
    from mlgate import gate
    from mlgate.policy import load_policy_dir
    from mlgate.runner import make_engine

    version = _version(registry)
    policy_set = load_policy_dir()
    evidence = Registry(registry.tracking_uri).read(VersionRef("chatbot", version=version))
    before = replace(evidence, model_files=None)  # what the reader gave before this change
    decision, gate_input = gate.decide(
        before, "production", "alias", make_engine("embedded", policy_set), policy_set
    )
    assert decision.allowed and decision.model_files_sha256 is None
    with DecisionLog(_log_url(registry)) as log:
        gate.record(log, decision, gate_input, actor="earlier", source="cli")
    registry.client.set_registered_model_alias("chatbot", "production", version)
    _flip_last_byte(_model_dir(registry.tracking_uri, "chatbot", version) / "weights" /
                    "part-0.bin")

    run = _audit(registry, "--format", "json")
    assert run.exit_code == 0, run.stdout + run.stderr
    [audited] = run.json()
    assert len(audited["model_files_sha256"]) == 64  # hashed now all the same
    assert not any(w.startswith("model files changed") for w in audited["warnings"])
    [note] = [w for w in audited["warnings"] if w.startswith("model files not compared")]
    assert f"promotion {decision.decision_id}" in note
    assert note.endswith("there is no first-approved digest")


# --------------------------------------------------------------------------- the server


def test_the_gated_server_records_the_files_of_a_promotion(
    sqlite_server: GatedServer, tmp_path: Path
) -> None:
    """Set alias production through the plain MLflow client on a real ``mlflow server``
    with the ``mlgate+`` store: the logged decision carries the model files; audit,
    reading the server's record, names the file replaced in its artifact store."""
    reg = sqlite_server.helper(tmp_path)
    name = reg.unique("served")
    mv = reg.create_version(name, compliant_tags(), manifest=example_manifest())
    reg.client.set_registered_model_alias(name, "production", str(mv.version))
    [entry] = sqlite_server.decisions(name)
    assert entry.decision.allowed
    assert sorted(entry.decision.model_files or {}) == ["MLmodel"]
    assert entry.decision.model_files_sha256 == files_sha256(entry.decision.model_files or {})

    logged = reg.client.get_logged_model(mv.source.rsplit("/", 1)[1])
    relative = logged.artifact_location.split("mlflow-artifacts:/", 1)[1].strip("/")
    model_file = sqlite_server.root / "artifacts" / relative / "MLmodel"
    assert model_file.is_file(), model_file
    saved = tmp_path / "MLmodel.saved"
    shutil.copyfile(model_file, saved)
    try:
        _flip_last_byte(model_file)
        run = mlgate("audit", "--tracking-uri", sqlite_server.url, "--format", "json")
    finally:
        shutil.copyfile(saved, model_file)  # the server is shared by other tests
    assert run.exit_code == 1, run.stderr
    [mine] = [d for d in run.json() if d["model"] == name]
    assert mine["allowed"] is True
    assert any(w.startswith("model files changed since promotion") and w.endswith(
        "MLmodel (changed)") for w in mine["warnings"]), mine["warnings"]
