"""A task's start_date and end_date decide which runs have it, on a real cluster.

As in Airflow 3.3: outside its dates a task has no instance; the tasks below
it never get a state and the run fails naming them; a left-out leaf changes
nothing; a backfill run has every task.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import cloudpickle
from loop_driving import drive_until, write_dag

from daskflow import DAG
from daskflow.operators import EmptyOperator
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop

cloudpickle.register_pickle_by_value(sys.modules[__name__])

DATED = '''
from datetime import datetime
from daskflow import DAG
from daskflow.operators import EmptyOperator
with DAG("dated", start_date=datetime(2024, 1, 1)):
    late = EmptyOperator(task_id="late", start_date=datetime(2025, 6, 1))
    late >> EmptyOperator(task_id="after_late", trigger_rule="all_done")
    EmptyOperator(task_id="ok") >> EmptyOperator(task_id="then")
'''


def test_a_run_without_a_task_fails_naming_the_tasks_below_it(dask_client, store, tmp_path):
    write_dag(tmp_path / "dags", "dated", DATED)
    loop = SchedulerLoop(DagFolder(tmp_path / "dags", store), store, dask_client,
                         results_url=str(tmp_path / "results"), parse_interval=0.2)
    day, later = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    try:
        loop.folder.refresh()
        store.create_dag_run("dated", "early", day, day, day, "manual", {}, state="queued")
        store.create_dag_run("dated", "later", later, later, later, "manual", {},
                             state="queued")
        store.create_dag_run("dated", "filled", datetime(2024, 2, 1, tzinfo=UTC), None, None,
                             "backfill", {}, state="queued")
        drive_until(loop, lambda: all(r.state in ("success", "failed")
                                      for r in store.list_dag_runs("dated")))
    finally:
        loop.shutdown()
    states = {run: {t.task_id: t.state for t in store.list_task_instances("dated", run)}
              for run in ("early", "later", "filled")}
    assert states["early"] == {"after_late": None, "ok": "success", "then": "success"}
    early = store.get_dag_run("dated", "early")
    assert early.state == "failed"
    assert early.reason == ("task 'after_late' can never run: its upstream task 'late' has no "
                            "instance in this run (its start_date 2025-06-01T00:00:00+00:00 "
                            "is after the run's logical date 2025-01-01T00:00:00+00:00)")
    assert set(states["later"].values()) == {"success"} and len(states["later"]) == 4
    assert set(states["filled"].values()) == {"success"} and len(states["filled"]) == 4


def test_a_left_out_leaf_changes_nothing_else(dask_client, db_url):
    with DAG("leafy", start_date=datetime(2024, 1, 1)) as dag:
        EmptyOperator(task_id="ok") >> EmptyOperator(task_id="new_leaf",
                                                     start_date=datetime(2025, 6, 1))
    result = dag.test(logical_date="2025-01-01", cluster=dask_client, db=db_url)
    assert result.state == "success" and list(result.tasks) == ["ok"]
    before = dag.test(logical_date="2023-01-01", cluster=dask_client, db=db_url)
    assert before.state == "success" and before.tasks == {}  # before the DAG's start_date
