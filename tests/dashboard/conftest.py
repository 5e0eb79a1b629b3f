"""One finished run for the dashboard tests: a task group, a mapped task, a retry, a failure.

It runs once per session on the suite's LocalCluster (``dask_client``) into a
SQLite store of its own; the pages read that store through
``store_access.dashboard_store``, as they do in the scheduler's process.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import timedelta

import cloudpickle
import pytest

from daskflow import DAG, TaskGroup, get_current_context, task
from daskflow.operators import EmptyOperator, PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])

DAG_ID = "dashboard_demo"


@dataclass(frozen=True)
class FinishedRun:
    db_url: str
    dag_id: str
    run_id: str
    state: str
    workers: frozenset[str]


def _fails_on_first_try() -> str:
    if get_current_context()["ti"].try_number == 1:
        raise RuntimeError("first try fails on purpose")
    return "ok on a retry"


def _always_fails() -> None:
    raise ValueError("this task always fails")


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def square(x: int) -> int:
    return x * x


def demo_dag() -> DAG:
    with DAG(DAG_ID, schedule=None) as dag:
        start = EmptyOperator(task_id="start")
        with TaskGroup("prepare") as prepare:
            EmptyOperator(task_id="clean") >> EmptyOperator(task_id="check")
        values = numbers()
        squares = square.expand(x=values)
        flaky = PythonOperator(task_id="flaky", python_callable=_fails_on_first_try,
                               retries=1, retry_delay=timedelta(0))
        broken = PythonOperator(task_id="broken", python_callable=_always_fails)
        start >> prepare >> [values, flaky, broken]
        squares >> EmptyOperator(task_id="done", trigger_rule="all_done")
    return dag


@pytest.fixture(scope="session")
def finished_run(dask_client, tmp_path_factory) -> FinishedRun:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'daskflow.db'}"
    result = demo_dag().test(cluster=dask_client, db=db_url)
    workers = frozenset(dask_client.scheduler_info()["workers"])
    return FinishedRun(db_url, DAG_ID, result.run_id, result.state, workers)


@pytest.fixture
def run_store(finished_run):
    store = Store(finished_run.db_url)
    yield store
    store.dispose()
