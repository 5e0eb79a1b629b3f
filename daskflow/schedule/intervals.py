"""Data intervals and the description of one run to create.

A run does not process "the data of its start time" but the data of a period,
its *data interval* ``[start, end)``. For a periodic schedule the run is created
once that period is over (``run_after == end``) and is named by the period's
start (``logical_date == start``), exactly as in Airflow 2 and later. Both
records hold aware UTC datetimes only: a naive value is taken to be UTC (as
Airflow's default ``default_timezone = utc`` does) and an aware one is converted,
so two intervals compare equal whenever they cover the same instants.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from daskflow.schedule.errors import ScheduleError

UTC = timezone.utc


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime; a naive value is read as UTC.

    >>> as_utc(datetime(2024, 1, 1, 12))
    datetime.datetime(2024, 1, 1, 12, 0, tzinfo=datetime.timezone.utc)
    """
    if not isinstance(value, datetime):
        raise ScheduleError(f"expected a datetime, got {type(value).__name__} {value!r}")
    if value.utcoffset() is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@dataclass(frozen=True)
class DataInterval:
    """The period ``[start, end)`` whose data one run processes.

    >>> DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2)).end
    datetime.datetime(2024, 1, 2, 0, 0, tzinfo=datetime.timezone.utc)
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", as_utc(self.start))
        object.__setattr__(self, "end", as_utc(self.end))
        if self.end < self.start:
            raise ScheduleError(
                f"data interval ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()})"
            )

    @classmethod
    def exact(cls, at: datetime) -> DataInterval:
        """The zero-length interval at ``at`` (``@once``, manual-only DAGs)."""
        return cls(at, at)


@dataclass(frozen=True)
class RunInfo:
    """One run a timetable asks for: its name, its data and when it may start.

    >>> info = RunInfo.for_interval(DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2)))
    >>> info.logical_date.day, info.run_after.day
    (1, 2)
    """

    logical_date: datetime
    data_interval: DataInterval
    run_after: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "logical_date", as_utc(self.logical_date))
        object.__setattr__(self, "run_after", as_utc(self.run_after))

    @classmethod
    def for_interval(cls, interval: DataInterval) -> RunInfo:
        """A periodic run: named by the interval start, due once it has ended."""
        return cls(interval.start, interval, interval.end)

    @classmethod
    def exact(cls, at: datetime) -> RunInfo:
        """A run at one instant with a zero-length interval, due at that instant."""
        return cls.for_interval(DataInterval.exact(at))
