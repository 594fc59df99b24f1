"""Fixtures: an OPA server for the ``opa`` engine.

``opa_url`` is a real OPA when ``MLGATE_TEST_OPA_URL`` names one (the bundled policies
are pushed to it first, so a plain ``opa run --server`` will do; a bearer token, if the
server wants one, comes from ``MLGATE_TEST_OPA_TOKEN``). Otherwise it is the OPA REST
test server (tests/opa_testserver.py) loaded with the bundled policies: our HTTP layer,
OPA's own Go library compiling and deciding behind it.

``opa_server`` is a fresh test server per test, for tests that misconfigure it (status
codes, delays, undefined documents) to test our error handling; a real OPA cannot be
told to produce those, so these tests skip when ``MLGATE_TEST_OPA_URL`` is set.

Without OPA's Go library (``opa-golib-python-bindings``, installed by ``make test`` and
``.ci/run``), every test needing an OPA server skips, saying so (fails, in .ci/run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mlgate.engine import golib
from mlgate.policy import PolicySet, load_policy_dir
from opa_testserver import OpaTestServer

REAL_OPA_ENV = "MLGATE_TEST_OPA_URL"
REAL_OPA_TOKEN_ENV = "MLGATE_TEST_OPA_TOKEN"
REQUIRE_OPA_GOLIB_ENV = "MLGATE_TEST_REQUIRE_OPA_GOLIB"


def real_opa_url() -> str | None:
    return os.environ.get(REAL_OPA_ENV) or None


def require_opa_golib() -> None:
    """Skip the calling test when OPA's Go library is not importable here; fail it
    instead under ``MLGATE_TEST_REQUIRE_OPA_GOLIB=1`` (.ci/run), where it must be."""
    reason = golib.unavailable_reason()
    if reason and os.environ.get(REQUIRE_OPA_GOLIB_ENV) == "1":
        pytest.fail(f"{REQUIRE_OPA_GOLIB_ENV}=1 but {reason}")
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def bundled_policy_set() -> PolicySet:
    """The bundled policies, read once per session."""
    return load_policy_dir()


@pytest.fixture(scope="session")
def opa_url(bundled_policy_set: PolicySet) -> Iterator[str]:
    """URL of an OPA server holding the bundled policies (real OPA, or the test server)."""
    real = real_opa_url()
    if real:
        from mlgate.engine.opa import push_policies

        push_policies(real, bundled_policy_set, token=os.environ.get(REAL_OPA_TOKEN_ENV))
        yield real
        return
    require_opa_golib()
    with OpaTestServer(bundled_policy_set) as server:
        yield server.url


@pytest.fixture(scope="session")
def opa_token() -> str | None:
    """The bearer token for ``opa_url`` (only a real OPA may want one)."""
    return os.environ.get(REAL_OPA_TOKEN_ENV) if real_opa_url() else None


@pytest.fixture
def opa_server(bundled_policy_set: PolicySet) -> Iterator[OpaTestServer]:
    """A fresh test server with the bundled policies, to misconfigure through its knobs."""
    if real_opa_url():
        pytest.skip(f"{REAL_OPA_ENV} is set: a real OPA cannot be told to misbehave")
    require_opa_golib()
    with OpaTestServer(bundled_policy_set) as server:
        yield server


@pytest.fixture
def opa_double(opa_server: OpaTestServer) -> OpaTestServer:
    """The former name of ``opa_server``, kept for tests written before the rename."""
    return opa_server
