"""Timetables: which runs a DAG's schedule asks for, given the time.

A timetable answers three questions, always with the time passed in:

- ``next_run(last, ...)``: the next run the scheduler loop should create after
  the last *scheduled* run (``last`` is that run's data interval, None before the
  first). It returns the run even when its ``run_after`` is still in the future;
  the loop compares ``run_after`` with its clock. None means "never again"
  (no schedule, ``@once`` done, past ``end_date``).
- ``infer_manual_data_interval(run_after)``: the data interval of a manual trigger.
- ``intervals_between(start, end)``: every interval a backfill from ``start`` to
  ``end`` covers (logical dates in ``[start, end]``, both ends included).

The rules follow Airflow's data-interval timetables:

- cron: intervals run between consecutive fire times; the first starts at the
  first fire time at or after ``start_date``. With ``catchup=False`` runs start
  no earlier than the latest interval that is already complete at ``now``.
- timedelta: intervals ``[start_date + k*delta, start_date + (k+1)*delta)`` in
  elapsed time. Where Airflow's ``catchup=False`` starts a fresh interval at
  ``now - delta``, daskflow stays on the ``start_date`` grid so logical dates do
  not depend on when the loop happened to look (needed for the unique
  (dag_id, logical_date) rule). Use cron for "every day at local midnight".
- ``@once``: one run with a zero-length interval at ``start_date``, whatever
  ``catchup`` says. ``None``: never scheduled, manual triggers only.

A DAG without ``start_date`` is not scheduled with ``catchup=True`` (there is
nowhere to catch up from), again as in Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo

from daskflow.schedule.cron import CronClock, cron_expression, resolve_timezone
from daskflow.schedule.errors import ScheduleError
from daskflow.schedule.intervals import UTC, DataInterval, RunInfo, as_utc


def validate_dates(
    start_date: datetime | None, end_date: datetime | None, *, dag_id: str | None = None
) -> tuple[datetime | None, datetime | None]:
    """``(start_date, end_date)`` in UTC, or ``ScheduleError`` if end precedes start.

    >>> start, end = datetime(2024, 1, 2), datetime(2024, 1, 1)
    >>> validate_dates(start, end, dag_id="etl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    daskflow.schedule.errors.ScheduleError: DAG 'etl': end_date 2024-01-01... is before ...
    """
    start = None if start_date is None else as_utc(start_date)
    end = None if end_date is None else as_utc(end_date)
    if start is not None and end is not None and end < start:
        raise ScheduleError(
            f"end_date {end.isoformat()} is before start_date {start.isoformat()}",
            dag_id=dag_id,
        )
    return start, end


class Timetable:
    """Base class of schedules; subclass it to pass a custom schedule to a DAG.

    ``periodic`` says whether runs repeat; ``can_be_scheduled`` is False for
    timetables that never create runs on their own.
    """

    description: str = "custom timetable"
    periodic: bool = False
    can_be_scheduled: bool = True

    def next_run(
        self,
        last: DataInterval | None,
        *,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> RunInfo | None:
        """The next run to create after ``last``; None if there will never be one."""
        raise NotImplementedError(f"{type(self).__name__} must implement next_run()")

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The data interval of a run triggered by hand at ``run_after``."""
        return DataInterval.exact(run_after)

    def intervals_between(self, start: datetime, end: datetime) -> list[DataInterval]:
        """Intervals whose logical date lies in ``[start, end]``, in order (backfill)."""
        runs = next_runs(
            self, start_date=start, end_date=end, catchup=True, after=None,
            count=None, now=as_utc(end),
        )
        return [run.data_interval for run in runs]


def next_runs(
    timetable: Timetable,
    *,
    start_date: datetime | None,
    end_date: datetime | None,
    catchup: bool,
    after: DataInterval | None,
    count: int | None,
    now: datetime,
) -> list[RunInfo]:
    """Up to ``count`` runs (all of them when ``count`` is None) following ``after``.

    >>> runs = next_runs(CronTimetable("@daily"), start_date=datetime(2024, 1, 1),
    ...                  end_date=None, catchup=True, after=None, count=2, now=datetime(2024, 1, 1))
    >>> [run.logical_date.day for run in runs]
    [1, 2]
    """
    if count is None and end_date is None:
        raise ScheduleError("next_runs() needs a count or an end_date to know when to stop")
    runs: list[RunInfo] = []
    last = after
    while count is None or len(runs) < count:
        info = timetable.next_run(
            last, start_date=start_date, end_date=end_date, catchup=catchup, now=now
        )
        if info is None:
            break
        if last is not None and info.logical_date <= last.start:
            raise ScheduleError(
                f"{timetable!r} returned a run at {info.logical_date.isoformat()}, "
                f"not after the previous one at {last.start.isoformat()}"
            )
        runs.append(info)
        last = info.data_interval
    return runs


@dataclass(frozen=True)
class NullTimetable(Timetable):
    """``schedule=None``: never scheduled; every run is triggered by hand."""

    description = "never, manual triggers only"
    can_be_scheduled = False

    def next_run(
        self,
        last: DataInterval | None,
        *,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> RunInfo | None:
        validate_dates(start_date, end_date)
        return None


@dataclass(frozen=True)
class OnceTimetable(Timetable):
    """``schedule="@once"``: one run at ``start_date``, with or without catchup."""

    description = "once, at start_date"

    def next_run(
        self,
        last: DataInterval | None,
        *,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> RunInfo | None:
        start, end = validate_dates(start_date, end_date)
        if last is not None or start is None:
            return None
        if end is not None and start > end:
            return None
        return RunInfo.exact(start)


class _PeriodicTimetable(Timetable):
    """Shared rules of cron and timedelta schedules; subclasses supply the grid."""

    periodic = True

    def next_run(
        self,
        last: DataInterval | None,
        *,
        start_date: datetime | None,
        end_date: datetime | None,
        catchup: bool,
        now: datetime,
    ) -> RunInfo | None:
        start_date, end_date = validate_dates(start_date, end_date)
        start = self._first_start(last, start_date)
        if not catchup:
            anchor = start_date or (last.end if last is not None else None)
            latest = self._latest_complete_start(as_utc(now), anchor)
            start = latest if start is None else max(start, latest)
        if start is None or (end_date is not None and start > end_date):
            return None
        return RunInfo.for_interval(DataInterval(start, self._after(start)))

    def _first_start(
        self, last: DataInterval | None, start_date: datetime | None
    ) -> datetime | None:
        if last is not None:
            return self._successor(last)
        if start_date is None:
            return None
        return self._align(start_date)

    def _align(self, t: datetime) -> datetime:
        """The first interval start at or after ``t``."""
        raise NotImplementedError

    def _after(self, start: datetime) -> datetime:
        """The end of the interval starting at ``start``."""
        raise NotImplementedError

    def _successor(self, last: DataInterval) -> datetime:
        """The start of the interval following ``last``."""
        raise NotImplementedError

    def _latest_complete_start(self, now: datetime, anchor: datetime | None) -> datetime:
        """The start of the latest interval that ended at or before ``now``."""
        raise NotImplementedError


@dataclass(frozen=True)
class CronTimetable(_PeriodicTimetable):
    """Runs between consecutive fire times of a cron expression or preset.

    ``timezone`` is the zone whose wall clock the expression is read on (a DAG
    passes its ``start_date``'s zone); see ``daskflow.schedule.cron`` for DST.

    >>> tt = CronTimetable("@daily", "Europe/Amsterdam")
    >>> run = tt.next_run(None, start_date=datetime(2024, 6, 1, 12), end_date=None,
    ...                   catchup=True, now=datetime(2024, 6, 5))
    >>> print(run.data_interval.start, run.run_after)
    2024-06-01 22:00:00+00:00 2024-06-02 22:00:00+00:00
    """

    expression: str
    timezone: tzinfo | str | None = UTC
    _clock: CronClock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.expression, str):
            raise ScheduleError(f"cron expression must be a string, got {self.expression!r}")
        zone = resolve_timezone(self.timezone)
        object.__setattr__(self, "timezone", zone)
        object.__setattr__(self, "_clock", CronClock(cron_expression(self.expression), zone))

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"{self.expression} ({self.timezone})"

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The latest complete interval ending at or before ``run_after``."""
        end = self._clock.at_or_before(as_utc(run_after))
        return DataInterval(self._clock.prev_before(end), end)

    def _align(self, t: datetime) -> datetime:
        return self._clock.first_at_or_after(as_utc(t))

    def _after(self, start: datetime) -> datetime:
        return self._clock.next_after(start)

    def _successor(self, last: DataInterval) -> datetime:
        start = self._clock.at_or_after(last.end)
        return start if start > last.start else self._clock.next_after(last.start)

    def _latest_complete_start(self, now: datetime, anchor: datetime | None) -> datetime:
        return self._clock.prev_before(self._clock.at_or_before(now))


@dataclass(frozen=True)
class DeltaTimetable(_PeriodicTimetable):
    """Runs every ``delta`` of elapsed time, on a grid anchored at ``start_date``.

    >>> tt = DeltaTimetable(timedelta(hours=6))
    >>> [i.start.hour for i in tt.intervals_between(datetime(2024, 1, 1), datetime(2024, 1, 1, 12))]
    [0, 6, 12]
    """

    delta: timedelta

    def __post_init__(self) -> None:
        if not isinstance(self.delta, timedelta):
            raise ScheduleError(f"delta must be a datetime.timedelta, got {self.delta!r}")
        if self.delta <= timedelta(0):
            raise ScheduleError(f"schedule timedelta must be positive, got {self.delta!r}")

    @property
    def description(self) -> str:  # type: ignore[override]
        return f"every {self.delta}"

    def infer_manual_data_interval(self, run_after: datetime) -> DataInterval:
        """The ``delta`` just before ``run_after``."""
        end = as_utc(run_after)
        return DataInterval(end - self.delta, end)

    def _align(self, t: datetime) -> datetime:
        return t

    def _after(self, start: datetime) -> datetime:
        return start + self.delta

    def _successor(self, last: DataInterval) -> datetime:
        return last.end if last.end > last.start else last.start + self.delta

    def _latest_complete_start(self, now: datetime, anchor: datetime | None) -> datetime:
        if anchor is None:
            return now - self.delta
        complete = (now - anchor) // self.delta
        return anchor + (complete - 1) * self.delta
