"""Tasks that break the machinery around them: odd ids, values that cannot travel,
exceptions that cannot be printed, floods of output, reports that cannot be sent.

Each must end as one clear task outcome; nothing may hang or loop.
"""

from __future__ import annotations

import sys
import threading
from enum import Enum

import cloudpickle

from daskflow import DAG, task
from daskflow.execution.node import _emit_end
from daskflow.execution.report import Report
from daskflow.models.trigger_rules import TriggerRule
from daskflow.operators import EmptyOperator, PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Pool(str, Enum):
    SMALL = "small_pool"


def test_ids_given_as_str_subclasses_run_as_plain_strings(dask_client, db_url):
    with DAG(Pool.SMALL) as dag:  # a str-subclass DAG id too
        first = EmptyOperator(task_id=TriggerRule.ALL_SUCCESS)
        second = EmptyOperator(task_id="b", pool=Pool.SMALL)
        first >> second

    assert type(dag.dag_id) is str and type(first.task_id) is str and type(second.pool) is str
    Store(db_url).init()
    Store(db_url).set_pool("small_pool", 1)
    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    assert {n: t.state for n, t in result.tasks.items()} == {"all_success": "success",
                                                             "b": "success"}


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def _raise_unprintable() -> None:
    print("about to fail")
    raise Unprintable()


def test_an_exception_whose_str_raises_keeps_its_type_traceback_and_log(dask_client, db_url):
    with DAG("unprintable") as dag:
        PythonOperator(task_id="boom", python_callable=_raise_unprintable)

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.tasks["boom"].state == "failed"
    assert result.tasks["boom"].error.startswith("Unprintable: <str() of the exception raised")
    log = Store(db_url).get_log("unprintable", result.run_id, "boom")
    assert "about to fail" in log
    assert "_raise_unprintable" in log and "Unprintable" in log  # the traceback


def test_a_value_that_cannot_be_pickled_fails_its_own_task_at_once(dask_client, db_url):
    with DAG("lock") as dag:
        @task(retries=0)
        def make():
            return threading.Lock()

        @task
        def use(value):
            return str(value)

        use(make())

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "failed"
    assert result.tasks["make"].state == "failed"
    assert "cannot be pickled (_thread.lock)" in result.tasks["make"].error
    assert result.tasks["use"].state == "upstream_failed"


def _flood() -> None:
    print("x" * 5_000_000)
    print("after the flood")


def test_the_log_cap_counts_bytes_however_they_are_written(dask_client, db_url):
    import dask

    with DAG("flood") as dag:
        PythonOperator(task_id="flood", python_callable=_flood)

    with dask.config.set({"daskflow.log-max-bytes": 100_000}):
        result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    log = Store(db_url).get_log("flood", result.run_id, "flood")
    assert len(log.encode()) < 101_000
    assert "[log truncated: 4,900,0" in log and "daskflow.log-max-bytes" in log
    assert "after the flood" not in log


def _send_unserializable_report(topic: str) -> str | None:
    report = Report(key="k", dag_id="d", run_id="r", task_id="t", map_index=-1, try_number=1,
                    kind="end", state="success", start=1.0, end=2.0,
                    log="the task's own output\n", xcom={"return_value": object()})
    return _emit_end(topic, report)


def test_a_report_that_cannot_be_sent_fails_the_task_once_with_a_plain_report(dask_client):
    received: list[dict] = []
    arrived = threading.Event()

    def on_event(event):
        received.append(event[1])
        arrived.set()

    dask_client.subscribe_topic("hostile-report", on_event)
    try:
        problem = dask_client.submit(_send_unserializable_report, "hostile-report",
                                     pure=False).result(timeout=60)
        assert arrived.wait(30)
    finally:
        dask_client.unsubscribe_topic("hostile-report")

    assert problem.startswith("daskflow could not report the end of task 't'")
    assert len(received) == 1
    report = received[0]
    assert report["state"] == "failed" and report["error"] == problem
    assert report["log"].startswith("the task's own output\n")
