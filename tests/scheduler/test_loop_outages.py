"""The metadata store goes away while a real `daskflow scheduler` runs a DAG.

A SQLite file locked by another process for 40 s, and PostgreSQL sessions of
the loop terminated by an administrator mid-run: the loop must stay up, every
task must run once, and every attempt and log must be kept.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from daskflow.store import Store

DAG_SOURCE = '''
from daskflow import DAG
from daskflow.operators import PythonOperator

JOURNAL = {journal!r}

def work(name):
    import time
    time.sleep(0.3)
    print(f"log line of {{name}}")
    with open(JOURNAL, "a") as f:
        f.write(name + "\\n")

with DAG("outage", max_active_tasks=4):
    for chain in range(3):
        previous = None
        for i in range(10):
            task = PythonOperator(task_id=f"c{{chain}}_t{{i}}", python_callable=work,
                                  op_args=[f"c{{chain}}_t{{i}}"])
            if previous is not None:
                previous >> task
            previous = task
'''
TASKS = {f"c{c}_t{i}" for c in range(3) for i in range(10)}


def _loop(folder: Path, db: str, home: Path) -> subprocess.Popen:
    home.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DASKFLOW_HOME": str(home), "PYTHONPATH": os.pathsep.join(sys.path)}
    with open(home / "scheduler.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "scheduler", "--dags-folder",
             str(folder), "--db", db, "--workers", "1", "--threads-per-worker", "3",
             "--heartbeat", "1", "--stale-after", "3"],
            env=env, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    proc.log = home / "scheduler.log"  # type: ignore[attr-defined]
    return proc


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode


def _wait(condition, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not reached in time"
        time.sleep(0.2)


def _dag(tmp_path: Path) -> tuple[Path, Path]:
    folder, journal = tmp_path / "dags", tmp_path / "journal"
    folder.mkdir()
    (folder / "outage.py").write_text(textwrap.dedent(DAG_SOURCE.format(journal=str(journal))))
    return folder, journal


def _succeeded(store: Store) -> int:
    return sum(t.state == "success" for t in store.list_task_instances("outage", "r"))


def _check_everything_ran_once_and_was_kept(store: Store, journal: Path) -> None:
    runs = Counter(journal.read_text().split())
    assert set(runs) == TASKS
    assert all(n == 1 for n in runs.values()), {t: n for t, n in runs.items() if n > 1}
    assert store.get_dag_run("outage", "r").state == "success"
    for task_id in sorted(TASKS):
        attempts = store.list_attempts("outage", "r", task_id)
        assert [(a.try_number, a.state) for a in attempts] == [(1, "success")], task_id
        assert f"log line of {task_id}" in store.get_log("outage", "r", task_id)


def _queue(store: Store) -> None:
    now = datetime.now(timezone.utc)
    store.create_dag_run("outage", "r", now, now, now, "manual", {}, state="queued")


@pytest.mark.slow
def test_a_sqlite_file_locked_for_40_seconds_mid_run(tmp_path):
    folder, journal = _dag(tmp_path)
    db_path = tmp_path / "daskflow.db"
    store = Store(f"sqlite:///{db_path}")
    store.init()
    _queue(store)
    loop = _loop(folder, f"sqlite:///{db_path}", tmp_path / "home")
    released = threading.Event()
    try:
        _wait(lambda: _succeeded(store) >= 6)
        locker = sqlite3.connect(db_path, isolation_level=None, timeout=60)
        locker.execute("BEGIN EXCLUSIVE")
        locked_at = time.monotonic()
        time.sleep(40)
        assert loop.poll() is None, "the loop exited while the store was locked"
        locker.execute("COMMIT")
        locker.close()
        released.set()
        _wait(lambda: store.get_dag_run("outage", "r").state == "success")
        assert time.monotonic() - locked_at >= 40
    finally:
        code = _stop(loop)
    assert code == 0, loop.log.read_text()[-3000:]
    _check_everything_ran_once_and_was_kept(store, journal)
    assert "is unavailable" in loop.log.read_text()  # the outage was noticed and ridden out


@pytest.mark.slow
@pytest.mark.postgresql
def test_postgresql_sessions_of_the_loop_terminated_mid_run(tmp_path, pg_url):
    folder, journal = _dag(tmp_path)
    store = Store(pg_url)
    store.reset()
    _queue(store)
    loop = _loop(folder, pg_url, tmp_path / "home")
    admin = create_engine(pg_url.split("?")[0])
    terminated = 0
    try:
        _wait(lambda: _succeeded(store) >= 3)
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:  # again and again in the middle of the run
            with admin.begin() as conn:
                terminated += conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"), {"name": f"daskflow-{loop.pid}"}).scalar()
            time.sleep(0.05)
        _wait(lambda: store.get_dag_run("outage", "r").state == "success")
    finally:
        code = _stop(loop)
        admin.dispose()
    assert terminated >= 4
    assert code == 0, loop.log.read_text()[-3000:]
    _check_everything_ran_once_and_was_kept(store, journal)


def test_an_outage_longer_than_store_retry_for_stops_the_loop_with_the_error(
        tmp_path, dask_client, monkeypatch):
    import dask

    from daskflow.scheduler.dag_folder import DagFolder
    from daskflow.scheduler.loop import SchedulerLoop
    from daskflow.store import StoreUnavailable, engine

    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 100)
    folder, _ = _dag(tmp_path)
    db_path = tmp_path / "daskflow.db"
    with dask.config.set({"daskflow.store-retry-for": 1}):
        store = Store(f"sqlite:///{db_path}")
        store.init()
        loop = SchedulerLoop(DagFolder(folder, store), store, dask_client,
                             results_url=str(tmp_path / "results"), heartbeat_interval=0.5,
                             stale_after=timedelta(seconds=2))
    locker = sqlite3.connect(db_path, isolation_level=None, timeout=60)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreUnavailable, match="database is locked"):
            loop.serve(threading.Event())
    finally:
        locker.execute("COMMIT")
        locker.close()
