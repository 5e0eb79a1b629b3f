"""What ``daskflow scheduler`` says while it runs, and what it makes the Dask scheduler log.

Its stdout gets one line per run created, started and ended, and per DAG
file that starts or stops failing to import (``scheduler/events.py``);
``--quiet`` turns them off. The Dask scheduler's own log must not fill with
a line per heartbeat: asking the scheduler with ``Client.run_on_scheduler``
logs ``Run out-of-band function ...`` each time, so nothing periodic may.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_processes import Background, daskflow, environment, runs, wait_for

#: Each test runs a `daskflow scheduler` process.
pytestmark = pytest.mark.slow

THREADED = ("--threads", "--workers", "1")
TIMESTAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"

GREET = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("greet") as dag:
    EmptyOperator(task_id="hello")
'''

DAILY = '''
from datetime import datetime

from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("daily", schedule="@daily", start_date=datetime(2025, 1, 1), catchup=False) as dag:
    EmptyOperator(task_id="only")
'''

BROKEN = '''
from daskflow import DAG

raise ValueError("broken on purpose")
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    (path / "greet.py").write_text(textwrap.dedent(GREET))
    return path


@pytest.fixture
def env(tmp_path: Path, folder: Path) -> dict[str, str]:
    # Re-parse the folder every second, so a changed file is seen soon.
    return environment(tmp_path / "home", folder, DASK_DASKFLOW__PARSE_INTERVAL="1")


def finished(env: dict[str, str], dag_id: str) -> list[dict]:
    return [r for r in runs(env, "--dag-id", dag_id) if r["state"] in ("success", "failed")]


def test_the_scheduler_prints_a_line_per_run_and_per_dag_file_that_breaks_or_heals(
        env, tmp_path, folder):
    (folder / "daily.py").write_text(textwrap.dedent(DAILY))
    broken = folder / "broken.py"
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", *THREADED,
                           out=tmp_path / "scheduler.out")
    try:
        scheduler.wait_until_logged("Scheduler running")
        run_id = daskflow(env, "dags", "trigger", "greet").stdout.strip()
        wait_for(lambda: finished(env, "greet"), "the triggered run to finish")
        [daily] = wait_for(lambda: finished(env, "daily"), "the scheduled run to finish")
        broken.write_text(textwrap.dedent(BROKEN))
        wait_for(lambda: "fails to import" in scheduler.stdout, "the broken file's line")
        broken.write_text(textwrap.dedent(GREET).replace('"greet"', '"healed"'))
        wait_for(lambda: "imports again" in scheduler.stdout, "the healed file's line")
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr
    lines = scheduler.stdout.splitlines()
    assert all(re.match(TIMESTAMP + " ", line) for line in lines), lines
    said = [line[20:] for line in lines]
    scheduled = daily["run_id"]
    assert f"DAG daily: run {scheduled} created (scheduled)" in said
    assert f"DAG daily: run {scheduled} started" in said
    assert f"DAG greet: run {run_id} started" in said
    assert any(re.fullmatch(rf"DAG greet: run {re.escape(run_id)} ended success after "
                            r"\d+\.\ds", line) for line in said), said
    assert any(line.startswith(f"DAG daily: run {scheduled} ended success after ")
               for line in said), said
    assert said.count(f"DAG file {broken} fails to import: ValueError: broken on purpose") == 1
    assert said.count(f"DAG file {broken} imports again") == 1
    # Created before started before ended; broken before healed.
    assert said.index(f"DAG daily: run {scheduled} created (scheduled)") < said.index(
        f"DAG daily: run {scheduled} started")
    assert "started" not in scheduler.stderr.replace("Scheduler running", "")


def test_quiet_prints_nothing_while_runs_go_on(env, tmp_path):
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", *THREADED, "--quiet",
                           out=tmp_path / "scheduler.out")
    try:
        scheduler.wait_until_logged("Scheduler running")
        daskflow(env, "dags", "trigger", "greet")
        [run] = wait_for(lambda: finished(env, "greet"), "the triggered run to finish")
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr
    assert run["state"] == "success"
    assert scheduler.stdout == ""


# -- the Dask scheduler's log ----------------------------------------------------------------
@pytest.fixture
def dask_scheduler(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[str, Path]]:
    """A ``dask scheduler`` process and one worker: (address, the scheduler's log file)."""
    scheduler_file = tmp_path / "scheduler.json"
    log = tmp_path / "dask-scheduler.log"
    with open(log, "w") as out:
        scheduler = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
             "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
            stdout=out, stderr=out, env=env, cwd=tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
         str(scheduler_file), "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp_path)
    try:
        wait_for(lambda: "Register worker" in log.read_text(), "the worker to register")
        yield json.loads(scheduler_file.read_text())["address"], log
    finally:
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def out_of_band(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "out-of-band" in line]


def test_heartbeats_leave_no_line_in_the_dask_schedulers_log(env, tmp_path, dask_scheduler):
    address, log = dask_scheduler
    scheduler = Background(env, tmp_path / "loop.log", "scheduler", "--cluster", address,
                           "--heartbeat", "0.2", "--stale-after", "5", "--quiet")
    try:
        scheduler.wait_until_logged("Scheduler running")
        daskflow(env, "dags", "trigger", "greet")
        wait_for(lambda: finished(env, "greet"), "the triggered run to finish")
        after_start = out_of_band(log)
        # Let 15 heartbeats (every 0.2 s) and stall checks go by: the log must not grow.
        time.sleep(3.0)
        assert scheduler.process.poll() is None, scheduler.stderr
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr
    assert out_of_band(log) == after_start
    assert not any("_scheduler_id" in line for line in log.read_text().splitlines())

