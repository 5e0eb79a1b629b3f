"""A store that goes away for a while: which errors are worth retrying, and the retries,
against a really locked SQLite file and really terminated PostgreSQL sessions."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime

import psycopg.errors
import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import OperationalError as SAOperationalError
from sqlalchemy.exc import ProgrammingError as SAProgrammingError

from daskflow.store import Store, StoreError, StoreUnavailable, TaskUpdate, engine
from daskflow.store.engine import is_transient
from daskflow.store.retrying import Retrying

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


def _wrapped(error: Exception, kind: type = SAOperationalError) -> Exception:
    return kind("SELECT 1", {}, error)


@pytest.mark.parametrize(("error", "transient"), [
    (sqlite3.OperationalError("database is locked"), True),
    (sqlite3.OperationalError("database table is locked"), True),
    (sqlite3.OperationalError("no such table: dag_run"), False),
    (psycopg.errors.AdminShutdown("terminating connection due to administrator command"), True),
    (psycopg.errors.SerializationFailure("could not serialize access"), True),
    (psycopg.errors.DeadlockDetected("deadlock detected"), True),
    (psycopg.errors.CannotConnectNow("the database system is starting up"), True),
    (psycopg.OperationalError("connection failed: Connection refused"), True),
    (psycopg.errors.UndefinedTable("relation \"dag_run\" does not exist"), False),
])
def test_which_database_errors_are_transient(error: Exception, transient: bool) -> None:
    kind = SAProgrammingError if isinstance(error, psycopg.errors.UndefinedTable) \
        else SAOperationalError
    assert is_transient(_wrapped(error, kind)) is transient


def test_retrying_runs_again_until_it_works_and_gives_up_after_its_window() -> None:
    slept: list[float] = []
    calls = []

    def flaky(n: int) -> str:
        calls.append(n)
        if len(calls) < 4:
            raise StoreUnavailable("database is locked")
        return "written"

    assert Retrying(60, "store", sleep=slept.append).call(flaky, 7) == "written"
    assert calls == [7, 7, 7, 7]
    assert len(slept) == 3 and slept[0] < slept[2]  # backs off

    def down() -> None:
        raise StoreUnavailable("connection refused")

    started = time.monotonic()
    with pytest.raises(StoreUnavailable):
        Retrying(0.3, "store").call(down)
    assert time.monotonic() - started >= 0.3

    def broken() -> None:
        raise StoreError("no such table")

    calls.clear()
    with pytest.raises(StoreError):
        Retrying(60, "store", sleep=slept.append).call(broken)  # not retried


@pytest.mark.slow
def test_a_sqlite_file_locked_longer_than_the_busy_timeout_is_waited_out(
        tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    url = f"sqlite:///{tmp_path / 'locked.db'}"
    store = Store(url, retry_for=60)
    store.init()
    store.create_dag_run("a", "r", NOW, NOW, NOW, "manual", {}, state="running")
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(30)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    assert locked.wait(10)
    threading.Timer(2.0, release.set).start()  # far beyond the 200 ms busy timeout

    store.apply_updates([TaskUpdate("a", "r", "t", state="success")])

    holder.join()
    assert release.is_set()
    assert store.get_task_instance("a", "r", "t").state == "success"
    store.dispose()


@pytest.mark.postgresql
def test_a_terminated_postgresql_session_is_replaced_mid_write(pg_url) -> None:
    store = Store(pg_url, retry_for=60)
    store.reset()
    store.create_dag_run("a", "r", NOW, NOW, NOW, "manual", {}, state="running")
    killer = create_engine(pg_url.split("?")[0])
    terminated = []

    @event.listens_for(store.engine, "before_cursor_execute")
    def terminate_once(conn, cursor, statement, parameters, context, executemany):
        if not terminated and statement.lstrip().upper().startswith("INSERT INTO TASK_INSTANCE"):
            pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with killer.begin() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            terminated.append(pid)

    store.apply_updates([TaskUpdate("a", "r", "t", state="success")])

    assert len(terminated) == 1
    assert store.get_task_instance("a", "r", "t").state == "success"
    killer.dispose()
    store.dispose()
