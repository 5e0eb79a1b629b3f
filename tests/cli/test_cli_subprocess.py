"""The real command line in a subprocess: exit codes, stdout/stderr, external cluster, PostgreSQL.

``python -m daskflow.cli.main`` is what the ``daskflow`` console script runs.
The ``--cluster`` tests use a ``dask scheduler`` and a ``dask worker`` started
here as separate processes, found through a scheduler file, as a user would
run them.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_dag_files import write_dags_folder

from daskflow.store import Store

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "daskflow.cli.main"]
THREADED = ["--threads", "--workers", "1"]


def with_daskflow() -> dict[str, str]:
    """This environment, with this checkout of daskflow importable (installed or not)."""
    values = {k: v for k, v in os.environ.items() if k not in ("DASKFLOW_DB", "CI")}
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), values.get("PYTHONPATH")]))
    return values


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dags_folder(tmp_path_factory.mktemp("dags"))


@pytest.fixture
def env(tmp_path: Path, dags_folder: Path) -> dict[str, str]:
    values = with_daskflow()
    values["DASKFLOW_HOME"] = str(tmp_path / "home")
    values["DASKFLOW_DAGS_FOLDER"] = str(dags_folder)
    return values


def daskflow(env: dict[str, str], *args: Any, timeout: float = 180
             ) -> subprocess.CompletedProcess[str]:
    """Run the CLI with no stdin, as CI does; ``timeout`` guards against a hang."""
    return subprocess.run([*CLI, *map(str, args)], env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line a bad-input failure prints."""
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    return lines[-1]


# -- exit codes and output -----------------------------------------------------------------
@pytest.mark.slow
def test_dags_test_prints_one_json_object_and_exits_0(env):
    done = daskflow(env, "dags", "test", "hello", *THREADED, "--output", "json")
    data = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert data["dag_id"] == "hello" and data["state"] == "success"
    assert {t: v["state"] for t, v in data["tasks"].items()} == dict.fromkeys(
        ["done", "double", "extract", "say"], "success")
    assert "tasks: 4 success" in done.stderr


@pytest.mark.slow
def test_a_failed_run_on_worker_processes_exits_1(env):
    done = daskflow(env, "dags", "test", "failing", "--workers", "1", "--processes")
    assert done.returncode == 1, done.stderr
    assert "failed" in done.stdout.splitlines()[-1]
    assert "ValueError: kaboom" in done.stdout
    assert "Dask dashboard: http://" in done.stderr


@pytest.mark.slow
def test_bad_conf_is_one_line_naming_conf(env, tmp_path):
    line = error_line(daskflow(env, "dags", "test", "hello", "--conf", "{not json"))
    assert line.startswith("Error: --conf is not valid JSON")
    assert not (tmp_path / "home").exists()


@pytest.mark.slow
def test_unknown_dag_id_exits_2_and_names_the_known_ones(env):
    done = daskflow(env, "dags", "test", "no_such_dag", *THREADED)
    assert done.returncode == 2
    assert "'no_such_dag'" in done.stderr and "hello" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_unreachable_cluster_exits_2_and_records_nothing(env, tmp_path):
    line = error_line(daskflow(env, "dags", "test", "hello", "--cluster", "tcp://127.0.0.1:1",
                               "--cluster-timeout", "2"))
    assert "tcp://127.0.0.1:1" in line and "after 2 s" in line
    assert not (tmp_path / "home").exists()


# -- db reset and the terminal ----------------------------------------------------------
@pytest.mark.slow
def test_db_reset_without_stdin_does_not_wait_for_an_answer(env):
    daskflow(env, "db", "init")
    line = error_line(daskflow(env, "db", "reset", timeout=60))
    assert "--yes" in line


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "code", "pool_left"), [(b"y\n", 0, False),
                                                           (b"n\n", 1, True)])
def test_db_reset_asks_on_a_terminal(env, tmp_path, answer, code, pool_left):
    db = f"sqlite:///{tmp_path / 'asked.db'}"
    daskflow(env, "db", "init", "--db", db)
    with Store(db) as store:
        store.set_pool("etl", 2)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen([*CLI, "db", "reset", "--db", db], env=env, stdin=terminal,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        os.write(controller, answer)
        out, err = process.communicate(timeout=60)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == code, err
    assert "Delete ALL metadata" in out
    with Store(db) as store:
        assert (store.get_pool("etl") is not None) == pool_left


# -- an external cluster and PostgreSQL ----------------------------------------------------
@pytest.fixture(scope="module")
def external_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    """``dask scheduler`` + ``dask worker`` processes: (scheduler address, a client).

    Both get daskflow on their path, as a deployment installs it on the cluster;
    the DAG folder they do not get: DAG code travels with the tasks.
    """
    from distributed import Client

    folder = tmp_path_factory.mktemp("external")
    env = with_daskflow()
    scheduler_file = folder / "scheduler.json"
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
         "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
    worker = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
         str(scheduler_file), "--nthreads", "1", "--nworkers", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=folder)
    client = None
    try:
        _wait_for(scheduler_file, scheduler)
        client = Client(scheduler_file=str(scheduler_file), timeout=30)
        client.wait_for_workers(1, timeout=60)
        yield client.scheduler.address, client
    finally:
        if client is not None:
            client.close()
        for process in (worker, scheduler):
            process.terminate()
        for process in (worker, scheduler):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(scheduler_file: Path, scheduler: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while not scheduler_file.exists():
        if scheduler.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"dask scheduler did not start (exit code {scheduler.poll()})")
        time.sleep(0.1)


@pytest.mark.slow
def test_dags_test_runs_on_an_external_cluster(env, tmp_path, external_cluster):
    address, client = external_cluster
    db = f"sqlite:///{tmp_path / 'external.db'}"
    done = daskflow(env, "dags", "test", "hello", "--cluster", address, "--db", db,
                    "--output", "json")
    data = json.loads(done.stdout)
    assert done.returncode == 0, done.stderr
    assert data["state"] == "success"
    assert all(t["state"] == "success" for t in data["tasks"].values())
    states = daskflow(env, "tasks", "states", "hello", data["run_id"], "--db", db, "-o", "json")
    workers = set(client.scheduler_info()["workers"])
    assert {row["worker"] for row in json.loads(states.stdout)} <= workers


@pytest.mark.slow
@pytest.mark.postgresql
def test_a_run_recorded_in_postgresql_is_listed(env, pg_url):
    done = daskflow(env, "dags", "test", "greeting", "--db", pg_url, *THREADED,
                    "--conf", '{"name": "pg"}', "-o", "json")
    run_id = json.loads(done.stdout)["run_id"]
    listed = daskflow(env, "runs", "list", "--db", pg_url, "--dag-id", "greeting", "-o", "json")
    rows = {row["run_id"]: row for row in json.loads(listed.stdout)}
    assert done.returncode == 0, done.stderr
    assert rows[run_id]["state"] == "success"
    assert rows[run_id]["run_type"] == "manual"
    logs = daskflow(env, "tasks", "logs", "greeting", run_id, "greet", "--db", pg_url)
    assert "greeting pg" in logs.stdout
