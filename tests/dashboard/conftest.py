"""Finished runs recorded in stores of their own, shared by the dashboard tests that only
read them: ``finished_run`` (the monitored DAG: a failure, a retry, mapping, a masked
secret) and ``demo_run`` (a task group, a mapped task, a retry and a failure, for the
graph and Gantt pages)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import cloudpickle
import pytest

from daskflow import DAG, TaskGroup, get_current_context, task
from daskflow.execution.single_run import RunResult, run_once
from daskflow.operators import EmptyOperator, PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])

DAG_ID = "dashboard_demo"


@dataclass(frozen=True)
class DemoRun:
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
def demo_run(dask_client, tmp_path_factory) -> DemoRun:
    db_url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'daskflow.db'}"
    result = demo_dag().test(cluster=dask_client, db=db_url)
    workers = frozenset(dask_client.scheduler_info()["workers"])
    return DemoRun(db_url, DAG_ID, result.run_id, result.state, workers)


@pytest.fixture
def demo_store(demo_run):
    store = Store(demo_run.db_url)
    yield store
    store.dispose()


@pytest.fixture
def shown_demo_store(demo_run) -> Iterator[None]:
    """The pages of this process read the demo run's store for the test, as after its run."""
    from daskflow.dashboard import store_access

    before = list(store_access._shown)
    store_access.show_store(demo_run.db_url)
    yield
    store_access._shown[:] = before


@pytest.fixture(scope="module")
def finished_run(dask_client: Any, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[tuple[str, RunResult]]:
    """``(db_url, result)`` of one run of ``monitored`` on the session's cluster."""
    from monitored_dag import build

    folder = tmp_path_factory.mktemp("monitored")
    url = f"sqlite:///{folder / 'daskflow.db'}"
    result = run_once(build(str(folder / "flaky-flag")), cluster=dask_client, db=url)
    yield url, result
    Store(url).dispose()
