"""Evidence authority, the evidence ledger and four eyes with the gated store in-process
(``MlflowClient(registry_uri="mlgate+sqlite:...")``), a real sqlite registry.

The verified user is set the way MLflow's basic-auth sets it for a request
(``flask.g.mlflow_authenticated_user``) in a Flask request context; the store reads
nothing else. The server tests with real users are in ``test_evidence_authority.py``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from evidence_fixtures import compliant_tags, example_manifest
from fixtures_mlflow import RegistryHelper
from fixtures_server import authority_policies
from helpers import mlgate

SET_TAG_ROUTE = "/api/2.0/mlflow/model-versions/set-tag"


@contextmanager
def as_verified(user: str | None, path: str = SET_TAG_ROUTE) -> Iterator[None]:
    """A request whose user MLflow's authentication verified (None: no auth app)."""
    from flask import Flask, g

    with Flask("mlgate-test").test_request_context(path, method="POST"):
        if user is not None:
            g.mlflow_authenticated_user = user
        yield


@pytest.fixture
def gated(
    registry: RegistryHelper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> MlflowClient:
    for key in [k for k in os.environ if k.startswith("MLGATE_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("MLGATE_POLICIES", str(authority_policies(tmp_path / "p")))
    return MlflowClient(
        tracking_uri=registry.tracking_uri, registry_uri="mlgate+" + registry.tracking_uri
    )


def officer_writes(gated: MlflowClient, name: str, version: str) -> None:
    with as_verified("officer"):
        for key, value in compliant_tags().items():
            gated.set_model_version_tag(name, version, key, value)


def denied(call: object) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        call()  # type: ignore[operator]
    assert info.value.error_code == "PERMISSION_DENIED", info.value.message
    return info.value


def test_no_verified_user_is_no_writer(registry: RegistryHelper, gated: MlflowClient) -> None:
    name = registry.unique("chat")
    version = str(registry.create_version(name).version)
    exc = denied(lambda: gated.set_model_version_tag(name, version, "compliance.audience", "x"))
    assert "a request no authentication verified is not listed" in exc.message
    with as_verified(None):
        denied(lambda: gated.delete_model_version_tag(name, version, "compliance.audience"))


def test_ledger_records_writes_and_deletes_and_evidence_show_reads_it(
    registry: RegistryHelper, gated: MlflowClient
) -> None:
    name = registry.unique("chat")
    version = str(registry.create_version(name).version)
    officer_writes(gated, name, version)
    with as_verified("officer", "/ajax-api/2.0/mlflow/model-versions/delete-tag"):
        gated.delete_model_version_tag(name, version, "compliance.filing.id")
        gated.delete_model_version_tag(name, version, "compliance.filing.id")  # nothing left
    # Written behind the store's back: its writer is unknown.
    registry.client.set_model_version_tag(name, version, "compliance.modalities", "text,image")

    run = mlgate("evidence", "show", name, version, "--format", "json", *registry.args)
    assert run.exit_code == 0, run.stderr
    shown = {e["key"]: e for e in run.json()["evidence"]}
    assert "compliance.filing.id" not in shown
    assert shown["compliance.filing.status"]["writer"] == "officer"
    assert shown["compliance.filing.status"]["source"] == f"POST {SET_TAG_ROUTE}"
    assert shown["compliance.modalities"]["writer"] is None
    table = mlgate("evidence", "show", name, version, *registry.args)
    assert "compliance.modalities" in table.stdout and "writer unknown" in table.stdout
    assert "set by officer" in table.stdout

    from mlgate.decisionlog import DecisionLog, default_log_url

    with DecisionLog(default_log_url(registry.tracking_uri)) as log:
        history = log.evidence_history(name, version)
    deletes = [r for r in history if r.new_value is None]
    assert [(r.key, r.writer) for r in deletes] == [("compliance.filing.id", "officer")]
    assert deletes[0].source == "POST /ajax-api/2.0/mlflow/model-versions/delete-tag"


def test_evidence_show_against_a_server_needs_the_ledger_named() -> None:
    run = mlgate("evidence", "show", "chat", "1", "--tracking-uri", "http://127.0.0.1:9")
    assert run.exit_code == 2
    assert "--decision-log" in run.stderr


def test_four_eyes_in_process(registry: RegistryHelper, gated: MlflowClient) -> None:
    name = registry.unique("chat")
    version = str(registry.create_version(name).version)
    officer_writes(gated, name, version)
    with as_verified("officer"):
        from mlgate.evidence import Registry, VersionRef

        Registry(registry.tracking_uri, "mlgate+" + registry.tracking_uri).attach_manifest(
            VersionRef(name, version=version), registry.write_file(example_manifest())
        )
        exc = denied(lambda: gated.set_registered_model_alias(name, "production", version))
    assert "promotion.four_eyes" in exc.message
    with as_verified("releaser"):
        gated.set_registered_model_alias(name, "production", version)
    assert registry.aliases(name) == {"production": version}


def test_cli_against_a_plain_registry_says_provenance_is_unknown(
    registry: RegistryHelper, gated: MlflowClient, tmp_path: Path
) -> None:
    name = registry.unique("chat")
    registry.create_version(name, compliant_tags(), manifest=example_manifest())
    run = mlgate(
        "promote", name, "1", "--alias", "production", "--format", "json",
        "--policies", os.environ["MLGATE_POLICIES"], *registry.args,
    )
    assert run.exit_code == 1, run.stderr
    [decision] = run.json() if isinstance(run.json(), list) else [run.json()]
    promotion = next(g for g in decision["gates"] if g["id"] == "promotion")
    [violation] = promotion["violations"]
    assert violation["code"] == "promotion.provenance_unknown"
    assert "plain registry keeps no evidence ledger" in violation["message"]
    assert "the promoter is unknown" in violation["message"]


# --------------------------------------------------------------------------- look-alikes

_FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in range(0x21, 0x7F)}
_KEYS = [k.removeprefix("compliance.") for k in compliant_tags()]


@st.composite
def lookalike_keys(draw: st.DrawFn) -> str:
    """A key every collation mlgate knows matches to ``compliance.<known key>``: letters
    in any case, an accent on some, some full width (NFKC folds them back)."""
    key = "compliance." + draw(st.sampled_from(_KEYS))
    out = []
    for ch in key:
        how = draw(st.sampled_from(["keep", "upper", "accent", "wide"]))
        if how == "upper":
            ch = ch.upper()
        elif how == "accent" and ch.isalpha():
            ch = unicodedata.normalize("NFC", ch + "\u0301")
        elif how == "wide":
            ch = _FULLWIDTH.get(ch, ch)
        out.append(ch)
    return "".join(out)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=lookalike_keys())
def test_compliance_lookalikes_are_refused_for_a_non_writer(
    registry: RegistryHelper, gated: MlflowClient, key: str
) -> None:
    name = "lookalike"
    try:
        version = str(registry.client.get_model_version(name, "1").version)
    except MlflowException:
        version = str(registry.create_version(name).version)
    with as_verified("developer"), pytest.raises(MlflowException) as info:
        gated.set_model_version_tag(name, version, key, "completed")
    # MLflow may refuse the key itself (400); it is never written.
    assert info.value.error_code in ("PERMISSION_DENIED", "INVALID_PARAMETER_VALUE")
    if info.value.error_code == "PERMISSION_DENIED":
        assert "evidence.writers" in info.value.message
    assert key not in registry.tags(name, version)
