"""Fixtures: the machine's PostgreSQL and MariaDB.

``MLGATE_TEST_POSTGRES_URL`` and ``MLGATE_TEST_MYSQL_URL`` name them (``.ci/run`` exports
both). Unset, the servers on their default ports are used when they answer:
``postgresql+psycopg2://postgres@127.0.0.1:5432/test`` (trust authentication) and
``mysql+pymysql://root@127.0.0.1:3306/test`` (root without a password). A database that
cannot be used skips its tests with the real reason (nothing listening, a refused login,
a missing driver); a URL given in the variable that does not work fails them instead,
since someone asked for that database.
"""

from __future__ import annotations

import os
from functools import cache

import pytest

DATABASES: dict[str, tuple[str, str, str]] = {
    # fixture: (variable, default URL, what)
    "postgres": (
        "MLGATE_TEST_POSTGRES_URL",
        "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
        "PostgreSQL",
    ),
    "mysql": ("MLGATE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test", "MariaDB"),
}
CONNECT_TIMEOUT = 3


@cache
def unusable(url: str) -> str:
    """Why ``url`` cannot be used ("" when a connection works), in one line."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    except Exception as exc:  # noqa: BLE001 - e.g. the driver is not installed
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    try:
        with engine.connect():
            return ""
    except Exception as exc:  # noqa: BLE001 - refused, no such host, bad login
        reason = getattr(exc, "orig", None) or exc
        return " ".join(str(reason).split())[:200] or type(exc).__name__
    finally:
        engine.dispose()


def database_url(name: str) -> str:
    """The URL for fixture ``name``, or skip/fail as the module doc says."""
    variable, default, what = DATABASES[name]
    given = os.environ.get(variable, "").strip()
    reason = unusable(given or default)
    if not reason:
        return given or default
    if given:
        pytest.fail(f"{variable}={given}: {what} cannot be used: {reason}")
    pytest.skip(
        f"no usable {what} at {default} ({reason}); start one there or set {variable}"
    )


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return database_url("postgres")


@pytest.fixture(scope="session")
def mysql_url() -> str:
    return database_url("mysql")
