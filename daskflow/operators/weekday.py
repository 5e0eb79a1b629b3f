"""``BranchDayOfWeekOperator`` and the ``WeekDay`` enum.

``week_day`` is a day's English name in any case (``"monday"``), a
:class:`WeekDay`, or a set (list, tuple) of either. The day compared is
today's in the DAG's timezone, or the run's logical date's with
``use_task_logical_date=True``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models.baseoperator import BaseOperator
from daskflow.operators._branching import DagScheduleMixin, check_follow, logical_or_now


@enum.unique
class WeekDay(enum.IntEnum):
    """The days of the week, numbered as ISO 8601 does (Monday is 1).

    >>> WeekDay.convert("sunday"), WeekDay.validate_week_day({"Monday", WeekDay.FRIDAY})
    (<WeekDay.SUNDAY: 7>, {<WeekDay.MONDAY: 1>, <WeekDay.FRIDAY: 5>})
    """

    MONDAY = 1
    TUESDAY = 2
    WEDNESDAY = 3
    THURSDAY = 4
    FRIDAY = 5
    SATURDAY = 6
    SUNDAY = 7

    @classmethod
    def get_weekday_number(cls, week_day_str: str) -> WeekDay:
        """The day named ``week_day_str`` (any case); ``AttributeError`` for another name."""
        name = week_day_str.upper()
        if name not in cls.__members__:
            raise AttributeError(f"Invalid Week Day passed: {week_day_str!r}")
        return cls[name]

    @classmethod
    def convert(cls, day: str | WeekDay) -> WeekDay:
        """A :class:`WeekDay` from itself or its name."""
        return day if isinstance(day, WeekDay) else cls.get_weekday_number(day)

    @classmethod
    def validate_week_day(cls, week_day: str | WeekDay | Iterable[str | WeekDay]) -> set[WeekDay]:
        """The set of days ``week_day`` names."""
        if isinstance(week_day, (str, WeekDay)):
            week_day = {week_day}
        if not isinstance(week_day, Iterable):
            raise TypeError(f"Unsupported Type for week_day parameter: {type(week_day)}; give "
                            "a day's name, a WeekDay, or a set of them")
        days = set()
        for item in week_day:
            if not isinstance(item, (str, WeekDay)):
                raise TypeError(f"Unsupported Type for a day in week_day: {item!r}")
            days.add(cls.convert(item))
        return days


class BranchDayOfWeekOperator(DagScheduleMixin, BaseOperator):
    """Follow ``follow_task_ids_if_true`` on the days in ``week_day``."""

    is_branch = True
    ui_color = "#fff3c4"

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        week_day: str | WeekDay | Iterable[str | WeekDay],
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = check_follow(self, "follow_task_ids_if_true",
                                                    follow_task_ids_if_true)
        self.follow_task_ids_if_false = check_follow(self, "follow_task_ids_if_false",
                                                     follow_task_ids_if_false)
        try:
            self._week_day_num = WeekDay.validate_week_day(week_day)
        except (AttributeError, TypeError) as exc:
            names = ", ".join(d.name.capitalize() for d in WeekDay)
            raise DagDefinitionError(
                f"{self._where('week_day')} {week_day!r} is not a day of the week ({exc}); "
                f"use {names}, a WeekDay or a set of them") from None
        if not self._week_day_num:
            raise DagDefinitionError(f"{self._where('week_day')} names no day")
        self.week_day = week_day
        self.use_task_logical_date = bool(use_task_logical_date)

    def execute(self, context: dict[str, Any]) -> str | list[str]:
        day = logical_or_now(context, self.use_task_logical_date, self._schedule()[3])
        match = day.isoweekday() in self._week_day_num
        print(f"{day.date().isoformat()} is a {WeekDay(day.isoweekday()).name.capitalize()}: "
              f"{'one of' if match else 'not one of'} "
              f"{sorted(d.name.capitalize() for d in self._week_day_num)}")
        return self.follow_task_ids_if_true if match else self.follow_task_ids_if_false
