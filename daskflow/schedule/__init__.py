"""Schedules and data intervals: which runs a DAG asks for, and when.

Pure and clock-free: every function takes the current time as an argument, so
the scheduler loop, ``dags next-runs`` and the tests all see the same answers.

>>> from datetime import datetime
>>> tt = timetable_for("@daily")
>>> tt.infer_manual_data_interval(datetime(2024, 1, 25, 1)).start.day
24
"""

from daskflow.schedule.errors import ScheduleError
from daskflow.schedule.factory import timetable_for
from daskflow.schedule.intervals import DataInterval, RunInfo
from daskflow.schedule.timetable import (
    CronTimetable,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
    next_runs,
    validate_dates,
)

__all__ = [
    "CronTimetable",
    "DataInterval",
    "DeltaTimetable",
    "NullTimetable",
    "OnceTimetable",
    "RunInfo",
    "ScheduleError",
    "Timetable",
    "next_runs",
    "timetable_for",
    "validate_dates",
]
