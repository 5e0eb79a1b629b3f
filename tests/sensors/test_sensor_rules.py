"""Sensor rules without a cluster: defaults, waits, time sensors, bad input."""

from __future__ import annotations

import json
import time as time_
from datetime import datetime, time, timedelta, timezone

import pytest

from daskflow import DAG
from daskflow.exceptions import (
    DagDefinitionError,
    SensorTimeout,
    TaskFailedNoRetry,
    TaskReschedule,
    TaskSkipped,
)
from daskflow.sensors import (
    BaseSensorOperator,
    BashSensor,
    DateTimeSensor,
    FileSensor,
    PythonSensor,
    TimeDeltaSensor,
    TimeSensor,
)


def test_defaults_are_airflows():
    sensor = PythonSensor(task_id="s", python_callable=lambda: True)
    assert (sensor.poke_interval, sensor.timeout, sensor.mode, sensor.soft_fail,
            sensor.exponential_backoff, sensor.max_wait) == (60, 604800, "poke", False,
                                                             False, None)


def test_exponential_backoff_doubles_up_to_max_wait():
    sensor = PythonSensor(task_id="s", python_callable=lambda: True, poke_interval=5,
                          exponential_backoff=True, max_wait=timedelta(seconds=30))
    assert [sensor.next_wait(n) for n in (1, 2, 3, 4, 5)] == [5, 10, 20, 30, 30]


def test_reschedule_mode_asks_for_the_next_poke_and_keeps_the_first_pokes_time():
    sensor = PythonSensor(task_id="s", python_callable=lambda: False, poke_interval=7,
                          mode="reschedule")
    first = time_.time() - 10
    sensor.first_poke, sensor.pokes = first, 2
    with pytest.raises(TaskReschedule) as raised:
        sensor.execute({})
    assert raised.value.first_poke == first and raised.value.pokes == 3
    assert raised.value.at == pytest.approx(time_.time() + 7, abs=5)


def test_past_the_timeout_a_sensor_fails_or_skips():
    for soft_fail, error in ((False, SensorTimeout), (True, TaskSkipped)):
        sensor = PythonSensor(task_id="s", python_callable=lambda: False, timeout=5,
                              mode="reschedule", soft_fail=soft_fail)
        sensor.first_poke = 0.0  # long ago
        with pytest.raises(error, match="timed out"):
            sensor.execute({})


def test_a_bad_mode_or_interval_is_refused_naming_the_task():
    with pytest.raises(DagDefinitionError, match="'s'.*mode"):
        PythonSensor(task_id="s", python_callable=lambda: True, mode="wait")
    with pytest.raises(DagDefinitionError, match="'s'.*poke_interval"):
        PythonSensor(task_id="s", python_callable=lambda: True, poke_interval=-1)


def test_file_sensor_joins_a_relative_path_to_its_connections_path(tmp_path, monkeypatch):
    monkeypatch.setenv("DASKFLOW_CONN_INBOX", json.dumps(
        {"conn_type": "fs", "extra": {"path": str(tmp_path / "inbox")}}))
    sensor = FileSensor(task_id="f", filepath="day=1/_SUCCESS", fs_conn_id="inbox")
    assert not sensor.poke({})
    (tmp_path / "inbox" / "day=1").mkdir(parents=True)
    (tmp_path / "inbox" / "day=1" / "_SUCCESS").touch()
    assert sensor.poke({})


def test_file_sensor_finds_paths_and_globs_on_fsspec_file_systems(tmp_path):
    import fsspec

    sensor = FileSensor(task_id="f", filepath=str(tmp_path / "out" / "*.csv"))
    assert not sensor.poke({})
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.csv").write_text("1")
    assert sensor.poke({})
    fs = fsspec.filesystem("memory")
    memory = FileSensor(task_id="m", filepath="memory://bucket/_SUCCESS")
    assert not memory.poke({})
    fs.pipe("/bucket/_SUCCESS", b"")
    assert memory.poke({})


def test_time_sensors_measure_from_the_data_interval_end():
    now = datetime.now(timezone.utc)
    past, future = {"data_interval_end": now - timedelta(hours=2)}, {
        "data_interval_end": now + timedelta(hours=2)}
    delta = TimeDeltaSensor(task_id="d", delta=timedelta(hours=1))
    assert delta.poke(past) and not delta.poke(future)
    at = DateTimeSensor(task_id="t", target_time=(now - timedelta(minutes=1)).isoformat())
    assert at.poke({})
    later = DateTimeSensor(task_id="l", target_time=now + timedelta(minutes=5))
    assert not later.poke({})
    midnight = TimeSensor(task_id="m", target_time=time(0, 0))
    assert midnight.poke({"data_interval_end": now - timedelta(days=1)})


def test_a_sensor_without_poke_says_so():
    with DAG("d", schedule=None):
        bare = BaseSensorOperator(task_id="bare")
    with pytest.raises(NotImplementedError, match="BaseSensorOperator must implement poke"):
        bare.execute({})


def test_bash_sensor_waits_on_non_zero_and_fails_on_an_unexpected_code(tmp_path, capsys):
    flag = tmp_path / "flag"
    sensor = BashSensor(task_id="b", bash_command=f"test -e {flag}")
    assert not sensor.poke({})
    flag.touch()
    assert sensor.poke({})
    strict = BashSensor(task_id="s", bash_command="exit 3", retry_exit_code=1)
    with pytest.raises(TaskFailedNoRetry, match="return code 3"):
        strict.poke({})
    waiting = BashSensor(task_id="w", bash_command="echo not yet; exit 1", retry_exit_code=1)
    assert not waiting.poke({})
    assert "not yet" in capsys.readouterr().out


def test_deferrable_is_refused_where_the_check_is_user_code_with_the_way_to_wait():
    assert FileSensor(task_id="f", filepath="/tmp/x", deferrable=True).deferrable
    with pytest.raises(DagDefinitionError, match="'p'.*PythonSensor cannot be deferrable"
                                                 ".*mode='reschedule'"):
        PythonSensor(task_id="p", python_callable=lambda: True, deferrable=True)


def test_a_deferrable_file_sensor_takes_no_other_connection():
    with pytest.raises(DagDefinitionError, match="'f'.*deferrable FileSensor takes no fs_conn_id"):
        FileSensor(task_id="f", filepath="s3://b/k", fs_conn_id="lake", deferrable=True)
    assert FileSensor(task_id="g", filepath="s3://b/k", deferrable=True).deferrable
