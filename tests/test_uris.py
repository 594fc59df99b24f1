"""mlgate.uris: the ``mlgate+`` prefix, sqlite paths and password masks, in one place.

The oracles are written from the contract: a URI's user information is RFC 3986's
``userinfo`` (``user[:password]``, no ``/ ? # @``), and a masked URI shows the user name
and ``***`` where the password was, never the password.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.uris import (
    BACKENDS,
    MASK,
    PREFIX,
    backend_of,
    mask_password,
    sqlite_path,
    strip_prefix,
)

# RFC 3986 userinfo characters other than ':' (unreserved, sub-delims, pct-encoded).
_USERINFO = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%",
    max_size=12,
)
_HOSTS = st.sampled_from(["db", "127.0.0.1:5432", "[::1]:3306", "Mlflow.Example:5000", ""])
_TAILS = st.sampled_from(["", "/", "/db", "/db?sslmode=require", "/x#frag", "/a@b", "?q=1"])
_SCHEMES = st.sampled_from(["postgresql", "mysql+pymysql", "https", "mlgate+postgresql",
                            "nosuchdb", "mssql+pyodbc"])


@pytest.mark.parametrize(
    ("uri", "masked"),
    [
        ("https://alice:s3cret@mlflow.example:5000/x", "https://alice:***@mlflow.example:5000/x"),
        ("postgresql://gate:pw@127.0.0.1:1/log", "postgresql://gate:***@127.0.0.1:1/log"),
        ("postgresql://u:p@ss@host/db", "postgresql://u:***@host/db"),  # '@' in a password
        ("postgresql://u:@host/db", "postgresql://u:***@host/db"),  # an empty one
        ("postgresql://u:a:b@host/db", "postgresql://u:***@host/db"),  # ':' in it
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("http://host/path@x", "http://host/path@x"),  # '@' outside the authority
        ("postgresql://user@host/db", "postgresql://user@host/db"),  # no password
        ("sqlite:///mlruns.db", "sqlite:///mlruns.db"),
        ("not a uri", "not a uri"),
        ("postgresql://u:pw@[::1", "postgresql://u:***@[::1"),  # no parser accepts it
    ],
)
def test_mask_password_examples(uri: str, masked: str) -> None:
    assert mask_password(uri) == masked


@given(_SCHEMES, _USERINFO, _USERINFO, _USERINFO, _HOSTS, _TAILS)
def test_masking_never_shows_the_password(
    scheme: str, user: str, password: str, more: str, host: str, tail: str
) -> None:
    secret = f"{password}:{more}" if more else password  # a ':' in a password too
    uri = f"{scheme}://{user}:{secret}@{host}{tail}"
    assert mask_password(uri) == f"{scheme}://{user}:{MASK}@{host}{tail}"


@given(_SCHEMES, _USERINFO, _HOSTS, _TAILS)
def test_masking_leaves_a_uri_without_a_password_alone(
    scheme: str, user: str, host: str, tail: str
) -> None:
    plain = f"{scheme}://{host}{tail}"
    assert mask_password(plain) == plain
    named = f"{scheme}://{user}@{host}{tail}"
    assert mask_password(named) == named


@given(_SCHEMES, _USERINFO, _USERINFO, _HOSTS, _TAILS)
def test_masking_is_idempotent(
    scheme: str, user: str, password: str, host: str, tail: str
) -> None:
    once = mask_password(f"{scheme}://{user}:{password}@{host}{tail}")
    assert mask_password(once) == once


_NOT_PREFIXED = st.text(max_size=40).filter(lambda s: not s.startswith(PREFIX))


@given(_NOT_PREFIXED)
def test_stripping_the_prefix_round_trips(uri: str) -> None:
    assert strip_prefix(PREFIX + uri) == uri
    assert strip_prefix(uri) == uri  # nothing to strip
    assert strip_prefix(strip_prefix(PREFIX + uri)) == strip_prefix(PREFIX + uri)


@given(st.sampled_from(BACKENDS), st.sampled_from(["", "+driver"]), st.text(max_size=30))
def test_the_backend_is_read_through_the_prefix(backend: str, driver: str, rest: str) -> None:
    uri = f"{backend}{driver}://{rest}"
    assert backend_of(uri) == backend
    assert backend_of(PREFIX + uri) == backend
    assert backend_of(uri.upper()) == backend


@pytest.mark.parametrize(
    ("uri", "path"),
    [
        ("sqlite:///mlruns.db", "mlruns.db"),
        ("sqlite:////abs/dir/mlruns.db", "/abs/dir/mlruns.db"),
        ("mlgate+sqlite:///mlruns.db", "mlruns.db"),
        ("  sqlite:///x.db?timeout=5  ", "x.db"),
        ("sqlite+pysqlite:///x.db", "x.db"),
        ("SQLITE:///x.db", "x.db"),
        ("sqlite:///:memory:", None),
        ("sqlite://", None),
        ("sqlite:///", None),
        ("postgresql://u@h/db", None),
        ("mlruns.db", None),
        ("file:///tmp/mlruns", None),
    ],
)
def test_sqlite_path(uri: str, path: str | None) -> None:
    assert sqlite_path(uri) == path


@given(st.text(alphabet="abcxyz_-./0123456789", min_size=1, max_size=30)
       .filter(lambda p: p != ":memory:"))
def test_sqlite_path_round_trips(path: str) -> None:
    assert sqlite_path(f"sqlite:///{path}") == path
    assert sqlite_path(f"{PREFIX}sqlite:///{path}") == path


def test_the_local_log_and_a_servers_record_are_both_decision_records(tmp_path: Path) -> None:
    """Callers (log, audit, promote) take either through one protocol, not a union."""
    from mlgate.decisionlog import DecisionLog
    from mlgate.logentry import DecisionRecord
    from mlgate.serverrecord import ServerRecord, open_record

    with DecisionLog(f"sqlite:///{tmp_path / 'log.db'}") as log:
        assert isinstance(log, DecisionRecord)
        assert log.entries() == []
    assert isinstance(ServerRecord("http://127.0.0.1:1"), DecisionRecord)
    with open_record(f"sqlite:///{tmp_path / 'other.db'}", None) as record:
        assert isinstance(record, DecisionRecord)
    assert not isinstance(object(), DecisionRecord)
