"""``daskflow tasks clear``: what it selects, and a cleared run re-run by a real loop.

The end-to-end tests record a run with ``daskflow dags test``, clear part of
it from the command line, then drive a :class:`SchedulerLoop` in this
process on the session's LocalCluster until the run has succeeded again.
Tasks count their executions in files, so "ran again" and "was reused" are
facts on disk, not states a bug could fake.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daskflow.cli.clear import plan_run, runs_between, select_tasks
from daskflow.cli.main import cli
from daskflow.models.dag import DAG
from daskflow.operators import EmptyOperator
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store import DagRunRecord, Store, TaskInstanceRecord

COUNTED = '''
from pathlib import Path

from daskflow import DAG, task

COUNTS = Path({counts!r})


def bump(name):
    path = COUNTS / name
    path.write_text(str(int(path.read_text()) + 1 if path.exists() else 1))


with DAG("counted") as dag:
    @task
    def extract():
        bump("extract")
        return 2

    @task
    def transform(x):
        bump("transform")
        return x * 10

    @task
    def load(y):
        bump("load")
        return y + 1

    load(transform(extract()))
'''

REMAPPED = '''
from pathlib import Path

from daskflow import DAG, task

SIZE = Path({size!r})

with DAG("remapped") as dag:
    @task
    def make():
        return list(range(int(SIZE.read_text())))

    @task
    def square(x):
        return x * x

    square.expand(x=make())
'''


def invoke(env: dict[str, Any], *args: Any, input: str | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], input=input,
                                     catch_exceptions=False)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    counts = tmp_path / "counts"
    counts.mkdir()
    size = tmp_path / "size"
    size.write_text("2")
    (path / "counted.py").write_text(COUNTED.format(counts=str(counts)))
    (path / "remapped.py").write_text(REMAPPED.format(size=str(size)))
    return path


@pytest.fixture
def env(home: Path, folder: Path) -> dict[str, Any]:
    return {"DASKFLOW_HOME": str(home), "DASKFLOW_DAGS_FOLDER": str(folder),
            "DASKFLOW_DB": None, "DASKFLOW_RESULTS_URL": None, "CI": None}


def count(tmp_path: Path, task_id: str) -> int:
    path = tmp_path / "counts" / task_id
    return int(path.read_text()) if path.exists() else 0


def drive_until_done(folder: Path, home: Path, client: Any, dag_id: str, run_id: str) -> Store:
    """A SchedulerLoop in this process, ticked until the run has finished again."""
    store = Store(f"sqlite:///{home / 'daskflow.db'}")
    loop = SchedulerLoop(DagFolder(folder, store), store, client,
                         results_url=str(home / "results"))
    deadline = time.monotonic() + 120
    try:
        while store.get_dag_run(dag_id, run_id).state not in ("success", "failed"):
            assert time.monotonic() < deadline, "the loop did not finish the cleared run"
            loop.tick(utcnow())
            loop.step(0.1)
    finally:
        loop.shutdown()
    return store


# -- end to end -----------------------------------------------------------------------------
@pytest.mark.slow
def test_a_cleared_task_and_its_downstream_run_again_and_upstream_is_reused(
        env, home, folder, tmp_path, dask_client):
    address = dask_client.cluster.scheduler_address
    tested = invoke(env, "dags", "test", "counted", "--cluster", address,
                    "--logical-date", "2025-01-01", "--output", "json")
    run_id = json.loads(tested.stdout)["run_id"]
    assert tested.exit_code == 0, tested.stderr
    assert [count(tmp_path, t) for t in ("extract", "transform", "load")] == [1, 1, 1]

    cleared = invoke(env, "tasks", "clear", "counted", "--task-regex", "^transform$",
                     "--downstream", "--yes", "--output", "json")
    assert cleared.exit_code == 0, cleared.stderr
    assert sorted(row["task_id"] for row in json.loads(cleared.stdout)) == ["load", "transform"]
    queued = json.loads(invoke(env, "runs", "list", "--state", "queued", "-o", "json").stdout)
    assert [r["run_id"] for r in queued] == [run_id]

    store = drive_until_done(folder, home, dask_client, "counted", run_id)
    try:
        assert store.get_dag_run("counted", run_id).state == "success"
        states = {t.task_id: (t.state, t.try_number)
                  for t in store.list_task_instances("counted", run_id)}
        values = {x.task_id: x.value for x in store.list_xcoms("counted", run_id)}
    finally:
        store.dispose()
    assert [count(tmp_path, t) for t in ("extract", "transform", "load")] == [1, 2, 2]
    assert states == {"extract": ("success", 1), "transform": ("success", 2),
                      "load": ("success", 2)}
    assert str(values["load"]) == "21"  # computed from extract's kept value 2: nothing was lost


@pytest.mark.slow
def test_a_mapped_task_whose_source_is_cleared_expands_again(
        env, home, folder, tmp_path, dask_client):
    address = dask_client.cluster.scheduler_address
    tested = invoke(env, "dags", "test", "remapped", "--cluster", address,
                    "--logical-date", "2025-01-01", "--output", "json")
    run_id = json.loads(tested.stdout)["run_id"]
    assert sorted(json.loads(tested.stdout)["tasks"]) == ["make", "square[0]", "square[1]"]

    (tmp_path / "size").write_text("3")
    cleared = invoke(env, "tasks", "clear", "remapped", "-t", "make", "--downstream", "-y")
    assert "Cleared 3 task instances in 1 run of DAG remapped" in cleared.stdout

    store = drive_until_done(folder, home, dask_client, "remapped", run_id)
    try:
        squares = [(t.map_index, t.state) for t in store.list_task_instances("remapped", run_id)
                   if t.task_id == "square"]
        assert store.get_dag_run("remapped", run_id).state == "success"
    finally:
        store.dispose()
    assert squares == [(0, "success"), (1, "success"), (2, "success")]


def test_without_yes_and_without_a_terminal_nothing_is_cleared(env, home, dask_client):
    address = dask_client.cluster.scheduler_address
    invoke(env, "dags", "test", "counted", "--cluster", address, "--logical-date", "2025-01-01")
    refused = invoke(env, "tasks", "clear", "counted")
    assert refused.exit_code == 2
    assert "would clear 3 task instances in 1 run" in refused.stderr
    assert "pass --yes" in refused.stderr
    store = Store(f"sqlite:///{home / 'daskflow.db'}")
    try:
        assert store.list_dag_runs("counted", state="success")
        assert {t.state for t in store.list_task_instances(
            "counted", "manual__2025-01-01T00:00:00+00:00")} == {"success"}
    finally:
        store.dispose()


@pytest.mark.slow
@pytest.mark.parametrize(("answer", "code", "cleared"), [(b"y\n", 0, True), (b"n\n", 1, False)])
def test_on_a_terminal_clear_lists_the_instances_and_asks(env, home, folder, dask_client,
                                                         answer, code, cleared):
    address = dask_client.cluster.scheduler_address
    invoke(env, "dags", "test", "counted", "--cluster", address, "--logical-date", "2025-01-01")
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "tasks", "clear", "counted", "-t", "load"],
            env=with_daskflow(home, folder), stdin=terminal, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        os.write(controller, answer)
        out, err = process.communicate(timeout=120)
    finally:
        os.close(controller)
        os.close(terminal)
    assert process.returncode == code, err
    assert "manual__2025-01-01T00:00:00+00:00  load" in err  # the listing
    assert "Clear 1 task instance in 1 run of DAG 'counted'?" in err
    store = Store(f"sqlite:///{home / 'daskflow.db'}")
    try:
        state = store.get_task_instance("counted", "manual__2025-01-01T00:00:00+00:00", "load")
    finally:
        store.dispose()
    assert (state.state is None) == cleared


def with_daskflow(home: Path, folder: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if k not in ("DASKFLOW_DB", "CI")}
    root = str(Path(__file__).resolve().parents[2])
    values["PYTHONPATH"] = os.pathsep.join(filter(None, [root, values.get("PYTHONPATH")]))
    return {**values, "DASKFLOW_HOME": str(home), "DASKFLOW_DAGS_FOLDER": str(folder)}


# -- selection, without a cluster ------------------------------------------------------------
def _diamond() -> DAG:
    with DAG("diamond") as dag:
        a, b, c, d, e = (EmptyOperator(task_id=t) for t in ("a", "b", "c", "d", "e"))
        a >> [b, c]
        [b, c] >> d
        e >> d
    return dag


@pytest.mark.parametrize(("regex", "upstream", "downstream", "expected"), [
    (None, False, False, ["a", "e", "b", "c", "d"]),
    ("^b$", False, False, ["b"]),
    ("^b$", False, True, ["b", "d"]),
    ("^b$", True, False, ["a", "b"]),
    ("^d$", True, False, ["a", "e", "b", "c", "d"]),
    ("b|c", False, True, ["b", "c", "d"]),
])
def test_tasks_are_selected_by_regex_plus_relatives_in_run_order(
        regex, upstream, downstream, expected):
    dag = _diamond()
    chosen = select_tasks(dag, regex, upstream=upstream, downstream=downstream)
    assert sorted(chosen) == sorted(expected)
    order = [t.task_id for t in dag.topological_sort()]
    assert chosen == [t for t in order if t in chosen]


def _run(run_id: str, day: int) -> DagRunRecord:
    from datetime import datetime, timezone

    logical = datetime(2025, 1, day, tzinfo=timezone.utc)
    return DagRunRecord(id=day, dag_id="diamond", run_id=run_id, logical_date=logical,
                        data_interval_start=logical, data_interval_end=logical,
                        state="failed", run_type="manual", conf={}, start_date=None,
                        end_date=None, queued_at=None, external_trigger=True,
                        dag_version=None, last_scheduling_decision=None, owner_loop=None,
                        heartbeat=None)


def test_only_failed_keeps_successes_and_upstream_failed_counts_as_failed():
    dag = _diamond()
    run = _run("r1", 1)
    instances = [TaskInstanceRecord("diamond", "r1", t, state=s) for t, s in
                 [("a", "success"), ("b", "failed"), ("c", "success"),
                  ("d", "upstream_failed"), ("e", "success")]]
    plan = plan_run(dag, run, instances, ["a", "b", "c", "d", "e"], only_failed=True)
    assert plan.keys == (("b", -1), ("d", -1))
    assert plan.re_expand == ()


def test_runs_are_chosen_by_logical_date_both_ends_included():
    from datetime import datetime, timezone

    runs = [_run(f"r{day}", day) for day in (3, 1, 2, 4)]
    start, end = (datetime(2025, 1, d, tzinfo=timezone.utc) for d in (2, 3))
    assert [r.run_id for r in runs_between(runs, start, end)] == ["r2", "r3"]
    assert [r.run_id for r in runs_between(runs, None, None)] == ["r1", "r2", "r3", "r4"]


def test_a_bad_regex_or_date_range_is_one_error(env, folder):
    assert "matches no task" in invoke(env, "tasks", "clear", "counted", "-t", "zzz",
                                       "-y").stderr
    bad = invoke(env, "tasks", "clear", "counted", "-s", "2025-02-01", "-e", "2025-01-01", "-y")
    assert bad.exit_code == 2
    assert "--end-date" in bad.stderr and "before --start-date" in bad.stderr


def test_mapped_instances_are_deleted_only_when_their_source_is_cleared_too():
    with DAG("m") as dag:
        from daskflow import task

        @task
        def make():
            return [1, 2]

        @task
        def square(x):
            return x * x

        square.expand(x=make())
    run = _run("r1", 1)
    instances = [TaskInstanceRecord("m", "r1", "make", state="success")] + [
        TaskInstanceRecord("m", "r1", "square", map_index=i, state="failed") for i in (0, 1)]
    alone = plan_run(dag, run, instances, ["square"], only_failed=False)
    both = plan_run(dag, run, instances, ["make", "square"], only_failed=False)
    assert alone.keys == (("square", 0), ("square", 1)) and alone.re_expand == ()
    assert both.keys == (("make", -1),) and both.re_expand == ("square",)
    assert both.count == 3

