"""``daskflow dags backfill``: runs for a past range, created, run to the end, reported.

Most tests run the command through CliRunner on an in-process threaded
LocalCluster and SQLite. The last ones run it as a real process: next to a
``daskflow scheduler`` on PostgreSQL (the two loops share the runs), and
interrupted with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import signal
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from cli_processes import Background, daskflow, environment, wait_for
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from daskflow.cli.main import cli
from daskflow.store import Store

THREADED = ("--threads", "--workers", "2")

DAGS = {
    # fails on 2025-01-03 only
    "picky": '''
from datetime import datetime

from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("picky", schedule="@daily", start_date=datetime(2025, 1, 1)) as dag:
    BashOperator(task_id="check", bash_command='test "{{ ds }}" != "2025-01-03"')
''',
    # one run at a time, each long enough that two could overlap
    "serial": '''
from datetime import datetime

from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("serial", schedule="@daily", start_date=datetime(2025, 1, 1),
         max_active_runs=1) as dag:
    BashOperator(task_id="nap", bash_command="sleep 0.3")
''',
    "unscheduled": '''
from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("unscheduled") as dag:
    EmptyOperator(task_id="only")
''',
    # marks each logical date it runs for; waits while a "wait" file exists. Its end_date
    # keeps a scheduler from creating scheduled runs of it today.
    "marking": '''
import time
from datetime import datetime
from pathlib import Path

from daskflow import DAG, task

MARKS = Path({marks!r})


with DAG("marking", schedule="@daily", start_date=datetime(2025, 1, 1),
         end_date=datetime(2025, 1, 31), max_active_runs=2) as dag:
    @task
    def mark(ds=None):
        with open(MARKS / "dates", "a") as f:
            f.write(ds + "\\n")
        deadline = time.monotonic() + 300
        while (MARKS / "wait").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)

    mark()
''',
}


def invoke(env: dict[str, Any], *args: Any) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


@pytest.fixture
def folder(tmp_path: Path, marks: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    for name, source in DAGS.items():
        (path / f"{name}.py").write_text(textwrap.dedent(source).replace(
            "{marks!r}", repr(str(marks))))
    return path


@pytest.fixture
def env(tmp_path: Path, folder: Path) -> dict[str, Any]:
    return {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DAGS_FOLDER": str(folder),
            "DASKFLOW_DB": None, "DASKFLOW_RESULTS_URL": None, "CI": None}


@pytest.fixture
def store(tmp_path: Path):
    opened: list[Store] = []

    def open_store() -> Store:
        if not opened:
            opened.append(Store(f"sqlite:///{tmp_path / 'home' / 'daskflow.db'}"))
        return opened[0]

    yield open_store
    for s in opened:
        s.dispose()


def dates(marks: Path) -> list[str]:
    path = marks / "dates"
    return sorted(path.read_text().split()) if path.exists() else []


# -- in this process -------------------------------------------------------------------------
@pytest.mark.slow
def test_backfill_creates_runs_for_each_interval_and_runs_them(env, store, marks):
    result = invoke(env, "dags", "backfill", "marking", "--start-date", "2025-01-01",
                    "--end-date", "2025-01-03", *THREADED, "--output", "json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["run_id"], r["state"], r["run"]) for r in rows] == [
        (f"backfill__2025-01-0{d}T00:00:00+00:00", "success", "created") for d in (1, 2, 3)]
    assert "3/3 runs done (3 success)" in result.stderr
    assert dates(marks) == ["2025-01-01", "2025-01-02", "2025-01-03"]
    run = store().get_dag_run("marking", "backfill__2025-01-02T00:00:00+00:00")
    assert (run.run_type, run.external_trigger, run.dag_version is not None) == (
        "backfill", False, True)
    assert (run.data_interval_start, run.data_interval_end) == (utc(2025, 1, 2), utc(2025, 1, 3))


@pytest.mark.slow
def test_a_failed_run_makes_the_backfill_exit_1_and_existing_runs_are_kept(env, store):
    invoke(env, "dags", "trigger", "picky", "--logical-date", "2025-01-02")
    result = invoke(env, "dags", "backfill", "picky", "-s", "2025-01-01", "-e", "2025-01-04",
                    *THREADED)
    assert result.exit_code == 1, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["logical_date", "run_id", "state", "run"]
    table = {line.split()[2]: line.split()[3:] for line in lines[2:]}
    assert table == {
        "backfill__2025-01-01T00:00:00+00:00": ["success", "created"],
        "manual__2025-01-02T00:00:00+00:00": ["success", "existing"],  # queued: run too
        "backfill__2025-01-03T00:00:00+00:00": ["failed", "created"],
        "backfill__2025-01-04T00:00:00+00:00": ["success", "created"]}
    assert len(store().list_dag_runs("picky")) == 4

    again = invoke(env, "dags", "backfill", "picky", "-s", "2025-01-01", "-e", "2025-01-04")
    assert again.exit_code == 1
    assert "already has a finished run" in again.stderr
    assert "Dask dashboard" not in again.stderr  # nothing to run: no cluster started
    assert all(line.endswith("existing") for line in again.stdout.splitlines()[2:])


@pytest.mark.slow
def test_backfill_runs_respect_max_active_runs(env, store):
    result = invoke(env, "dags", "backfill", "serial", "-s", "2025-01-01", "-e", "2025-01-04",
                    *THREADED)
    assert result.exit_code == 0, result.stderr
    runs = sorted(store().list_dag_runs("serial"), key=lambda r: r.start_date)
    assert len(runs) == 4
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later.start_date >= earlier.end_date, (earlier, later)


def test_a_range_without_intervals_is_refused_before_anything_is_written(env, tmp_path):
    result = invoke(env, "dags", "backfill", "unscheduled", "-s", "2025-01-01",
                    "-e", "2025-01-05")
    assert result.exit_code == 2
    assert "no intervals between 2025-01-01T00:00:00+00:00 and 2025-01-05T00:00:00+00:00 " \
           "for schedule" in result.stderr
    assert not (tmp_path / "home" / "daskflow.db").exists()
    reversed_range = invoke(env, "dags", "backfill", "picky", "-s", "2025-01-05",
                            "-e", "2025-01-01")
    assert reversed_range.exit_code == 2 and "before --start-date" in reversed_range.stderr


# -- as processes ----------------------------------------------------------------------------
@pytest.fixture
def pg_schema_url(pg_url: str):
    """A PostgreSQL schema for this test alone: a loop claims every queued run it sees."""
    base = pg_url.split("?", 1)[0]
    schema = f"daskflow_cli_backfill_{os.getpid()}"
    engine = create_engine(base)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}?options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.mark.slow
@pytest.mark.postgresql
def test_backfill_next_to_a_running_scheduler_runs_each_date_once(
        tmp_path, folder, marks, pg_schema_url):
    env = environment(tmp_path / "home", folder)
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", "--db", pg_schema_url,
                           "--threads", "--workers", "2")
    try:
        scheduler.wait_until_logged("Scheduler running")
        done = daskflow(env, "dags", "backfill", "marking", "-s", "2025-01-01",
                        "-e", "2025-01-08", "--db", pg_schema_url, "--threads", "--workers", "2",
                        "--output", "json")
    finally:
        stopped = scheduler.stop(signal.SIGINT)
    assert done.returncode == 0, done.stderr
    assert [r["state"] for r in json.loads(done.stdout)] == ["success"] * 8
    assert dates(marks) == [f"2025-01-0{d}" for d in range(1, 9)]  # each exactly once
    assert stopped == 0, scheduler.stderr


@pytest.mark.slow
def test_ctrl_c_stops_the_backfill_and_hands_its_runs_back(tmp_path, folder, marks):
    env = environment(tmp_path / "home", folder)
    (marks / "wait").write_text("")
    backfill = Background(env, tmp_path / "backfill.log", "dags", "backfill", "marking",
                          "-s", "2025-01-01", "-e", "2025-01-03", "--threads", "--workers", "2")
    try:
        wait_for(lambda: len(dates(marks)) == 2, "two runs to start (max_active_runs=2)")
    finally:
        (marks / "wait").unlink()
        code = backfill.stop(signal.SIGINT)
    assert code == 1, backfill.stderr
    assert "Interrupted by SIGINT" in backfill.stderr
    store = Store(f"sqlite:///{tmp_path / 'home' / 'daskflow.db'}")
    try:
        runs = store.list_dag_runs("marking")
    finally:
        store.dispose()
    assert len(runs) == 3
    assert all(r.owner_loop is None for r in runs)
    assert sorted(r.state for r in runs) in (["queued", "running", "running"],
                                             ["queued", "running", "success"],
                                             ["queued", "success", "success"])
