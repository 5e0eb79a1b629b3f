"""``ExternalTaskSensor`` on a real cluster, reading the store its run is recorded in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daskflow import DAG
from daskflow.exceptions import DagDefinitionError
from daskflow.operators import BashOperator, EmptyOperator
from daskflow.sensors import ExternalTaskSensor

DAY = datetime(2025, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
def producer_ran(dask_client, db_url) -> str:
    """The DAG ``producer`` ran for DAY: ``made`` succeeded, ``broke`` failed."""
    with DAG("producer", schedule="@daily", start_date=DAY) as producer:
        EmptyOperator(task_id="made")
        BashOperator(task_id="broke", bash_command="exit 1")
    assert producer.test(logical_date=DAY, cluster=dask_client, db=db_url).state == "failed"
    return db_url


def _sense(dask_client, db_url, **kwargs):
    with DAG("consumer", schedule="@daily", start_date=DAY) as consumer:
        ExternalTaskSensor(task_id="wait", external_dag_id="producer", poke_interval=0.2,
                           timeout=3, mode="reschedule", **kwargs)
    result = consumer.test(logical_date=DAY, cluster=dask_client, db=db_url)
    return result.tasks["wait"]


def test_it_waits_for_a_task_that_succeeded(dask_client, producer_ran):
    assert _sense(dask_client, producer_ran, external_task_id="made").state == "success"


def test_a_task_in_a_failed_state_fails_it_at_once_or_skips_it(dask_client, producer_ran):
    failed = _sense(dask_client, producer_ran, external_task_id="broke",
                    failed_states=["failed", "upstream_failed"])
    assert failed.state == "failed" and "reached a failed state" in failed.error
    assert "timed out" not in failed.error
    skipped = _sense(dask_client, producer_ran, external_task_id="broke",
                     failed_states=["failed"], soft_fail=True)
    assert skipped.state == "skipped"


@pytest.mark.slow
def test_the_run_itself_and_shifted_dates(dask_client, producer_ran):
    run_done = _sense(dask_client, producer_ran, allowed_states=["failed"])
    assert run_done.state == "success"
    day_before = _sense(dask_client, producer_ran, external_task_id="made",
                        execution_delta=timedelta(days=1))
    assert day_before.state == "failed" and "timed out" in day_before.error
    by_function = _sense(dask_client, producer_ran, external_task_id="made",
                         execution_date_fn=lambda logical: [logical])
    assert by_function.state == "success"


def test_check_existence_fails_for_an_unknown_dag(dask_client, db_url):
    with DAG("lonely", schedule=None) as lonely:
        ExternalTaskSensor(task_id="wait", external_dag_id="nobody", check_existence=True,
                           poke_interval=0.2, timeout=30)
    wait = lonely.test(cluster=dask_client, db=db_url).tasks["wait"]
    assert wait.state == "failed" and "'nobody' does not exist" in wait.error


def test_bad_arguments_are_refused_naming_the_task():
    with pytest.raises(DagDefinitionError, match="'wait'.*not both"):
        ExternalTaskSensor(task_id="wait", external_dag_id="p", external_task_id="a",
                           external_task_ids=["b"])
    with pytest.raises(DagDefinitionError, match="'wait'.*two of"):
        ExternalTaskSensor(task_id="wait", external_dag_id="p", external_task_id="a",
                           allowed_states=["success"], failed_states=["success"])
    with pytest.raises(DagDefinitionError, match="'wait'.*not DAG run states"):
        ExternalTaskSensor(task_id="wait", external_dag_id="p", allowed_states=["skipped"])


def _record_success_once_deferred(db: str) -> None:
    """Plays the producer: its task succeeds once the consumer's sensor is deferred."""
    import time

    from daskflow.store import Store, TaskUpdate

    store = Store(db)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = store.list_dag_runs("consumer_deferred")[0]
        ti = store.get_task_instance("consumer_deferred", run.run_id, "wait")
        if ti is not None and ti.state == "deferred":
            break
        time.sleep(0.1)
    store.create_dag_run("late_producer", "late", DAY, DAY, DAY, "manual", {},
                         state="running")
    store.apply_updates(task_updates=[TaskUpdate("late_producer", "late", "made",
                                                 state="success")])


def test_a_deferred_sensor_is_released_when_the_external_task_succeeds_later(
        dask_client, db_url):
    from daskflow.operators import PythonOperator
    from daskflow.store import Store

    Store(db_url).init()
    with DAG("consumer_deferred", schedule="@daily", start_date=DAY) as consumer:
        ExternalTaskSensor(task_id="wait", external_dag_id="late_producer",
                           external_task_id="made", poke_interval=0.2, timeout=60,
                           deferrable=True) >> EmptyOperator(task_id="after")
        PythonOperator(task_id="producer", python_callable=_record_success_once_deferred,
                       op_args=[db_url])
    result = consumer.test(logical_date=DAY, cluster=dask_client, db=db_url)

    assert {n: t.state for n, t in result.tasks.items()} == {
        "wait": "success", "after": "success", "producer": "success"}, result.tasks["wait"].error
    assert result.tasks["wait"].try_number == 1


def test_a_deferred_sensor_fails_or_skips_on_a_failed_external_task(dask_client, producer_ran):
    failed = _sense(dask_client, producer_ran, external_task_id="broke", deferrable=True,
                    failed_states=["failed"])
    assert failed.state == "failed" and "reached a failed state" in failed.error
    skipped = _sense(dask_client, producer_ran, external_task_id="broke", deferrable=True,
                     failed_states=["failed"], soft_fail=True)
    assert skipped.state == "skipped"
