"""The ``opa`` engine against an OPA server: the OPA REST API protocol double by default
(tests/opa_double.py), a real OPA when ``MLGATE_TEST_OPA_URL`` is set.

Tests of our error handling (status codes, delays, undefined documents, recorded headers)
use the ``opa_double`` fixture and skip against a real OPA, which cannot be told to fail.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fixtures_opa import real_opa_url
from helpers import EXAMPLES
from mlgate.engine.base import DECISION_PATH
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.engine.opa import OpaEngine, push_policies, revision_from_provenance
from mlgate.errors import EngineError, InputError
from mlgate.policy import PolicySet
from mlgate.runner import evaluate, load_gate_input
from opa_double import OpaDouble

DECISION_URL_PATH = f"/v1/data/{DECISION_PATH}"
EXAMPLE_INPUTS = {"allowed": True, "blocked": False}


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"gate_input_{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def engine(opa_url: str, opa_token: str | None) -> Iterator[OpaEngine]:
    with OpaEngine(opa_url, token=opa_token, timeout=5.0) as eng:
        yield eng


@pytest.fixture
def double_engine(opa_double: OpaDouble) -> Iterator[OpaEngine]:
    with OpaEngine(opa_double.url, timeout=5.0) as eng:
        yield eng


@pytest.fixture
def fresh_opa_url() -> Iterator[str]:
    """An OPA server without policies: a new double, or the real OPA (pushes are idempotent)."""
    real = real_opa_url()
    if real:
        yield real
        return
    with OpaDouble() as double:
        yield double.url


def closed_port() -> int:
    """A loopback port nobody listens on: bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- decisions


@pytest.mark.parametrize("name", sorted(EXAMPLE_INPUTS))
def test_same_decision_as_the_embedded_engine(
    name: str, engine: OpaEngine, bundled_policy_set: PolicySet
) -> None:
    document = example(name)
    decision = engine.evaluate(document)
    assert decision == EmbeddedEngine(bundled_policy_set).evaluate(document)
    assert decision["allowed"] is EXAMPLE_INPUTS[name]


def test_runner_decides_the_same_with_either_engine(
    engine: OpaEngine, bundled_policy_set: PolicySet
) -> None:
    gate_input = load_gate_input(EXAMPLES / "gate_input_blocked.json")
    by_opa = evaluate(gate_input, engine, bundled_policy_set)
    by_embedded = evaluate(gate_input, EmbeddedEngine(bundled_policy_set), bundled_policy_set)
    assert by_opa.engine == "opa"
    differing = {"decision_id", "engine", "policy_revision"}
    assert by_opa.model_dump(exclude=differing) == by_embedded.model_dump(exclude=differing)


def test_the_decision_is_asked_with_the_input_wrapped(
    opa_double: OpaDouble, double_engine: OpaEngine
) -> None:
    document = example("allowed")
    double_engine.evaluate(document)
    request = opa_double.requests[-1]
    assert (request.method, request.path) == ("POST", DECISION_URL_PATH)
    assert json.loads(request.body) == {"input": document}
    assert request.headers["content-type"] == "application/json"
    assert "authorization" not in request.headers


# --------------------------------------------------------------------------- fail closed


def test_connection_refused_is_an_engine_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with OpaEngine(url, timeout=2.0) as eng, pytest.raises(EngineError) as err:
        eng.evaluate(example("allowed"))
    # "connection failed", not "no answer within": refused at once, no waiting, no retry.
    assert f"{url}{DECISION_URL_PATH}: connection failed" in str(err.value)


def test_http_500_is_an_engine_error_with_opas_message(
    opa_double: OpaDouble, double_engine: OpaEngine
) -> None:
    opa_double.fail_with(500, "internal_error", "storage is on fire")
    with pytest.raises(EngineError) as err:
        double_engine.evaluate(example("allowed"))
    message = str(err.value)
    assert f"{opa_double.url}{DECISION_URL_PATH}" in message
    assert "HTTP 500 internal_error: storage is on fire" in message


def test_http_400_from_opa_is_an_engine_error(
    opa_double: OpaDouble, double_engine: OpaEngine
) -> None:
    opa_double.fail_with(400, "invalid_parameter", "body contains malformed input document")
    with pytest.raises(EngineError, match="HTTP 400 invalid_parameter: body contains malformed"):
        double_engine.evaluate(example("allowed"))


def test_undefined_decision_is_an_engine_error(
    opa_double: OpaDouble, double_engine: OpaEngine
) -> None:
    opa_double.make_undefined(DECISION_PATH)
    with pytest.raises(EngineError, match=r"data\.mlgate\.main\.decision is undefined"):
        double_engine.evaluate(example("allowed"))


def test_no_answer_within_the_timeout_is_an_engine_error(opa_double: OpaDouble) -> None:
    opa_double.delay = 30.0  # cut short when the double stops
    with OpaEngine(opa_double.url, timeout=0.3) as eng, pytest.raises(EngineError) as err:
        eng.evaluate(example("allowed"))
    assert f"{opa_double.url}{DECISION_URL_PATH}: no answer within the 0.3s timeout" in str(
        err.value
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html>maintenance</html>", "the answer is not JSON"),
        (502, "<html>Bad Gateway</html>", "HTTP 502 no OPA error body"),
        (200, "[1, 2]", "the answer is not a JSON object"),
    ],
)
def test_an_answer_that_is_not_opas_is_an_engine_error(
    opa_double: OpaDouble, double_engine: OpaEngine, status: int, body: str, expected: str
) -> None:
    opa_double.respond_raw(status, body)
    with pytest.raises(EngineError, match=expected):
        double_engine.evaluate(example("allowed"))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "localhost:8181",
        "ftp://opa.example.com",
        "http://",
        "http://opa.example.com:99999",
        "http://opa.example.com:port",
        "http://user:secret@opa.example.com",
        "http://opa.example.com:8181/v1",
        "http://opa.example.com/?tenant=a",
    ],
)
def test_a_malformed_url_is_an_input_error_naming_it(url: str) -> None:
    with pytest.raises(InputError) as err:
        OpaEngine(url)
    assert f"OPA URL {url!r} is not valid" in str(err.value)


def test_a_path_prefix_is_kept(opa_double: OpaDouble) -> None:
    # The double serves no prefix: OPA's mux answers 404 text, which fails closed.
    with OpaEngine(f"{opa_double.url}/opa/", timeout=5.0) as eng, pytest.raises(EngineError) as e:
        eng.evaluate(example("allowed"))
    assert opa_double.requests[-1].path == f"/opa{DECISION_URL_PATH}"
    assert "HTTP 404 no OPA error body" in str(e.value)


# --------------------------------------------------------------------------- auth


def test_the_token_is_sent_as_a_bearer_token(opa_double: OpaDouble) -> None:
    opa_double.token = "s3cret-token"
    with OpaEngine(opa_double.url, token="s3cret-token") as eng:
        assert eng.evaluate(example("allowed"))["allowed"] is True
    assert opa_double.requests[-1].headers["authorization"] == "Bearer s3cret-token"


def test_a_rejected_token_is_an_engine_error(opa_double: OpaDouble) -> None:
    opa_double.token = "the-right-one"
    with OpaEngine(opa_double.url, token="a-wrong-one") as eng, pytest.raises(EngineError) as e:
        eng.evaluate(example("allowed"))
    assert "HTTP 401 unauthorized" in str(e.value)
    assert "a-wrong-one" not in str(e.value)


# --------------------------------------------------------------------------- push


def test_push_uploads_modules_and_data_then_the_engine_decides(
    fresh_opa_url: str, opa_token: str | None, bundled_policy_set: PolicySet
) -> None:
    token = opa_token
    uploaded = push_policies(fresh_opa_url, bundled_policy_set, token=token)
    assert uploaded == sorted(bundled_policy_set.modules)
    listed = requests.get(
        f"{fresh_opa_url}/v1/policies",
        headers={"Authorization": f"Bearer {token}"} if token else {},
        timeout=5,
    ).json()["result"]
    raw = {p["id"]: p["raw"] for p in listed}
    assert {i: raw.get(i) for i in uploaded} == bundled_policy_set.modules
    document = example("blocked")
    with OpaEngine(fresh_opa_url, token=token) as eng:
        assert eng.evaluate(document) == EmbeddedEngine(bundled_policy_set).evaluate(document)


def test_push_of_a_module_with_a_syntax_error_names_its_location(
    fresh_opa_url: str, opa_token: str | None, bundled_policy_set: PolicySet
) -> None:
    broken = dataclasses.replace(
        bundled_policy_set,
        modules={"broken/broken.rego": "package broken\n\nallow if {\n\tinput.x == == 1\n}\n"},
        data={},
    )
    with pytest.raises(EngineError) as err:
        push_policies(fresh_opa_url, broken, token=opa_token)
    message = str(err.value)
    assert f"{fresh_opa_url}/v1/policies/broken/broken.rego" in message
    assert "invalid_parameter" in message
    assert "broken/broken.rego:4:" in message


def test_push_refused_by_the_server_is_an_engine_error_with_opas_message(
    opa_double: OpaDouble, bundled_policy_set: PolicySet
) -> None:
    opa_double.fail_with(500, "internal_error", "disk full")
    with pytest.raises(EngineError, match="OPA rejected the module: internal_error: disk full"):
        push_policies(opa_double.url, bundled_policy_set)
    assert len(opa_double.requests) == 1  # no retry


def test_push_to_an_unreachable_server_is_an_engine_error(
    bundled_policy_set: PolicySet,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(EngineError, match=f"{url}/v1/policies/.*: connection failed"):
        push_policies(url, bundled_policy_set, timeout=2.0)


# --------------------------------------------------------------------------- revision


def test_revision_is_the_bundle_revision_opa_reports(opa_double: OpaDouble) -> None:
    opa_double.revision = "bundle-rev-42"
    with OpaEngine(opa_double.url) as eng:
        assert eng.revision() == "bundle-rev-42"  # asked before any decision
        eng.evaluate(example("allowed"))
        assert eng.revision() == "bundle-rev-42"  # carried by the decision's own answer
    decision_request = opa_double.requests[-1]
    assert decision_request.query == {"provenance": ["true"]}


def test_revision_is_empty_without_a_bundle(double_engine: OpaEngine) -> None:
    assert double_engine.revision() == ""
    double_engine.evaluate(example("allowed"))
    assert double_engine.revision() == ""


def test_revision_against_the_server_is_a_string(engine: OpaEngine) -> None:
    engine.evaluate(example("allowed"))
    assert isinstance(engine.revision(), str)


@pytest.mark.parametrize(
    ("provenance", "expected"),
    [
        ({"version": "1.4.2"}, ""),
        ({"revision": "legacy-rev"}, "legacy-rev"),
        ({"bundles": {"authz": {"revision": "r1"}}}, "r1"),
        ({"bundles": {"b": {"revision": "r2"}, "a": {"revision": "r1"}}}, "a=r1,b=r2"),
        ({"bundles": {"a": {}}}, ""),
        (None, ""),
    ],
)
def test_revision_from_provenance(provenance: Any, expected: str) -> None:
    assert revision_from_provenance(provenance) == expected


# --------------------------------------------------------------------------- protocol
# Facts about OPA's REST API the double relies on; against a real OPA they check the
# double's claims.


def test_data_api_undefined_document_is_a_200_without_result(
    opa_url: str, opa_token: str | None
) -> None:
    headers = {"Authorization": f"Bearer {opa_token}"} if opa_token else {}
    answer = requests.post(
        f"{opa_url}/v1/data/mlgate/main/no_such_rule",
        json={"input": {}},
        headers=headers,
        timeout=5,
    )
    assert answer.status_code == 200
    assert "result" not in answer.json()


def test_data_api_malformed_body_is_a_400_invalid_parameter(
    opa_url: str, opa_token: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if opa_token:
        headers["Authorization"] = f"Bearer {opa_token}"
    answer = requests.post(
        f"{opa_url}{DECISION_URL_PATH}", data=b"{not json", headers=headers, timeout=5
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "invalid_parameter"


def test_data_api_put_is_a_204_and_reads_back(opa_url: str, opa_token: str | None) -> None:
    headers = {"Authorization": f"Bearer {opa_token}"} if opa_token else {}
    url = f"{opa_url}/v1/data/mlgate_protocol_test/scratch"
    put = requests.put(url, json={"n": 1}, headers=headers, timeout=5)
    assert put.status_code == 204
    got = requests.get(url, headers=headers, timeout=5)
    assert got.status_code == 200
    assert got.json()["result"] == {"n": 1}


def test_health_is_a_200_empty_object(opa_url: str) -> None:
    answer = requests.get(f"{opa_url}/health", timeout=5)
    assert (answer.status_code, answer.json()) == (200, {})
