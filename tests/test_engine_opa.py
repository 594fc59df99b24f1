"""The ``opa`` engine against an OPA server: by default the OPA REST test server
(tests/opa_testserver.py: our HTTP layer, OPA's Go library compiling and deciding), a real
OPA when ``MLGATE_TEST_OPA_URL`` is set.

Tests of our error handling (status codes, delays, undefined documents, recorded headers)
use the ``opa_server`` fixture and skip against a real OPA, which cannot be told to fail.
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from fixtures_opa import real_opa_url, require_opa_golib
from helpers import EXAMPLES
from mlgate.engine.base import DECISION_PATH
from mlgate.engine.embedded import EmbeddedEngine
from mlgate.engine.opa import OpaEngine, push_order, push_policies, revision_from_provenance
from mlgate.errors import EngineError, InputError
from mlgate.policy import PolicySet
from mlgate.runner import evaluate, load_gate_input
from opa_testserver import OpaTestServer

DECISION_URL_PATH = f"/v1/data/{DECISION_PATH}"
EXAMPLE_INPUTS = {"allowed": True, "blocked": False}


def example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"gate_input_{name}.json").read_text(encoding="utf-8"))


@pytest.fixture
def engine(opa_url: str, opa_token: str | None) -> Iterator[OpaEngine]:
    with OpaEngine(opa_url, token=opa_token, timeout=5.0) as eng:
        yield eng


@pytest.fixture
def server_engine(opa_server: OpaTestServer) -> Iterator[OpaEngine]:
    with OpaEngine(opa_server.url, timeout=5.0) as eng:
        yield eng


@pytest.fixture
def fresh_opa_url() -> Iterator[str]:
    """An OPA server without policies: a new test server, or the real OPA (pushes are
    idempotent)."""
    real = real_opa_url()
    if real:
        yield real
        return
    require_opa_golib()
    with OpaTestServer() as server:
        yield server.url


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
    opa_server: OpaTestServer, server_engine: OpaEngine
) -> None:
    document = example("allowed")
    server_engine.evaluate(document)
    request = opa_server.requests[-1]
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
    opa_server: OpaTestServer, server_engine: OpaEngine
) -> None:
    opa_server.fail_with(500, "internal_error", "storage is on fire")
    with pytest.raises(EngineError) as err:
        server_engine.evaluate(example("allowed"))
    message = str(err.value)
    assert f"{opa_server.url}{DECISION_URL_PATH}" in message
    assert "HTTP 500 internal_error: storage is on fire" in message


def test_http_400_from_opa_is_an_engine_error(
    opa_server: OpaTestServer, server_engine: OpaEngine
) -> None:
    opa_server.fail_with(400, "invalid_parameter", "body contains malformed input document")
    with pytest.raises(EngineError, match="HTTP 400 invalid_parameter: body contains malformed"):
        server_engine.evaluate(example("allowed"))


def test_undefined_decision_is_an_engine_error(
    opa_server: OpaTestServer, server_engine: OpaEngine
) -> None:
    opa_server.make_undefined(DECISION_PATH)
    with pytest.raises(EngineError, match=r"data\.mlgate\.main\.decision is undefined"):
        server_engine.evaluate(example("allowed"))


def test_no_answer_within_the_timeout_is_an_engine_error(opa_server: OpaTestServer) -> None:
    opa_server.delay = 30.0  # cut short when the server stops
    with OpaEngine(opa_server.url, timeout=0.3) as eng, pytest.raises(EngineError) as err:
        eng.evaluate(example("allowed"))
    assert f"{opa_server.url}{DECISION_URL_PATH}: no answer within the 0.3s timeout" in str(
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
    opa_server: OpaTestServer, server_engine: OpaEngine, status: int, body: str, expected: str
) -> None:
    opa_server.respond_raw(status, body)
    with pytest.raises(EngineError, match=expected):
        server_engine.evaluate(example("allowed"))


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


def test_a_path_prefix_is_kept(opa_server: OpaTestServer) -> None:
    # The test server serves no prefix: OPA's mux answers 404 text, which fails closed.
    with OpaEngine(f"{opa_server.url}/opa/", timeout=5.0) as eng, pytest.raises(EngineError) as e:
        eng.evaluate(example("allowed"))
    assert opa_server.requests[-1].path == f"/opa{DECISION_URL_PATH}"
    assert "HTTP 404 no OPA error body" in str(e.value)


# --------------------------------------------------------------------------- auth


def test_the_token_is_sent_as_a_bearer_token(opa_server: OpaTestServer) -> None:
    opa_server.token = "s3cret-token"
    with OpaEngine(opa_server.url, token="s3cret-token") as eng:
        assert eng.evaluate(example("allowed"))["allowed"] is True
    assert opa_server.requests[-1].headers["authorization"] == "Bearer s3cret-token"


def test_a_rejected_token_is_an_engine_error(opa_server: OpaTestServer) -> None:
    opa_server.token = "the-right-one"
    with OpaEngine(opa_server.url, token="a-wrong-one") as eng, pytest.raises(EngineError) as e:
        eng.evaluate(example("allowed"))
    assert "HTTP 401 unauthorized" in str(e.value)
    assert "a-wrong-one" not in str(e.value)


# --------------------------------------------------------------------------- push


def test_push_uploads_modules_and_data_then_the_engine_decides(
    fresh_opa_url: str, opa_token: str | None, bundled_policy_set: PolicySet
) -> None:
    token = opa_token
    uploaded = push_policies(fresh_opa_url, bundled_policy_set, token=token)
    assert sorted(uploaded) == sorted(bundled_policy_set.modules)
    # OPA compiles every stored module on each upload: lib before the gates calling it.
    assert uploaded.index("lib/lib.rego") < uploaded.index("gates/assessment/assessment.rego")
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
    opa_server: OpaTestServer, bundled_policy_set: PolicySet
) -> None:
    opa_server.fail_with(500, "internal_error", "disk full")
    with pytest.raises(EngineError, match="OPA rejected the module: internal_error: disk full"):
        push_policies(opa_server.url, bundled_policy_set)
    assert len(opa_server.requests) == 1  # no retry


def test_push_to_an_unreachable_server_is_an_engine_error(
    bundled_policy_set: PolicySet,
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(EngineError, match=f"{url}/v1/policies/.*: connection failed"):
        push_policies(url, bundled_policy_set, timeout=2.0)


def test_push_sends_each_module_once_in_dependency_order(bundled_policy_set: PolicySet) -> None:
    require_opa_golib()
    with OpaTestServer() as server:
        uploaded = push_policies(server.url, bundled_policy_set)
        puts = [r.path for r in server.requests if r.path.startswith("/v1/policies/")]
    assert puts == [f"/v1/policies/{i}" for i in uploaded]  # none refused, none retried
    # The decision (main, and four eyes beside it, which read each other) after every gate.
    last_gate = max(i for i, m in enumerate(uploaded) if m.startswith("gates/"))
    assert uploaded.index("main/main.rego") > last_gate
    assert uploaded.index("main/promotion.rego") > last_gate


def test_push_retries_a_module_whose_dependency_it_could_not_see(
    fresh_opa_url: str, opa_token: str | None, bundled_policy_set: PolicySet
) -> None:
    # A function of the same package defined in another file is no dependency push_order
    # sees: "a" goes first, is refused (undefined function), and goes again after the
    # module defining the function.
    modules = {
        "mlgate_push_test/a.rego": "package mlgate_push_test.a\n\ny := plus_one(1)\n",
        "mlgate_push_test/lib.rego": "package mlgate_push_test.a\n\nplus_one(x) := x + 1\n",
    }
    pair = dataclasses.replace(bundled_policy_set, modules=modules, data={})
    assert push_order(modules) == sorted(modules)
    assert push_policies(fresh_opa_url, pair, token=opa_token) == sorted(modules, reverse=True)
    headers = {"Authorization": f"Bearer {opa_token}"} if opa_token else {}
    got = requests.get(f"{fresh_opa_url}/v1/data/mlgate_push_test/a/y", headers=headers, timeout=5)
    assert got.json()["result"] == 2


def test_push_of_a_module_that_never_compiles_names_opas_error(
    fresh_opa_url: str, opa_token: str | None, bundled_policy_set: PolicySet
) -> None:
    broken = dataclasses.replace(
        bundled_policy_set,
        modules={
            "mlgate_push_test/orphan.rego": (
                "package mlgate_push_test.orphan\n\ny := data.mlgate_push_test.none.f(1)\n"
            )
        },
        data={},
    )
    with pytest.raises(EngineError) as err:
        push_policies(fresh_opa_url, broken, token=opa_token)
    message = str(err.value)
    assert f"{fresh_opa_url}/v1/policies/mlgate_push_test/orphan.rego" in message
    assert "mlgate_push_test/orphan.rego:3" in message
    assert "rego_type_error: undefined function data.mlgate_push_test.none.f" in message


@pytest.mark.parametrize(
    ("modules", "expected"),
    [
        (  # a reference to a rule of another package, through an import
            {"b.rego": "package b\n\nimport data.a\n", "a.rego": "package a\n"},
            ["a.rego", "b.rego"],
        ),
        (  # a reference to a parent package: everything below it
            {"0.rego": "package top\n\nx := data.p\n", "1.rego": "package p.q\n"},
            ["1.rego", "0.rego"],
        ),
        (  # a cycle keeps path order
            {"y.rego": "package y\n\nv := data.x.v\n", "x.rego": "package x\n\nv := data.y.v\n"},
            ["x.rego", "y.rego"],
        ),
        (  # a module of the same package is no dependency
            {"p2.rego": "package p\n\nv := data.p.w\n", "p1.rego": "package p\n\nw := 1\n"},
            ["p1.rego", "p2.rego"],
        ),
        (  # a string index is read as a name (the AST, not the text)
            {"a.rego": 'package a\n\nx := data["b"].y\n', "b.rego": "package b\n\ny := 1\n"},
            ["b.rego", "a.rego"],
        ),
        (  # data.<pkg> in a comment or a string is no reference
            {
                "z.rego": 'package z\n\n# unlike data.a\nx := "data.a"\n',
                "a.rego": "package a\n\ny := data.z.x\n",
            },
            ["z.rego", "a.rego"],
        ),
        (  # a module regorus cannot parse has no dependencies: OPA reports it on upload
            {"a.rego": "package a\n\nx := data.b.y {\n", "b.rego": "package b\n\ny := 1\n"},
            ["a.rego", "b.rego"],
        ),
    ],
)
def test_push_order(modules: dict[str, str], expected: list[str]) -> None:
    assert push_order(modules) == expected


# --------------------------------------------------------------------------- policy API
# OPA's server compiles every stored module on each change and refuses one that breaks
# the set; against a real OPA these check the test server's claims.

CALLER = "package mlgate_protocol_test.caller\n\ny := data.mlgate_protocol_test.callee.f(1)\n"
CALLEE = "package mlgate_protocol_test.callee\n\nf(x) := x * 2\n"


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def test_policy_put_that_does_not_compile_is_opas_400(
    fresh_opa_url: str, opa_token: str | None
) -> None:
    url = f"{fresh_opa_url}/v1/policies/mlgate_protocol_test/orphan.rego"
    source = "package mlgate_protocol_test.orphan\n\ny := data.mlgate_protocol_test.none.f(1)\n"
    answer = requests.put(url, data=source, headers=_auth(opa_token), timeout=5)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == "invalid_parameter"
    assert body["message"] == "error(s) occurred while compiling module(s)"
    [error] = body["errors"]
    assert error["code"] == "rego_type_error"
    assert error["message"] == "undefined function data.mlgate_protocol_test.none.f"
    assert {k: error["location"][k] for k in ("file", "row")} == {
        "file": "mlgate_protocol_test/orphan.rego",
        "row": 3,
    }
    listed = requests.get(f"{fresh_opa_url}/v1/policies", headers=_auth(opa_token), timeout=5)
    assert "mlgate_protocol_test/orphan.rego" not in {p["id"] for p in listed.json()["result"]}


def test_policy_put_with_a_parse_error_is_opas_400_with_its_location(
    fresh_opa_url: str, opa_token: str | None
) -> None:
    url = f"{fresh_opa_url}/v1/policies/mlgate_protocol_test/bad.rego"
    source = "package mlgate_protocol_test.bad\n\nallow if {\n\tinput.x == == 1\n}\n"
    answer = requests.put(url, data=source, headers=_auth(opa_token), timeout=5)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["message"]) == (
        "invalid_parameter",
        "error(s) occurred while compiling module(s)",
    )
    [error] = body["errors"]
    assert (error["code"], error["message"]) == ("rego_parse_error", "unexpected equal token")
    assert error["location"] == {"file": "mlgate_protocol_test/bad.rego", "row": 4, "col": 13}


def test_policy_delete_that_breaks_the_set_is_opas_400(
    fresh_opa_url: str, opa_token: str | None
) -> None:
    base = f"{fresh_opa_url}/v1/policies/mlgate_protocol_test"
    for name, source in (("callee.rego", CALLEE), ("caller.rego", CALLER)):
        put = requests.put(f"{base}/{name}", data=source, headers=_auth(opa_token), timeout=5)
        assert put.status_code == 200, put.text
    answer = requests.delete(f"{base}/callee.rego", headers=_auth(opa_token), timeout=5)
    assert answer.status_code == 400
    body = answer.json()
    assert (body["code"], body["errors"][0]["code"]) == ("invalid_operation", "rego_type_error")
    for name in ("caller.rego", "callee.rego"):  # in this order, the set stays whole
        assert requests.delete(f"{base}/{name}", headers=_auth(opa_token), timeout=5).ok
    gone = requests.delete(f"{base}/callee.rego", headers=_auth(opa_token), timeout=5)
    assert (gone.status_code, gone.json()["code"]) == (404, "resource_not_found")


def test_data_api_evaluation_error_is_opas_500(fresh_opa_url: str, opa_token: str | None) -> None:
    url = f"{fresh_opa_url}/v1/policies/mlgate_protocol_test/conflict.rego"
    source = "package mlgate_protocol_test.conflict\n\nx := v if {\n\tsome v in [1, 2]\n}\n"
    assert requests.put(url, data=source, headers=_auth(opa_token), timeout=5).ok
    try:
        answer = requests.post(
            f"{fresh_opa_url}/v1/data/mlgate_protocol_test/conflict/x",
            json={"input": {}},
            headers=_auth(opa_token),
            timeout=5,
        )
    finally:
        requests.delete(url, headers=_auth(opa_token), timeout=5)
    assert answer.status_code == 500
    body = answer.json()
    assert (body["code"], body["message"]) == (
        "internal_error",
        "error(s) occurred while evaluating query",
    )
    [error] = body["errors"]
    assert error["code"] == "eval_conflict_error"
    assert error["message"] == "complete rules must not produce multiple outputs"
    assert (error["location"]["file"], error["location"]["row"]) == (
        "mlgate_protocol_test/conflict.rego",
        3,
    )


# --------------------------------------------------------------------------- revision


def test_revision_is_the_bundle_revision_opa_reports(opa_server: OpaTestServer) -> None:
    opa_server.revision = "bundle-rev-42"
    with OpaEngine(opa_server.url) as eng:
        assert eng.revision() == "bundle-rev-42"  # asked before any decision
        eng.evaluate(example("allowed"))
        assert eng.revision() == "bundle-rev-42"  # carried by the decision's own answer
    decision_request = opa_server.requests[-1]
    assert decision_request.query == {"provenance": ["true"]}


def test_revision_is_empty_without_a_bundle(server_engine: OpaEngine) -> None:
    assert server_engine.revision() == ""
    server_engine.evaluate(example("allowed"))
    assert server_engine.revision() == ""


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
# Facts about OPA's REST API the test server relies on; against a real OPA they check
# its claims.


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
