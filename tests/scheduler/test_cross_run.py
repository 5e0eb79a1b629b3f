"""``depends_on_past`` and ``wait_for_downstream``: tasks held back by the previous run.

Airflow 3.3 (checked with ``airflow dags test``): a task with
``wait_for_downstream=True`` runs in a DAG's first run, waits (no state, the
run stays running) while an immediate downstream task of its previous
instance failed, and does not wait for a failure further downstream.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from loop_driving import drive_for, drive_until, write_dag

from daskflow import DAG
from daskflow.operators import EmptyOperator
from daskflow.scheduler.cross_run import held_tasks
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop
from daskflow.store import TaskUpdate

DAY = datetime(2025, 1, 1, tzinfo=UTC)


def _dag() -> DAG:
    with DAG("cross") as dag:
        writer = EmptyOperator(task_id="writer", wait_for_downstream=True)
        reader = EmptyOperator(task_id="reader")
        writer >> reader >> EmptyOperator(task_id="report")
        past = EmptyOperator(task_id="past", depends_on_past=True)
        past >> EmptyOperator(task_id="after_past")
        EmptyOperator(task_id="free")
    return dag


def _run(store, n: int, states: dict[str, str | None]):
    run = store.create_dag_run("cross", f"r{n}", DAY + timedelta(days=n), None, None, "manual",
                               {}, state="running")
    store.apply_updates([TaskUpdate("cross", run.run_id, t, state=s) for t, s in states.items()])
    return run


def test_the_first_run_waits_for_nothing(store):
    assert held_tasks(store, _dag(), _run(store, 0, {})) == set()


def test_wait_for_downstream_waits_for_the_immediate_downstream_tasks_only(store):
    dag = _dag()
    _run(store, 0, {"writer": "success", "reader": "failed", "report": "upstream_failed",
                    "past": "success", "after_past": "failed", "free": "failed"})
    now = _run(store, 1, {})
    # depends_on_past alone does not look below the task; wait_for_downstream does.
    assert held_tasks(store, dag, now) == {"writer"}

    store.apply_updates([TaskUpdate("cross", "r0", "reader", state="running")])
    assert held_tasks(store, dag, now) == {"writer"}
    store.apply_updates([TaskUpdate("cross", "r0", "reader", state="skipped")])
    assert held_tasks(store, dag, now) == set()  # report (further down) failed: not waited for
    store.apply_updates([TaskUpdate("cross", "r0", "writer", state="failed")])
    assert held_tasks(store, dag, now) == {"writer"}  # its own previous instance, as before


def test_a_downstream_task_without_a_previous_instance_is_not_waited_for(store):
    _run(store, 0, {"writer": "success", "past": "success"})
    assert held_tasks(store, _dag(), _run(store, 1, {})) == set()


@pytest.mark.slow
def test_the_loop_holds_a_writer_until_its_readers_of_the_previous_run_succeed(
        dask_client, store, tmp_path: Path):
    marker = tmp_path / "reader_fails"
    marker.touch()
    write_dag(tmp_path / "dags", "cross", f'''
        import os
        from daskflow import DAG
        from daskflow.operators import EmptyOperator, PythonOperator

        def read():
            if os.path.exists({str(marker)!r}):
                raise RuntimeError("the reader failed")

        with DAG("cross"):
            writer = EmptyOperator(task_id="writer", wait_for_downstream=True)
            writer >> PythonOperator(task_id="reader", python_callable=read)
            EmptyOperator(task_id="free")
    ''')
    loop = SchedulerLoop(DagFolder(tmp_path / "dags", store), store, dask_client,
                         results_url=str(tmp_path / "results"), parse_interval=0.2,
                         heartbeat_interval=0.2)
    state = lambda run, task: getattr(store.get_task_instance("cross", run, task), "state", None)  # noqa: E731
    try:
        loop.folder.refresh()
        store.create_dag_run("cross", "r1", DAY, DAY, DAY, "manual", {}, state="queued")
        drive_until(loop, lambda: store.get_dag_run("cross", "r1").state == "failed")
        assert state("r1", "writer") == "success"  # the first run waits for nothing
        marker.unlink()
        later = DAY + timedelta(days=1)
        store.create_dag_run("cross", "r2", later, later, later, "manual", {}, state="queued")
        drive_until(loop, lambda: state("r2", "free") == "success")
        drive_for(loop, 1.0)
        assert state("r2", "writer") in (None, "queued")
        assert store.get_dag_run("cross", "r2").state == "running"
        # The previous run's reader is made to succeed (as a cleared, re-run task would).
        store.apply_updates([TaskUpdate("cross", "r1", "reader", state="success")])
        drive_until(loop, lambda: store.get_dag_run("cross", "r2").state == "success")
    finally:
        loop.shutdown()
    assert state("r2", "reader") == "success"
