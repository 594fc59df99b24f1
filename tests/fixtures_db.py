"""Fixtures: the machine's PostgreSQL and MariaDB, named by environment variables.

``.ci/run`` exports ``MLGATE_TEST_POSTGRES_URL`` and ``MLGATE_TEST_MYSQL_URL``; where they
are unset (a laptop) the database-specific tests skip with a one-line reason.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def postgres_url() -> str:
    url = os.environ.get("MLGATE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MLGATE_TEST_POSTGRES_URL is not set (no PostgreSQL on this machine)")
    return url


@pytest.fixture(scope="session")
def mysql_url() -> str:
    url = os.environ.get("MLGATE_TEST_MYSQL_URL")
    if not url:
        pytest.skip("MLGATE_TEST_MYSQL_URL is not set (no MariaDB on this machine)")
    return url
