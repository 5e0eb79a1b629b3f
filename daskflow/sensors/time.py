"""Sensors that wait for a moment: a delay after the data interval, a time of day, a date.

As in Airflow, the moment is measured from the run's data interval end (the
time the interval it processes is over), not from when the task starts.
With ``deferrable=True`` (or the ``...Async`` classes) the wait is a
:class:`~daskflow.triggers.DateTimeTrigger` in the scheduler's process: no
worker thread is held, and the task resumes within milliseconds of the moment.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any

from daskflow.sensors.base import BaseSensorOperator
from daskflow.triggers.temporal import DateTimeTrigger


def _now() -> datetime:
    return datetime.now(timezone.utc)


class _MomentSensor(BaseSensorOperator):
    """A sensor satisfied from a moment on; deferrable by waiting on that moment."""

    supports_deferral = True

    def __init__(self, *, end_from_trigger: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.end_from_trigger = bool(end_from_trigger)

    def moment(self, context: dict[str, Any]) -> datetime:
        raise NotImplementedError

    def poke(self, context: dict[str, Any]) -> bool:
        return _now() >= self.moment(context)

    def execute(self, context: dict[str, Any]) -> Any:
        if not self.deferrable:
            return super().execute(context)
        moment = self.moment(context)
        if _now() >= moment:
            return None
        self.defer(trigger=DateTimeTrigger(moment, end_from_trigger=self.end_from_trigger),
                   method_name="execute_complete", timeout=self.timeout)


class TimeDeltaSensor(_MomentSensor):
    """Waits until ``delta`` after the run's data interval end."""

    def __init__(self, *, delta: timedelta, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delta = delta

    def moment(self, context: dict[str, Any]) -> datetime:
        return context["data_interval_end"] + self.delta


class TimeSensor(_MomentSensor):
    """Waits until ``target_time`` (a time of day, UTC unless it has a tz) on the day
    the run's data interval ends."""

    def __init__(self, *, target_time: time, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_time = target_time

    def moment(self, context: dict[str, Any]) -> datetime:
        day = context["data_interval_end"].astimezone(self.target_time.tzinfo or timezone.utc)
        return datetime.combine(day.date(), self.target_time.replace(tzinfo=None),
                                tzinfo=self.target_time.tzinfo or timezone.utc)


class DateTimeSensor(_MomentSensor):
    """Waits until ``target_time``: a datetime, or an ISO string (templated)."""

    template_fields = ("target_time",)

    def __init__(self, *, target_time: datetime | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(target_time, (datetime, str)):
            raise TypeError(f"task {self.task_id!r}: target_time must be a datetime or a "
                            f"string, got {type(target_time).__name__}")
        self.target_time = target_time

    def moment(self, context: dict[str, Any]) -> datetime:
        target = self.target_time
        if isinstance(target, str):
            target = datetime.fromisoformat(target.replace("Z", "+00:00"))
        if target.tzinfo is None:
            target = target.replace(tzinfo=timezone.utc)
        return target


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """:class:`TimeDeltaSensor` with ``deferrable=True`` (Airflow's async name)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})


class TimeSensorAsync(TimeSensor):
    """:class:`TimeSensor` with ``deferrable=True`` (Airflow's async name)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})


class DateTimeSensorAsync(DateTimeSensor):
    """:class:`DateTimeSensor` with ``deferrable=True`` (Airflow's async name)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})
