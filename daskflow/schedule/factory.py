"""Turn the ``schedule=`` argument of a DAG into a ``Timetable``.

This is the one place that knows every form Airflow users write, so a DAG file
moved from Airflow keeps its schedule, and a wrong value fails at parse time
with one message that names the value, the accepted forms and the DAG.
"""

from __future__ import annotations

from datetime import timedelta, tzinfo

from daskflow.schedule.cron import ACCEPTED_FORMS
from daskflow.schedule.errors import ScheduleError
from daskflow.schedule.timetable import (
    CronTimetable,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    Timetable,
)

ScheduleArg = str | timedelta | Timetable | None


def timetable_for(
    schedule: ScheduleArg, *, timezone: tzinfo | str | None = None, dag_id: str | None = None
) -> Timetable:
    """The timetable for a DAG's ``schedule``; cron is read in ``timezone`` (default UTC).

    >>> timetable_for("@hourly", timezone="Europe/Amsterdam").description
    '@hourly (Europe/Amsterdam)'
    >>> timetable_for(3, dag_id="etl")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    daskflow.schedule.errors.ScheduleError: DAG 'etl': schedule must be ... got int 3
    """
    try:
        return _build(schedule, timezone)
    except ScheduleError as err:
        raise err.for_dag(dag_id) from None


def _build(schedule: ScheduleArg, timezone: tzinfo | str | None) -> Timetable:
    if schedule is None:
        return NullTimetable()
    if isinstance(schedule, Timetable):
        return schedule
    if isinstance(schedule, timedelta):
        return DeltaTimetable(schedule)
    if isinstance(schedule, str):
        if schedule.strip() == "@once":
            return OnceTimetable()
        return CronTimetable(schedule.strip(), timezone)
    raise ScheduleError(
        f"schedule must be {ACCEPTED_FORMS}; got {type(schedule).__name__} {schedule!r}"
    )
