"""The append-only decision log on sqlite, PostgreSQL and MariaDB.

PostgreSQL and MariaDB runs each get a fresh schema / database that is dropped at the end,
so nothing is left behind and concurrent test runs never see each other's rows.
"""

from __future__ import annotations

import getpass
import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from helpers import decide
from mlgate.decisionlog import (
    DecisionLog,
    DecisionLogError,
    LogEntry,
    current_actor,
    default_log_url,
)
from mlgate.jsondoc import canonical
from mlgate.logtable import decisions_table
from mlgate.models import Decision, GateInput

BACKENDS = ["sqlite", "postgresql", "mysql"]  # as fixtures_server.BACKENDS


# --------------------------------------------------------------------------- helpers


def _fresh_postgres(base: str) -> Iterator[str]:
    schema = f"mlgate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _fresh_mysql(base: str) -> Iterator[str]:
    database = f"mlgate_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        yield sa.engine.make_url(base).set(database=database).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f"DROP DATABASE `{database}`"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def log_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A database URL with no decision log table in it yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'decisions.db'}"
    elif request.param == "postgresql":
        yield from _fresh_postgres(request.getfixturevalue("postgres_url"))
    elif request.param == "mysql":
        yield from _fresh_mysql(request.getfixturevalue("mysql_url"))
    else:  # a new backend name must get its own branch, not fall into another's
        raise AssertionError(f"no database for backend {request.param!r}")


@pytest.fixture
def open_log(log_url: str) -> Iterator[Callable[[], DecisionLog]]:
    """Open logs on ``log_url``; all are closed before the database is dropped."""
    opened: list[DecisionLog] = []

    def _open() -> DecisionLog:
        log = DecisionLog(log_url)
        opened.append(log)
        return log

    yield _open
    for log in opened:
        log.close()


def _ids(entries: list[LogEntry]) -> list[str]:
    return [e.decision_id for e in entries]


# --------------------------------------------------------------------------- round trip


def test_append_round_trips_the_decision_and_the_input(
    open_log: Callable[[], DecisionLog],
) -> None:
    decision, gate_input = decide("blocked", tags={"note": "面向公众的生成式人工智能服务"})
    log = open_log()
    before = datetime.now(UTC)
    log.append(decision, gate_input, actor="alice", source="server")
    after = datetime.now(UTC)

    [entry] = log.entries()
    assert entry.decision == decision
    assert entry.gate_input == gate_input.model_dump(mode="json")
    assert GateInput.model_validate(entry.gate_input) == gate_input
    # The stored input is the one whose digest the decision carries: it can be replayed.
    assert hashlib.sha256(canonical(entry.gate_input)).hexdigest() == entry.input_sha256
    assert entry.input_sha256 == decision.input_sha256
    assert (entry.decision_id, entry.model, entry.version, entry.target) == (
        decision.decision_id,
        "image-generator",
        "3",
        "production",
    )
    assert (entry.allowed, entry.enforcement, entry.in_scope) == (False, "deny", True)
    assert entry.failing_codes == ["filing.not_completed", "labeling.implicit_disabled"]
    assert (entry.policy_revision, entry.engine) == (decision.policy_revision, "embedded")
    assert (entry.actor, entry.source) == ("alice", "server")
    assert entry.created_at.tzinfo is not None
    assert entry.created_at.utcoffset() == timedelta(0)
    assert before <= entry.created_at <= after


def test_a_large_gate_input_round_trips(open_log: Callable[[], DecisionLog]) -> None:
    # Bigger than MySQL's 64 KiB TEXT: a real manifest can be.
    decision, gate_input = decide("allowed", tags={"big": "数据" * 60_000})
    log = open_log()
    log.append(decision, gate_input, actor="bob", source="cli")
    [entry] = log.entries()
    assert GateInput.model_validate(entry.gate_input) == gate_input
    assert entry.decision == decision


def test_a_warn_decision_is_allowed_with_its_failing_codes(
    open_log: Callable[[], DecisionLog],
) -> None:
    decision, gate_input = decide("blocked", target="staging")
    log = open_log()
    log.append(decision, gate_input, actor="carol", source="cli")
    [entry] = log.entries()
    assert (entry.allowed, entry.enforcement) == (True, "warn")
    assert entry.failing_codes == ["filing.not_completed", "labeling.implicit_disabled"]
    assert log.entries(blocked_only=True) == []


def test_an_allowed_decision_has_no_failing_codes(open_log: Callable[[], DecisionLog]) -> None:
    decision, gate_input = decide("allowed")
    log = open_log()
    log.append(decision, gate_input, actor="bob", source="audit")
    [entry] = log.entries()
    assert (entry.allowed, entry.failing_codes, entry.source) == (True, [], "audit")


def test_a_reopened_log_keeps_its_entries(open_log: Callable[[], DecisionLog]) -> None:
    decision, gate_input = decide("allowed")
    open_log().append(decision, gate_input, actor="bob", source="cli")
    assert _ids(open_log().entries()) == [decision.decision_id]


# --------------------------------------------------------------------------- reading


def _append_four(log: DecisionLog) -> dict[str, Decision]:
    """Appended in this order: a1 (allowed), b1 (blocked), a2 (allowed), b2 (blocked)."""
    made = {
        "a1": decide("allowed", model="chatbot", version="1"),
        "b1": decide("blocked", model="imagegen", version="1"),
        "a2": decide("allowed", model="imagegen", version="2"),
        "b2": decide("blocked", model="chatbot", version="2"),
    }
    for decision, gate_input in made.values():
        log.append(decision, gate_input, actor="alice", source="cli")
    return {name: d for name, (d, _) in made.items()}


def test_entries_come_blocked_first_then_newest_first(
    open_log: Callable[[], DecisionLog],
) -> None:
    log = open_log()
    d = _append_four(log)
    expected = [d["b2"].decision_id, d["b1"].decision_id, d["a2"].decision_id,
                d["a1"].decision_id]
    assert _ids(log.entries()) == expected
    assert _ids(log.entries(limit=3)) == expected[:3]


def test_entries_filter_by_model_blocked_and_since(open_log: Callable[[], DecisionLog]) -> None:
    log = open_log()
    d = _append_four(log)
    assert _ids(log.entries(blocked_only=True)) == [d["b2"].decision_id, d["b1"].decision_id]
    assert _ids(log.entries(model="chatbot")) == [d["b2"].decision_id, d["a1"].decision_id]
    assert _ids(log.entries(model="chatbot", blocked_only=True)) == [d["b2"].decision_id]
    assert log.entries(model="no-such-model") == []

    created = {e.decision_id: e.created_at for e in log.entries()}
    since = created[d["a2"].decision_id]  # inclusive: a2 and the later b2
    assert _ids(log.entries(since=since)) == [d["b2"].decision_id, d["a2"].decision_id]
    # A naive datetime is taken as UTC.
    naive = since.replace(tzinfo=None)
    assert _ids(log.entries(since=naive)) == [d["b2"].decision_id, d["a2"].decision_id]
    # The same instant in another zone selects the same rows.
    shifted = since.astimezone(datetime.now().astimezone().tzinfo)
    assert _ids(log.entries(since=shifted, blocked_only=True)) == [d["b2"].decision_id]
    assert log.entries(since=datetime.now(UTC) + timedelta(days=1)) == []


def test_model_filter_is_exact(open_log: Callable[[], DecisionLog]) -> None:
    log = open_log()
    decision, gate_input = decide("allowed", model="Chatbot")
    log.append(decision, gate_input, actor="bob", source="cli")
    assert log.entries(model="chatbot") == []
    assert _ids(log.entries(model="Chatbot")) == [decision.decision_id]


def test_limit_must_be_positive(open_log: Callable[[], DecisionLog]) -> None:
    with pytest.raises(DecisionLogError, match="limit must be at least 1"):
        open_log().entries(limit=0)


def test_last_allowed_is_the_newest_allowed_decision_for_that_target(
    open_log: Callable[[], DecisionLog],
) -> None:
    log = open_log()
    assert log.last_allowed("chatbot", "3", "production") is None

    first, first_input = decide("allowed", model="chatbot", version="3")
    log.append(first, first_input, actor="alice", source="cli")
    # Newer, but blocked, or for another target or version: not the answer.
    for decision, gate_input in (
        decide("blocked", model="chatbot", version="3"),
        decide("allowed", model="chatbot", version="3", target="champion"),
        decide("allowed", model="chatbot", version="4"),
        decide("allowed", model="other", version="3"),
    ):
        log.append(decision, gate_input, actor="alice", source="cli")
    found = log.last_allowed("chatbot", "3", "production")
    assert found is not None
    assert found.decision_id == first.decision_id
    assert found.input_sha256 == first.input_sha256

    newer, newer_input = decide("allowed", model="chatbot", version="3")
    log.append(newer, newer_input, actor="bob", source="audit")
    found = log.last_allowed("chatbot", "3", "production")
    assert found is not None
    assert (found.decision_id, found.actor) == (newer.decision_id, "bob")


# --------------------------------------------------------------------------- append-only


def test_the_log_has_no_update_or_delete_api() -> None:
    public = {name for name in dir(DecisionLog) if not name.startswith("_")}
    assert public == {"append", "entries", "last_allowed", "close", "verify_chain",
                      "record_evidence", "evidence_history"}  # the evidence ledger's
    forbidden = ("update", "delete", "remove", "clear", "truncate", "drop", "purge", "edit",
                 "replace", "set", "pop", "prune")
    assert not [n for n in public if any(word in n.lower() for word in forbidden)]


def test_a_decision_is_logged_once(open_log: Callable[[], DecisionLog]) -> None:
    decision, gate_input = decide("blocked")
    log = open_log()
    log.append(decision, gate_input, actor="alice", source="cli")
    with pytest.raises(DecisionLogError, match=f"{decision.decision_id}.*append-only"):
        log.append(decision, gate_input, actor="mallory", source="cli")
    [entry] = log.entries()
    assert entry.actor == "alice"


def test_a_decision_is_logged_only_with_its_own_input(
    open_log: Callable[[], DecisionLog],
) -> None:
    blocked, _ = decide("blocked")
    _, allowed_input = decide("allowed")
    log = open_log()
    with pytest.raises(DecisionLogError, match="input_sha256 differs"):
        log.append(blocked, allowed_input, actor="alice", source="cli")
    assert log.entries() == []


def test_an_unknown_source_is_refused(open_log: Callable[[], DecisionLog]) -> None:
    decision, gate_input = decide("allowed")
    log = open_log()
    with pytest.raises(DecisionLogError, match="source 'ui'"):
        log.append(decision, gate_input, actor="alice", source="ui")
    assert log.entries() == []


# --------------------------------------------------------------------------- concurrency


def test_concurrent_appends_from_threads_each_land_once(log_url: str) -> None:
    """8 threads, each opening its own log on a database with no table yet (they race to
    create it), append 10 decisions each."""
    template, gate_input = decide("blocked")
    threads_n, per_thread = 8, 10
    ids = [[str(uuid.uuid4()) for _ in range(per_thread)] for _ in range(threads_n)]
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def work(mine: list[str]) -> None:
        try:
            barrier.wait()
            with DecisionLog(log_url) as log:
                for decision_id in mine:
                    decision = template.model_copy(update={"decision_id": decision_id})
                    log.append(decision, gate_input, actor="ci", source="server")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(mine,)) for mine in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []

    with DecisionLog(log_url) as log:
        logged = _ids(log.entries(limit=1000))
    assert len(logged) == threads_n * per_thread
    assert sorted(logged) == sorted(i for mine in ids for i in mine)


def test_a_table_created_by_another_process_mid_setup_still_gets_the_chain(
    tmp_path: Any,
) -> None:
    """The race behind a CI failure, forced: another process creates the decisions table
    between our check and our CREATE. The CREATE fails with "already exists" before the
    chain head table is made; the log must still end up with both (it checked the first
    table only, and the append then failed on the missing chain table)."""
    url = f"sqlite:///{tmp_path / 'race.db'}"
    other = sa.create_engine(url)

    fired: list[bool] = []

    def another_process_creates_it(target: sa.Table, connection: Any, **_: Any) -> None:
        if fired:
            return
        fired.append(True)
        with other.begin() as conn:  # a separate connection: what another process does
            decisions_table.create(conn)

    sa.event.listen(decisions_table, "before_create", another_process_creates_it)
    try:
        with DecisionLog(url) as log:
            decision, gate_input = decide("blocked")
            log.append(decision, gate_input, actor="ci", source="cli")
            assert _ids(log.entries()) == [decision.decision_id]
            assert log.verify_chain().intact
    finally:
        sa.event.remove(decisions_table, "before_create", another_process_creates_it)
        other.dispose()
    assert fired


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("not a url", "'not a url' is not a database URL"),
        ("nosuchdb://user:s3cret@host/db", "nosuchdb://user:***@host/db: unsupported"),
        # Port 1 on loopback: nothing listens, the connection is refused at once.
        ("postgresql://user:s3cret@127.0.0.1:1/db", "postgresql://user:***@127.0.0.1:1/db: "
         "cannot connect"),
        ("sqlite:////nonexistent-dir-for-mlgate/decisions.db",
         "sqlite:////nonexistent-dir-for-mlgate/decisions.db: cannot connect"),
    ],
)
def test_a_bad_url_is_one_line_naming_it_without_the_password(url: str, shown: str) -> None:
    with pytest.raises(DecisionLogError) as caught:
        DecisionLog(url)
    message = str(caught.value)
    assert shown in message
    assert "\n" not in message
    assert "s3cret" not in message


# --------------------------------------------------------------------------- defaults


@pytest.mark.parametrize(
    ("tracking_uri", "expected"),
    [
        (None, "sqlite:///mlgate-decisions.db"),
        ("", "sqlite:///mlgate-decisions.db"),
        ("sqlite:///mlruns.db", "sqlite:///mlgate-decisions.db"),
        ("sqlite:///sub/dir/mlruns.db", "sqlite:///sub/dir/mlgate-decisions.db"),
        ("sqlite:////srv/mlflow/mlflow.db", "sqlite:////srv/mlflow/mlgate-decisions.db"),
        ("mlgate+sqlite:////srv/mlflow/mlflow.db", "sqlite:////srv/mlflow/mlgate-decisions.db"),
        ("sqlite:///:memory:", "sqlite:///mlgate-decisions.db"),
        ("file:///srv/mlruns", "sqlite:///mlgate-decisions.db"),
        ("./mlruns", "sqlite:///mlgate-decisions.db"),
        ("http://mlflow.internal:5000", "sqlite:///mlgate-decisions.db"),
        ("https://mlflow.example.com", "sqlite:///mlgate-decisions.db"),
        ("databricks", "sqlite:///mlgate-decisions.db"),
        ("postgresql://mlflow@db/mlflow", "postgresql://mlflow@db/mlflow"),
        ("mlgate+mysql+pymysql://root@db/mlflow", "mysql+pymysql://root@db/mlflow"),
    ],
)
def test_default_log_url(
    tracking_uri: str | None, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLGATE_DECISION_LOG", raising=False)
    assert default_log_url(tracking_uri) == expected


def test_default_log_url_prefers_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_DECISION_LOG", "postgresql://gate@db/audit")
    assert default_log_url("sqlite:///mlruns.db") == "postgresql://gate@db/audit"


def test_current_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLGATE_ACTOR", raising=False)
    assert current_actor() == getpass.getuser()
    monkeypatch.setenv("MLGATE_ACTOR", "release-bot")
    assert current_actor() == "release-bot"
