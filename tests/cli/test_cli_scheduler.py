"""``daskflow scheduler`` as a user runs it: a real process, stopped by a signal.

Each test starts the command on a DAG folder and a SQLite file of its own
and talks to it only through other ``daskflow`` commands and the store, as
a user would: trigger, list runs, Ctrl-C (SIGINT) or SIGTERM.
"""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest
from cli_processes import Background, daskflow, environment, runs, wait_for
from click.testing import CliRunner

from daskflow.cli.main import cli
from daskflow.store import Store

THREADED = ("--threads", "--workers", "1")

GREET = '''
from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("greet") as dag:
    BashOperator(task_id="hello", bash_command="echo hello {{ params.who }}",
                 params={"who": "world"})
'''

# ``quick`` finishes at once; ``held`` waits for a file the test writes, so
# the scheduler can be stopped while the run is certainly in the middle.
HANDOFF = '''
import time
from pathlib import Path

from daskflow import DAG, task

MARKS = Path({marks!r})


def mark(name):
    with open(MARKS / name, "a") as f:
        f.write("x")


with DAG("handoff") as dag:
    @task
    def quick():
        mark("quick")
        return 1

    @task
    def held(x):
        mark("held")
        deadline = time.monotonic() + 300
        while not (MARKS / "go").exists():
            if time.monotonic() > deadline:
                raise TimeoutError("the test never wrote the go file")
            time.sleep(0.1)
        return x + 1

    held(quick())
'''


@pytest.fixture
def marks(tmp_path: Path) -> Path:
    path = tmp_path / "marks"
    path.mkdir()
    return path


@pytest.fixture
def folder(tmp_path: Path, marks: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    (path / "greet.py").write_text(textwrap.dedent(GREET))
    (path / "handoff.py").write_text(textwrap.dedent(HANDOFF).format(marks=str(marks)))
    return path


@pytest.fixture
def env(tmp_path: Path, folder: Path) -> dict[str, str]:
    return environment(tmp_path / "home", folder)


def marked(marks: Path, name: str) -> int:
    path = marks / name
    return len(path.read_text()) if path.exists() else 0


@pytest.mark.slow
def test_a_triggered_run_is_run_by_the_scheduler_which_stops_cleanly_on_ctrl_c(env, tmp_path):
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", *THREADED)
    try:
        scheduler.wait_until_logged("Scheduler running")
        triggered = daskflow(env, "dags", "trigger", "greet", "--conf", '{"who": "daskflow"}')
        assert triggered.returncode == 0, triggered.stderr
        run_id = triggered.stdout.strip()
        assert run_id.startswith("manual__")

        def finished() -> list[dict[str, Any]]:
            return [r for r in runs(env, "--dag-id", "greet")
                    if r["run_id"] == run_id and r["state"] in ("success", "failed")]

        [run] = wait_for(finished, "the triggered run to finish")
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert run["state"] == "success"
    assert run["run_type"] == "manual" and run["dag_version"]
    assert code == 0, scheduler.stderr
    assert "Dask dashboard: http://" in scheduler.stderr
    assert "stopped on SIGINT" in scheduler.stderr
    assert "Traceback" not in scheduler.stderr
    log = daskflow(env, "tasks", "logs", "greet", run_id, "hello")
    assert "hello daskflow" in log.stdout


@pytest.mark.slow
def test_sigterm_hands_a_running_run_back_and_the_next_scheduler_finishes_it(
        env, tmp_path, marks):
    first = Background(env, tmp_path / "first.log", "scheduler", "--workers", "1",
                       "--processes", "--loop-id", "first-loop")
    try:
        first.wait_until_logged("Scheduler running")
        run_id = daskflow(env, "dags", "trigger", "handoff").stdout.strip()
        wait_for(lambda: marked(marks, "held"), "task held to start")
    finally:
        code = first.stop(signal.SIGTERM)
    assert code == 0, first.stderr
    assert "stopped on SIGTERM" in first.stderr

    store = Store(f"sqlite:///{tmp_path / 'home' / 'daskflow.db'}")
    try:
        run = store.get_dag_run("handoff", run_id)
        quick = store.get_task_instance("handoff", run_id, "quick")
    finally:
        store.dispose()
    assert (run.state, run.owner_loop, run.heartbeat) == ("running", None, None)
    assert quick.state == "success"

    (marks / "go").write_text("")
    second = Background(env, tmp_path / "second.log", "scheduler", *THREADED,
                        "--loop-id", "second-loop")
    try:
        second.wait_until_logged("Scheduler running")
        wait_for(lambda: runs(env, "--dag-id", "handoff", "--state", "success"),
                 "the handed-back run to succeed")
    finally:
        assert second.stop(signal.SIGINT) == 0, second.stderr
    assert marked(marks, "quick") == 1  # its success was kept, not run again
    assert marked(marks, "held") == 2  # stopped once, then run to the end


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_stops_worker_processes_only_with_the_cluster(env, tmp_path):
    # A terminal's Ctrl-C reaches every process of the group, LocalCluster workers
    # included; they must not die first (with KeyboardInterrupt tracebacks).
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", "--workers", "2",
                           "--processes")
    try:
        scheduler.wait_until_logged("Scheduler running")
        run_id = daskflow(env, "dags", "trigger", "greet").stdout.strip()
        wait_for(lambda: runs(env, "--dag-id", "greet", "--state", "success"),
                 "the triggered run to succeed")
    finally:
        code = scheduler.stop(signal.SIGINT, group=True)
    assert code == 0, scheduler.stderr
    assert "Traceback" not in scheduler.stderr and "KeyboardInterrupt" not in scheduler.stderr
    assert run_id.startswith("manual__")


def test_stale_after_must_exceed_the_heartbeat(env):
    result = CliRunner(env=env).invoke(cli, ["scheduler", "--heartbeat", "5",
                                             "--stale-after", "5"])
    assert result.exit_code == 2
    assert "--stale-after (5s) must be longer than --heartbeat (5s)" in result.stderr


def test_a_missing_dag_folder_stops_the_scheduler_before_it_creates_a_store(env, tmp_path):
    result = CliRunner(env=env).invoke(cli, ["scheduler", "--dags-folder",
                                             str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert not (tmp_path / "home" / "daskflow.db").exists()
