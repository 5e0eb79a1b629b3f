"""Sensors that wait for a moment: a delay after the data interval, a time of day, a date.

As in Airflow, the moment is measured from the run's data interval end (the
time the interval it processes is over), not from when the task starts.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from daskflow.sensors.base import BaseSensorOperator


def _now() -> datetime:
    return datetime.now(timezone.utc)


class TimeDeltaSensor(BaseSensorOperator):
    """Waits until ``delta`` after the run's data interval end."""

    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def poke(self, context: dict[str, Any]) -> bool:
        return _now() >= context["data_interval_end"] + self.delta


class TimeSensor(BaseSensorOperator):
    """Waits until ``target_time`` (a time of day, UTC unless it has a tz) on the day
    the run's data interval ends."""

    def __init__(self, *, target_time: time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_time = target_time

    def poke(self, context: dict[str, Any]) -> bool:
        day = context["data_interval_end"].astimezone(self.target_time.tzinfo or timezone.utc)
        target = datetime.combine(day.date(), self.target_time.replace(tzinfo=None),
                                  tzinfo=self.target_time.tzinfo or timezone.utc)
        return _now() >= target


class DateTimeSensor(BaseSensorOperator):
    """Waits until ``target_time``: a datetime, or an ISO string (templated)."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: datetime | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, (datetime, str)):
            raise TypeError(f"task {self.task_id!r}: target_time must be a datetime or a "
                            f"string, got {type(target_time).__name__}")
        self.target_time = target_time

    def poke(self, context: dict[str, Any]) -> bool:
        target = self.target_time
        if isinstance(target, str):
            target = datetime.fromisoformat(target.replace("Z", "+00:00"))
        if target.tzinfo is None:
            target = target.replace(tzinfo=timezone.utc)
        return _now() >= target
