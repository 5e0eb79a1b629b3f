"""Each workload's graph twice: as a daskflow DAG, and as the plain Dask graph it stands for.

The raw graphs are ``{key: Task}`` dicts with one key prefix per workload
(``chain-<token>-7``), the way ``client.map`` or a ``dask.delayed`` loop
names keys; daskflow's DAGs have one task id per task, as users write them.
Both run the functions of ``tasks.py``, so the difference between the two
is what daskflow adds.

>>> sorted(raw_chain(3, "tok", noop_fn()))[:1]
['chain-tok-0']
>>> len(daskflow_fan(4, "doc_fan").tasks)
6
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from daskflow.bench import tasks

#: Every benchmark DAG starts here; runs get logical dates after it, one day apart.
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def noop_fn() -> Callable[..., Any]:
    return tasks.noop


# -- plain Dask -------------------------------------------------------------------------
def raw_chain(length: int, token: str, fn: Callable[..., Any]) -> dict[str, Any]:
    """``length`` tasks, each taking the result of the one before."""
    from dask._task_spec import Task, TaskRef

    graph: dict[str, Any] = {}
    previous = None
    for i in range(length):
        key = f"chain-{token}-{i}"
        graph[key] = Task(key, fn) if previous is None else Task(key, fn, TaskRef(previous))
        previous = key
    return graph


def raw_fan(width: int, token: str) -> dict[str, Any]:
    """One root, ``width`` tasks on it, one sink on all of them."""
    from dask._task_spec import Task, TaskRef

    root, sink = f"root-{token}", f"sink-{token}"
    graph: dict[str, Any] = {root: Task(root, tasks.noop)}
    middle = [f"fan-{token}-{i}" for i in range(width)]
    for key in middle:
        graph[key] = Task(key, tasks.noop, TaskRef(root))
    graph[sink] = Task(sink, tasks.noop, *(TaskRef(k) for k in middle))
    return graph


def raw_independent(count: int, token: str, fn: Callable[..., Any] = tasks.noop,
                    *args: Any) -> dict[str, Any]:
    """``count`` tasks with no dependencies, each ``fn(*args)``."""
    from dask._task_spec import Task

    return {f"{fn.__name__}-{token}-{i}": Task(f"{fn.__name__}-{token}-{i}", fn, *args)
            for i in range(count)}


def raw_handoff(hops: int, megabytes: float, token: str) -> dict[str, Any]:
    """An array made, passed along ``hops`` tasks, and summed."""
    from dask._task_spec import Task, TaskRef

    first = f"make_array-{token}"
    graph: dict[str, Any] = {first: Task(first, tasks.make_array, megabytes)}
    previous = first
    for i in range(hops):
        key = f"pass_on-{token}-{i}"
        graph[key] = Task(key, tasks.pass_on, TaskRef(previous))
        previous = key
    last = f"checksum-{token}"
    graph[last] = Task(last, tasks.checksum, TaskRef(previous))
    return graph


# -- daskflow ---------------------------------------------------------------------------
def _dag(dag_id: str, tasks_in_run: int) -> Any:
    """A DAG whose ``max_active_tasks`` never binds, so both sides get the same concurrency.

    With Airflow's default of 16, a run on a cluster of more than 16 threads
    makes every task take a slot of a ``distributed.Semaphore`` first: a real
    cost of that setting, but not the cost of orchestration this suite compares.
    """
    from daskflow import DAG

    return DAG(dag_id, schedule=None, start_date=START,
               max_active_tasks=max(16, tasks_in_run))


def daskflow_chain(length: int, dag_id: str) -> Any:
    """``length`` EmptyOperator tasks ``t0 >> t1 >> ...``."""
    from daskflow.operators.empty import EmptyOperator

    with _dag(dag_id, length) as dag:
        previous = None
        for i in range(length):
            op = EmptyOperator(task_id=f"t{i}")
            if previous is not None:
                previous >> op
            previous = op
    return dag


def daskflow_fan(width: int, dag_id: str) -> Any:
    """``root >> [t0 .. t{width-1}] >> sink`` of EmptyOperator tasks."""
    from daskflow.operators.empty import EmptyOperator

    with _dag(dag_id, width + 2) as dag:
        root = EmptyOperator(task_id="root")
        sink = EmptyOperator(task_id="sink")
        middle = [EmptyOperator(task_id=f"t{i}") for i in range(width)]
        root >> middle
        for op in middle:
            op >> sink
    return dag


def daskflow_independent(count: int, dag_id: str, fn: Callable[..., Any] | None = None,
                         *args: Any) -> Any:
    """``count`` unlinked tasks: EmptyOperator, or a PythonOperator calling ``fn(*args)``."""
    from daskflow.operators.empty import EmptyOperator
    from daskflow.operators.python import PythonOperator

    with _dag(dag_id, count) as dag:
        for i in range(count):
            if fn is None:
                EmptyOperator(task_id=f"t{i}")
            else:
                PythonOperator(task_id=f"t{i}", python_callable=fn, op_args=list(args),
                               show_return_value_in_logs=False)
    return dag


def daskflow_handoff(hops: int, megabytes: float, dag_id: str) -> Any:
    """The TaskFlow form of ``raw_handoff``: values move from task to task through Dask."""
    from daskflow import task

    with _dag(dag_id, hops + 2) as dag:
        value = task(tasks.make_array).override(task_id="make_array")(megabytes)
        for i in range(hops):
            value = task(tasks.pass_on).override(task_id=f"pass_on_{i}")(value)
        task(tasks.checksum).override(task_id="checksum")(value)
    return dag
