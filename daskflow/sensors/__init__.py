"""Sensors: tasks that wait for something outside (``sensors/base.py``)."""

from daskflow.sensors.base import BaseSensorOperator, PokeReturnValue
from daskflow.sensors.bash import BashSensor
from daskflow.sensors.external_task import ExternalTaskMarker, ExternalTaskSensor
from daskflow.sensors.filesystem import FileSensor
from daskflow.sensors.python import PythonSensor
from daskflow.sensors.sql import SqlSensor
from daskflow.sensors.time import (
    DateTimeSensor,
    DateTimeSensorAsync,
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
    TimeSensor,
    TimeSensorAsync,
)

__all__ = ["BaseSensorOperator", "BashSensor", "DateTimeSensor", "DateTimeSensorAsync",
           "ExternalTaskMarker", "ExternalTaskSensor", "FileSensor", "PokeReturnValue",
           "PythonSensor", "SqlSensor", "TimeDeltaSensor", "TimeDeltaSensorAsync", "TimeSensor",
           "TimeSensorAsync"]
