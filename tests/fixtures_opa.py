"""Fixtures: an OPA server for the ``opa`` engine.

``opa_url`` is a real OPA when ``MLGATE_TEST_OPA_URL`` names one (the bundled policies
are pushed to it first, so a plain ``opa run --server`` will do; a bearer token, if the
server wants one, comes from ``MLGATE_TEST_OPA_TOKEN``). Otherwise it is the OPA REST API
protocol double (tests/opa_double.py) loaded with the bundled policies: no OPA binary
can be installed on this machine.

``opa_double`` is a fresh double per test, for tests that misconfigure the server
(status codes, delays, undefined documents) to test our error handling; a real OPA
cannot be told to produce those, so these tests skip when ``MLGATE_TEST_OPA_URL`` is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mlgate.policy import PolicySet, load_policy_dir
from opa_double import OpaDouble

REAL_OPA_ENV = "MLGATE_TEST_OPA_URL"
REAL_OPA_TOKEN_ENV = "MLGATE_TEST_OPA_TOKEN"


def real_opa_url() -> str | None:
    return os.environ.get(REAL_OPA_ENV) or None


@pytest.fixture(scope="session")
def bundled_policy_set() -> PolicySet:
    """The bundled policies, read once per session."""
    return load_policy_dir()


@pytest.fixture(scope="session")
def opa_url(bundled_policy_set: PolicySet) -> Iterator[str]:
    """URL of an OPA server holding the bundled policies (real OPA, or the double)."""
    real = real_opa_url()
    if real:
        from mlgate.engine.opa import push_policies

        push_policies(real, bundled_policy_set, token=os.environ.get(REAL_OPA_TOKEN_ENV))
        yield real
        return
    with OpaDouble(bundled_policy_set) as double:
        yield double.url


@pytest.fixture(scope="session")
def opa_token() -> str | None:
    """The bearer token for ``opa_url`` (only a real OPA may want one)."""
    return os.environ.get(REAL_OPA_TOKEN_ENV) if real_opa_url() else None


@pytest.fixture
def opa_double(bundled_policy_set: PolicySet) -> Iterator[OpaDouble]:
    """A fresh double with the bundled policies, to misconfigure through its knobs."""
    if real_opa_url():
        pytest.skip(f"{REAL_OPA_ENV} is set: a real OPA cannot be told to misbehave")
    with OpaDouble(bundled_policy_set) as double:
        yield double
