"""Deferrable sensors and operators on a real cluster: waiting on triggers in the loop.

The first test runs on one worker with one thread: a deferred sensor that
held its thread would keep the task that makes its condition true from ever
running. Operators that defer are defined inside the tests, so that Dask
ships them to the workers by value.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from marker_maker import make_marker_once_waiting

from daskflow import DAG
from daskflow.models.baseoperator import BaseOperator
from daskflow.operators import PythonOperator
from daskflow.sensors import FileSensor
from daskflow.sensors.time import DateTimeSensorAsync, TimeDeltaSensor
from daskflow.store import Store
from daskflow.triggers import DateTimeTrigger, FileTrigger


def test_a_deferred_sensor_holds_no_thread_and_keeps_its_try(one_thread, db_url, tmp_path):
    marker, seen = tmp_path / "_SUCCESS", tmp_path / "seen"
    with DAG("defers", schedule=None) as dag:
        sensor = FileSensor(task_id="marker", filepath=str(marker), deferrable=True,
                            poke_interval=0.2, timeout=120, priority_weight=10)
        PythonOperator(task_id="maker", python_callable=make_marker_once_waiting,
                       op_args=[db_url, "defers", "deferred", str(marker), str(seen)])
        sensor >> PythonOperator(task_id="after", python_callable=lambda: "went on")

    result = dag.test(cluster=one_thread, db=db_url)

    assert seen.read_text() == "deferred"
    assert result.state == "success"
    assert {n: (t.state, t.try_number) for n, t in result.tasks.items()} == {
        "marker": ("success", 1), "maker": ("success", 1), "after": ("success", 1)}
    store = Store(db_url)
    attempts = store.list_attempts("defers", result.run_id, "marker")
    assert [(a.try_number, a.state) for a in attempts] == [(1, "success")]
    made = store.get_task_instance("defers", result.run_id, "maker").end_date
    resumed = store.get_task_instance("defers", result.run_id, "marker")
    # The sensor's try spans the wait: it started before the marker was made.
    assert resumed.start_date < made < resumed.end_date


def test_the_resumed_method_gets_the_event_and_the_kwargs_given_to_defer(dask_client, db_url):
    class Waits(BaseOperator):
        def execute(self, context):
            moment = datetime.now(timezone.utc) + timedelta(seconds=0.5)
            self.defer(trigger=DateTimeTrigger(moment), method_name="finish",
                       kwargs={"note": "kept", "at": moment})

        def finish(self, context, event=None, note=None, at=None):
            return {"event_is_the_moment": event == at, "note": note,
                    "resumed_after": (datetime.now(timezone.utc) - at).total_seconds() >= 0,
                    "try": context["ti"].try_number}

    with DAG("resumes", schedule=None) as dag:
        waits = Waits(task_id="waits")
        PythonOperator(task_id="reads", python_callable=lambda value: value,
                       op_args=[waits.output])

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    stored = {x.key: x.value for x in Store(db_url).list_xcoms("resumes", result.run_id,
                                                                  "reads")}["return_value"]
    assert '"event_is_the_moment": true' in stored
    assert '"note": "kept"' in stored and '"resumed_after": true' in stored
    assert '"try": 1' in stored


def test_a_time_sensor_deferred_until_its_moment_lets_downstream_start_after_it(
        dask_client, db_url):
    target = datetime.now(timezone.utc) + timedelta(seconds=2)
    with DAG("moment", schedule=None) as dag:
        DateTimeSensorAsync(task_id="until", target_time=target.isoformat()) >> \
            PythonOperator(task_id="after", python_callable=lambda: None)

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    after = Store(db_url).get_task_instance("moment", result.run_id, "after")
    assert after.start_date >= target


def test_a_trigger_that_ends_the_task_skips_the_resume(dask_client, db_url):
    class EndsFromTheTrigger(BaseOperator):
        def execute(self, context):
            moment = datetime.now(timezone.utc) + timedelta(seconds=0.5)
            self.defer(trigger=DateTimeTrigger(moment, end_from_trigger=True),
                       method_name="execute_complete")

        def execute_complete(self, context, event=None):
            raise RuntimeError("resumed although the trigger ended the task")

    with DAG("ends", schedule=None) as dag:
        EndsFromTheTrigger(task_id="short") >> \
            PythonOperator(task_id="after", python_callable=lambda: None)

    result = dag.test(cluster=dask_client, db=db_url)

    assert {n: t.state for n, t in result.tasks.items()} == {"short": "success",
                                                            "after": "success"}
    log = Store(db_url).get_log("ends", result.run_id, "short", try_number=1)
    assert "trigger ended it" in log


def test_the_time_sensors_end_from_trigger_option_is_accepted_as_in_airflow():
    with DAG("ends_option", schedule=None):
        sensor = TimeDeltaSensor(task_id="short", delta=timedelta(seconds=1), deferrable=True,
                                 end_from_trigger=True)
    assert sensor.deferrable and sensor.end_from_trigger


@pytest.mark.slow
def test_a_deferred_sensor_past_its_timeout_fails_without_retrying(dask_client, db_url,
                                                                   tmp_path):
    with DAG("waits_in_vain", schedule=None) as dag:
        FileSensor(task_id="never", filepath=str(tmp_path / "never"), deferrable=True,
                   poke_interval=0.2, timeout=1, retries=2)

    result = dag.test(cluster=dask_client, db=db_url)

    never = result.tasks["never"]
    assert (never.state, never.try_number) == ("failed", 1)
    assert "SensorTimeout" in never.error and "timed out" in never.error


@pytest.mark.slow
def test_soft_fail_skips_a_deferred_sensor_that_timed_out(dask_client, db_url, tmp_path):
    with DAG("soft", schedule=None) as dag:
        FileSensor(task_id="never", filepath=str(tmp_path / "never"), deferrable=True,
                   poke_interval=0.2, timeout=1, soft_fail=True)

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.tasks["never"].state == "skipped"


def test_a_failing_trigger_fails_its_task_which_retries_as_configured(dask_client, db_url):
    class DefersOnABrokenTrigger(BaseOperator):
        def execute(self, context):
            self.defer(trigger=FileTrigger("nosuchprotocol://bucket/key"),
                       method_name="execute_complete")

        def execute_complete(self, context, event=None):
            return "never reached"

    with DAG("broken_trigger", schedule=None) as dag:
        DefersOnABrokenTrigger(task_id="broken", retries=1, retry_delay=0)

    result = dag.test(cluster=dask_client, db=db_url)

    broken = result.tasks["broken"]
    assert (broken.state, broken.try_number) == ("failed", 2)
    assert "TaskDeferralError" in broken.error
    assert "FileTrigger" in broken.error and "nosuchprotocol" in broken.error


def test_a_trigger_argument_that_cannot_be_stored_fails_the_task_naming_it(dask_client,
                                                                            db_url):
    class Unstorable(BaseOperator):
        def execute(self, context):
            self.defer(trigger=DateTimeTrigger(datetime.now(timezone.utc)),
                       method_name="execute_complete", kwargs={"lock": object()})

    with DAG("unstorable", schedule=None) as dag:
        Unstorable(task_id="defers")

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.tasks["defers"].state == "failed"
    assert "defer(kwargs=...)['lock']" in result.tasks["defers"].error
