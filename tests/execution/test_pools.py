"""Pools and max_active_tasks hold on a real cluster of 4 threads.

Each task records when it starts and ends; the test replays those records to
find the most tasks that ever ran at once.
"""

from __future__ import annotations

import sys
import time

import cloudpickle
import pytest
from distributed import Client, LocalCluster

from daskflow import DAG
from daskflow.operators import PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def four_threads():
    with LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def _busy(journal: str, name: str) -> None:
    with open(journal, "a") as f:
        f.write(f"{time.time()} +1 {name}\n")
    time.sleep(0.3)
    with open(journal, "a") as f:
        f.write(f"{time.time()} -1 {name}\n")


def _most_at_once(journal: str) -> int:
    events = sorted((float(t), int(d)) for t, d, _ in
                    (line.split() for line in open(journal).read().splitlines()))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.slow
def test_a_pool_is_never_exceeded(four_threads, db_url, tmp_path):
    store = Store(db_url)
    store.init()
    store.set_pool("db", 2)
    journal = str(tmp_path / "journal")
    with DAG("pooled") as dag:
        for i in range(8):
            PythonOperator(task_id=f"q{i}", python_callable=_busy, op_args=[journal, f"q{i}"],
                           pool="db")
        for i in range(4):
            PythonOperator(task_id=f"big{i}", python_callable=_busy,
                           op_args=[journal, f"big{i}"], pool="db", pool_slots=2)

    result = dag.test(cluster=four_threads, db=db_url)

    assert result.state == "success"
    lines = open(journal).read().splitlines()
    assert len(lines) == 24
    # A two-slot task alone fills the pool: never more than 2 tasks, and never a
    # two-slot task beside anything else.
    assert _most_at_once(journal) <= 2


@pytest.mark.slow
def test_max_active_tasks_holds_in_a_run(four_threads, db_url, tmp_path):
    journal = str(tmp_path / "journal")
    with DAG("one_at_a_time", max_active_tasks=1) as dag:
        for i in range(5):
            PythonOperator(task_id=f"t{i}", python_callable=_busy, op_args=[journal, f"t{i}"])

    result = dag.test(cluster=four_threads, db=db_url)

    assert result.state == "success"
    assert _most_at_once(journal) == 1


@pytest.mark.slow
def test_an_unknown_pool_fails_the_task_with_a_clear_error(four_threads, db_url, tmp_path):
    with DAG("bad_pool") as dag:
        PythonOperator(task_id="t", python_callable=_busy, op_args=[str(tmp_path / "j"), "t"],
                       pool="nope")

    result = dag.test(cluster=four_threads, db=db_url)

    assert result.tasks["t"].state == "failed"
    assert "pool 'nope' does not exist" in result.tasks["t"].error
    assert "daskflow pools set nope" in result.tasks["t"].error


def test_plan_takes_a_tasks_own_limits_first_and_names_run_limits_by_run():
    from daskflow.execution.limits import plan
    from daskflow.operators import EmptyOperator

    with DAG("planned", max_active_tasks=2) as dag:
        EmptyOperator(task_id="plain")
        EmptyOperator(task_id="own", max_active_tis_per_dag=3, pool="db")
        EmptyOperator.partial(task_id="fan", max_active_tis_per_dagrun=1,
                              max_active_tis_per_dag=5).expand(doc_md=["a", "b"])
    planned = plan(dag, {"default_pool": 128, "db": 1}, threads=64, run_id="r7")
    names = {task_id: [(lim.name, lim.slots, lim.of_run) for lim in limits]
             for task_id, limits in planned.items()}
    dag_wide = ("daskflow-run-planned-r7", 2, True)  # max_active_tasks: per run
    assert names == {
        "plain": [dag_wide],
        "own": [("daskflow-task-planned-own", 3, False), dag_wide,
                ("daskflow-pool-db", 1, False)],
        "fan": [("daskflow-task-run-planned-r7-fan", 1, True),
                ("daskflow-task-planned-fan", 5, False), dag_wide],
    }
