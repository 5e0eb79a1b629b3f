"""Sensors on a real cluster: the two ways of waiting, timeouts, soft_fail.

The reschedule test runs on one worker with one thread: a sensor that held
its thread while waiting would keep the task that makes its condition true
from ever running.
"""

from __future__ import annotations

import pytest
from marker_maker import make_marker_once_waiting

from daskflow import DAG
from daskflow.operators import PythonOperator
from daskflow.sensors import FileSensor, PythonSensor
from daskflow.store import Store


def test_a_rescheduled_sensor_holds_no_thread_and_keeps_its_try(one_thread, db_url, tmp_path):
    marker, seen = tmp_path / "_SUCCESS", tmp_path / "seen"
    with DAG("waits", schedule=None) as dag:
        sensor = FileSensor(task_id="marker", filepath=str(marker), mode="reschedule",
                            poke_interval=0.5, timeout=120, priority_weight=10)
        PythonOperator(task_id="maker", python_callable=make_marker_once_waiting,
                       op_args=[db_url, "waits", "up_for_reschedule", str(marker), str(seen)])
        sensor >> PythonOperator(task_id="after", python_callable=lambda: "went on")

    result = dag.test(cluster=one_thread, db=db_url)

    assert seen.read_text() == "up_for_reschedule"
    assert result.state == "success"
    assert {n: (t.state, t.try_number) for n, t in result.tasks.items()} == {
        "marker": ("success", 1), "maker": ("success", 1), "after": ("success", 1)}
    attempts = Store(db_url).list_attempts("waits", result.run_id, "marker")
    assert [(a.try_number, a.state) for a in attempts] == [(1, "success")]


def test_a_poking_sensor_waits_inside_its_task(dask_client, db_url, tmp_path):
    pokes = tmp_path / "pokes"

    def third_time_lucky() -> bool:
        with open(pokes, "a") as f:
            f.write("poke\n")
        return len(pokes.read_text().splitlines()) >= 3

    with DAG("pokes", schedule=None) as dag:
        PythonSensor(task_id="lucky", python_callable=third_time_lucky, poke_interval=0.2)

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.tasks["lucky"].state == "success"
    assert len(pokes.read_text().splitlines()) == 3


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_a_sensor_past_its_timeout_fails_without_retrying(dask_client, db_url, mode):
    with DAG("late", schedule=None) as dag:
        PythonSensor(task_id="never", python_callable=lambda: False, poke_interval=0.2,
                     timeout=1, mode=mode, retries=2, retry_delay=0)

    result = dag.test(cluster=dask_client, db=db_url)

    never = result.tasks["never"]
    assert (never.state, never.try_number) == ("failed", 1)
    assert "SensorTimeout" in never.error and "timed out" in never.error


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["poke", "reschedule"])
def test_soft_fail_skips_a_sensor_that_timed_out(dask_client, db_url, mode):
    with DAG("soft", schedule=None) as dag:
        PythonSensor(task_id="never", python_callable=lambda: False, poke_interval=0.2,
                     timeout=1, mode=mode, soft_fail=True) >> PythonOperator(
            task_id="after", python_callable=lambda: None)

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.tasks["never"].state == "skipped"
    assert result.tasks["after"].state == "skipped"


def test_a_task_sensor_hands_its_value_downstream(dask_client, db_url):
    from daskflow import task
    from daskflow.sensors import PokeReturnValue

    with DAG("decorated", schedule=None) as dag:
        @task.sensor(poke_interval=0.2, timeout=30, mode="reschedule")
        def ready() -> PokeReturnValue:
            return PokeReturnValue(is_done=True, xcom_value={"rows": 3})

        @task
        def use(found: dict) -> int:
            return found["rows"] * 2

        use(ready())

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    xcoms = Store(db_url).list_xcoms("decorated", result.run_id, "use")
    assert [(x.key, x.value) for x in xcoms] == [("return_value", "6")]
