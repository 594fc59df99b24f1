"""The decision log's hash chain on sqlite, PostgreSQL and MariaDB: a clean log verifies;
a row edited, deleted, inserted or reordered behind mlgate's back makes ``mlgate log
verify`` exit 1 naming that row; any single-field edit to any row is found."""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from helpers import decide
from mlgate.cli import app
from mlgate.decisionlog import DecisionLog, DecisionLogError
from mlgate.logchain import CHAIN_FIELDS, GENESIS, row_sha256
from mlgate.logtable import TABLE_NAME, chain_table, decisions_table
from test_decisionlog import log_url  # noqa: F401 - the fixture, shared

ROWS = 5


@pytest.fixture
def url(log_url: str) -> str:  # noqa: F811 - log_url is the imported fixture
    """A fresh database on each backend, with no decision log in it yet."""
    return log_url


def _fill(url: str, count: int = ROWS) -> None:
    with DecisionLog(url) as log:
        for i in range(count):
            decision, gate_input = decide("blocked" if i % 2 else "allowed")
            log.append(decision, gate_input, actor=f"user{i}", source="cli")


@pytest.fixture
def filled(url: str) -> Iterator[str]:
    _fill(url)
    yield url


def _verify(url: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["log", "verify", "--decision-log", url])
    return result.exit_code, result.output


def _rows(conn: sa.Connection) -> list[dict[str, Any]]:
    t = decisions_table
    return [dict(r) for r in conn.execute(sa.select(t).order_by(t.c.id)).mappings()]


def _tamper(url: str, *statements: Any) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()


def _update(row_id: int, **values: Any) -> Any:
    t = decisions_table
    return t.update().where(t.c.id == row_id).values(**values)


def _decision_id(url: str, row_id: int) -> str:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            t = decisions_table
            return str(conn.execute(sa.select(t.c.decision_id).where(t.c.id == row_id)).scalar())
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- clean


def test_a_clean_log_verifies_and_names_its_head(filled: str) -> None:
    code, out = _verify(filled)
    assert code == 0, out
    engine = sa.create_engine(filled)
    with engine.connect() as conn:
        rows = _rows(conn)
        head = conn.execute(sa.select(chain_table)).mappings().one()
    engine.dispose()
    assert rows[0]["prev_sha256"] == GENESIS
    for before, row in zip(rows, rows[1:], strict=False):
        assert row["prev_sha256"] == before["row_sha256"] == row_sha256(before)
    assert out == f"ok: {ROWS} rows, chain intact, head {rows[-1]['row_sha256']}\n"
    assert (head["last_id"], head["head_sha256"], head["rows"]) == (
        rows[-1]["id"], rows[-1]["row_sha256"], ROWS)


def test_concurrent_writers_keep_one_chain(url: str) -> None:
    DecisionLog(url).close()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _fill(url, 4)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    code, out = _verify(url)
    assert code == 0, out
    assert out.startswith("ok: 16 rows, chain intact")
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = _rows(conn)
    engine.dispose()
    # Each append landed once: 16 distinct decisions, each writer's four actors four times.
    assert len({r["decision_id"] for r in rows}) == 16
    assert sorted(r["actor"] for r in rows) == sorted([f"user{i}" for i in range(4)] * 4)


# --------------------------------------------------------------------------- tampering


def test_an_edited_field_names_the_row(filled: str) -> None:
    _tamper(filled, _update(3, actor="someone-else"))
    code, out = _verify(filled)
    assert code == 1
    assert f"row 3 (decision {_decision_id(filled, 3)}): edited" in out


def test_an_edited_and_rehashed_row_breaks_the_next_link(filled: str) -> None:
    engine = sa.create_engine(filled)
    with engine.connect() as conn:
        row = _rows(conn)[2]
    engine.dispose()
    row["actor"] = "someone-else"
    _tamper(filled, _update(3, actor="someone-else", row_sha256=row_sha256(row)))
    code, out = _verify(filled)
    assert code == 1
    assert "row 4 " in out and "matches no row" in out


def test_a_deleted_row_names_the_row_after_the_gap(filled: str) -> None:
    _tamper(filled, decisions_table.delete().where(decisions_table.c.id == 3))
    code, out = _verify(filled)
    assert code == 1
    assert f"row 4 (decision {_decision_id(filled, 4)})" in out
    assert "deleted (ids 3-3 are missing)" in out


def test_deleting_the_last_row_is_found(filled: str) -> None:
    _tamper(filled, decisions_table.delete().where(decisions_table.c.id == ROWS))
    code, out = _verify(filled)
    assert code == 1
    assert f"row {ROWS}: the log ends at row {ROWS - 1}" in out and "deleted" in out


def _forged(url: str, like: int, row_id: int, prev: str) -> dict[str, Any]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = _rows(conn)[like - 1]
    engine.dispose()
    row.update(id=row_id, decision_id=f"forged-{row_id}", actor="mallory", prev_sha256=prev)
    row["row_sha256"] = row_sha256(row)
    return row


def test_a_forged_row_at_the_end_is_found_even_with_good_hashes(filled: str) -> None:
    engine = sa.create_engine(filled)
    with engine.connect() as conn:
        last = _rows(conn)[-1]["row_sha256"]
    engine.dispose()
    forged = _forged(filled, 2, ROWS + 1, last)
    _tamper(filled, decisions_table.insert().values(**forged))
    code, out = _verify(filled)
    assert code == 1
    assert f"row {ROWS + 1} (decision forged-{ROWS + 1}): comes after the last row" in out


def test_a_forged_row_inserted_mid_chain_is_named(filled: str) -> None:
    """Rows 3.. renumbered and rehashed, a forged row 3 linked to row 2."""
    engine = sa.create_engine(filled)
    with engine.connect() as conn:
        rows = _rows(conn)
    engine.dispose()
    statements: list[Any] = []
    for row in reversed(rows[2:]):
        moved = {**row, "id": row["id"] + 1}
        moved["row_sha256"] = row_sha256(moved)
        statements.append(decisions_table.delete().where(decisions_table.c.id == row["id"]))
        statements.append(decisions_table.insert().values(**moved))
    statements.append(decisions_table.insert().values(**_forged_from(rows[1], 3)))
    _tamper(filled, *statements)
    code, out = _verify(filled)
    assert code == 1
    assert "row 3: stands between row 2 and row 4, which link to each other: inserted" in out, out


def _forged_from(before: dict[str, Any], row_id: int) -> dict[str, Any]:
    row = {**before, "id": row_id, "decision_id": f"forged-{row_id}",
           "prev_sha256": before["row_sha256"], "actor": "mallory"}
    row["row_sha256"] = row_sha256(row)
    return row


def test_two_rows_swapped_are_named_as_reordered(filled: str) -> None:
    _tamper(filled, _update(2, id=100), _update(4, id=2), _update(100, id=4))
    code, out = _verify(filled)
    assert code == 1
    assert "row 2 " in out and "holds the entry appended as row 4: rows reordered" in out


def test_a_cleared_chain_hash_is_an_edit(filled: str) -> None:
    _tamper(filled, _update(2, prev_sha256=None))
    code, out = _verify(filled)
    assert code == 1 and "row 2 " in out and "is empty" in out


def test_a_missing_head_is_found_and_appends_refuse(filled: str) -> None:
    _tamper(filled, chain_table.delete())
    code, out = _verify(filled)
    assert code == 1 and "chain head" in out and "missing" in out
    decision, gate_input = decide("allowed")
    with DecisionLog(filled) as log, pytest.raises(DecisionLogError, match="chain head"):
        log.append(decision, gate_input, actor="a", source="cli")


def test_a_rewritten_head_is_found(filled: str) -> None:
    _tamper(filled, chain_table.update().values(rows=ROWS + 1))
    code, out = _verify(filled)
    assert code == 1 and "rewritten" in out


# --------------------------------------------------------------------------- migration


def test_a_log_from_before_the_chain_gets_it_on_open(url: str) -> None:
    old = sa.MetaData()
    legacy = sa.Table(TABLE_NAME, old, *(
        sa.Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in decisions_table.columns if c.name not in ("prev_sha256", "row_sha256")
    ))
    engine = sa.create_engine(url)
    old.create_all(engine)
    with engine.begin() as conn:  # three rows written by an mlgate without the chain
        for i in range(3):
            conn.execute(legacy.insert().values(
                decision_id=f"old-{i}", model="m", version="1",
                target="production", allowed=True, enforcement="deny", in_scope=True,
                failing_codes="", decision="{}", gate_input="{}", input_sha256="x",
                policy_revision="r", engine="embedded", actor="a", source="cli",
                created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)))
    engine.dispose()
    _fill(url, 2)
    code, out = _verify(url)
    assert code == 0, out
    assert out.startswith("ok: 2 rows, chain intact")
    assert "rows 1-3 predate the chain (3 rows, not covered)" in out
    _tamper(url, _update(5, prev_sha256=None))  # a chained row cannot pass as an old one
    code, out = _verify(url)
    assert code == 1 and "row 5 " in out


# --------------------------------------------------------------------------- errors


def test_verify_through_a_server_is_refused_with_a_reason() -> None:
    result = CliRunner().invoke(app, ["log", "verify", "--tracking-uri", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "pass --decision-log URL" in result.output


def test_verify_of_a_missing_or_unreadable_log_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["log", "verify", "--tracking-uri",
                                      f"sqlite:///{tmp_path / 'mlruns.db'}"])
    assert result.exit_code == 2 and "no decision log" in result.output
    result = CliRunner().invoke(app, ["log", "verify", "--decision-log", "not a url"])
    assert result.exit_code == 2


def test_an_unknown_log_action_exits_2() -> None:
    result = CliRunner().invoke(app, ["log", "erase"])
    assert result.exit_code == 2 and "expected no argument or 'verify'" in result.output


# --------------------------------------------------------------------------- property


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("chain") / "template.db"
    _fill(f"sqlite:///{path}")
    return path


_EDITABLE = (*CHAIN_FIELDS, "row_sha256")


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row_id=st.integers(1, ROWS), field=st.sampled_from(_EDITABLE), data=st.data())
def test_any_single_field_edit_is_found(
    template: Path, tmp_path: Path, row_id: int, field: str, data: st.DataObject
) -> None:
    path = tmp_path / f"edit-{row_id}-{field}.db"
    shutil.copy(template, path)
    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        old = _rows(conn)[row_id - 1][field]
    engine.dispose()
    if field in ("allowed",):
        new: Any = not old
    elif field == "in_scope":
        new = data.draw(st.sampled_from([v for v in (None, True, False) if v is not old]))
    elif field == "id":
        new = data.draw(st.integers(-10, 1000).filter(lambda v: not 1 <= v <= ROWS))
    elif field == "created_at":
        new = old + data.draw(st.timedeltas(timedelta(microseconds=1), timedelta(days=9)))
    else:
        new = data.draw(st.text(max_size=70).filter(lambda v: v != old))
    assume(new != old)
    _tamper(url, _update(row_id, **{field: new}))
    code, out = _verify(url)
    path.unlink()
    assert code == 1, out
    if field != "id":  # a moved id shows where the order breaks instead
        assert re.search(rf"row {row_id}[ :]", out), out


# --------------------------------------------------------------------------- signatures


def _keys(tmp_path: Path) -> tuple[Path, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "log.key", tmp_path / "log.pub"
    private.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    public.write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo,
    ))
    return private, public


def _rewrite_from(url: str, row_id: int, **values: Any) -> None:
    """An attacker with database access: edit a row, recompute every hash after it and
    the head, so the chain alone verifies."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = _rows(conn)
    engine.dispose()
    statements: list[Any] = []
    prev = GENESIS
    for row in rows:
        if row["id"] == row_id:
            row.update(values)
        row["prev_sha256"] = prev
        row["row_sha256"] = prev = row_sha256(row)
        statements.append(_update(row["id"], **{k: v for k, v in row.items() if k != "id"}))
    statements.append(chain_table.update().values(head_sha256=prev))
    _tamper(url, *statements)


def test_a_signed_log_finds_a_rewritten_chain(
    filled_signed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = _verify(filled_signed)
    assert code == 0, out
    _rewrite_from(filled_signed, 3, actor="mallory")
    code, out = _verify(filled_signed)
    assert code == 1
    assert "row 3 " in out and "signature does not verify" in out
    # Only the public key on the verifying side.
    _, public = _keys(tmp_path)  # another key: even the untouched row 1 fails
    monkeypatch.delenv("MLGATE_LOG_SIGNING_KEY")
    monkeypatch.setenv("MLGATE_LOG_VERIFY_KEY", str(public))
    code, out = _verify(filled_signed)
    assert code == 1 and "row 1 " in out and "signature" in out
    # Without a key the rewritten chain verifies: the limit the README states.
    monkeypatch.delenv("MLGATE_LOG_VERIFY_KEY")
    code, out = _verify(filled_signed)
    assert code == 0, out


@pytest.fixture
def filled_signed(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    private, _ = _keys(tmp_path)
    monkeypatch.setenv("MLGATE_LOG_SIGNING_KEY", str(private))
    _fill(url)
    return url


def test_the_public_key_alone_verifies_and_unsigned_rows_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    private, public = _keys(tmp_path)
    monkeypatch.setenv("MLGATE_LOG_SIGNING_KEY", str(private))
    _fill(url, 2)
    monkeypatch.delenv("MLGATE_LOG_SIGNING_KEY")
    monkeypatch.setenv("MLGATE_LOG_VERIFY_KEY", str(public))
    code, out = _verify(url)
    assert code == 0, out
    _fill(url, 1)  # appended without the signing key
    code, out = _verify(url)
    assert code == 1 and "row 3 " in out and "signature does not verify" in out


def test_a_bad_key_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    _fill(url, 1)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key\n")
    monkeypatch.setenv("MLGATE_LOG_VERIFY_KEY", str(bad))
    result = CliRunner().invoke(app, ["log", "verify", "--decision-log", url])
    assert result.exit_code == 2 and "MLGATE_LOG_VERIFY_KEY" in result.output
    monkeypatch.setenv("MLGATE_LOG_SIGNING_KEY", str(tmp_path / "missing.pem"))
    result = CliRunner().invoke(app, ["log", "verify", "--decision-log", url])
    assert result.exit_code == 2 and "cannot read" in result.output
