"""``BranchDateTimeOperator``: follow one branch inside a time window, another outside.

The window is ``target_lower`` to ``target_upper`` (both ends included); one
of them may be ``None`` for an open end. Each is a ``datetime`` or a
``time`` of day; a time is put on the date of the moment compared (now, or
the run's logical date with ``use_task_logical_date=True``), and a window of
times whose upper end is earlier than its lower end runs over midnight
(``time(22)`` to ``time(2)``). Naive values are in the DAG's timezone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models.baseoperator import BaseOperator
from daskflow.operators._branching import DagScheduleMixin, check_follow, logical_or_now


class BranchDateTimeOperator(DagScheduleMixin, BaseOperator):
    """Follow ``follow_task_ids_if_true`` when the moment is inside the window."""

    is_branch = True
    ui_color = "#fff3c4"

    def __init__(
        self,
        *,
        follow_task_ids_if_true: str | Iterable[str],
        follow_task_ids_if_false: str | Iterable[str],
        target_lower: dt.datetime | dt.time | None,
        target_upper: dt.datetime | dt.time | None,
        use_task_logical_date: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.follow_task_ids_if_true = check_follow(self, "follow_task_ids_if_true",
                                                    follow_task_ids_if_true)
        self.follow_task_ids_if_false = check_follow(self, "follow_task_ids_if_false",
                                                     follow_task_ids_if_false)
        for name, value in (("target_lower", target_lower), ("target_upper", target_upper)):
            if value is not None and not isinstance(value, (dt.datetime, dt.time)):
                raise DagDefinitionError(
                    f"{self._where(name)} must be a datetime, a time or None, got {value!r}")
        if target_lower is None and target_upper is None:
            raise DagDefinitionError(
                f"{self._where('target_lower')} and target_upper are both None; give at least "
                "one bound to compare the date with")
        if isinstance(target_lower, dt.datetime) and isinstance(target_upper, dt.datetime):
            if _aware(target_lower, dt.timezone.utc) > _aware(target_upper, dt.timezone.utc):
                raise DagDefinitionError(
                    f"{self._where('target_lower')} {target_lower.isoformat()} is after "
                    f"target_upper {target_upper.isoformat()}: the window is empty")
        self.target_lower = target_lower
        self.target_upper = target_upper
        self.use_task_logical_date = bool(use_task_logical_date)

    def execute(self, context: dict[str, Any]) -> str | list[str]:
        tz = self._schedule()[3]
        now = logical_or_now(context, self.use_task_logical_date, dt.timezone.utc)
        lower, upper = window(now, self.target_lower, self.target_upper, tz)
        inside = (lower is None or lower <= now) and (upper is None or now <= upper)
        print(f"Comparing {now.isoformat()} with the window {lower} .. {upper}: "
              f"{'inside' if inside else 'outside'}")
        return self.follow_task_ids_if_true if inside else self.follow_task_ids_if_false


def window(moment: dt.datetime, lower: dt.datetime | dt.time | None,
           upper: dt.datetime | dt.time | None, tz: dt.tzinfo
           ) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The window's ends as aware datetimes on ``moment``'s date.

    >>> utc = dt.timezone.utc
    >>> at = dt.datetime(2025, 3, 1, 23, tzinfo=utc)
    >>> [d.isoformat() for d in window(at, dt.time(22), dt.time(2), utc)]
    ['2025-03-01T22:00:00+00:00', '2025-03-02T02:00:00+00:00']
    """
    low = dt.datetime.combine(moment, lower) if isinstance(lower, dt.time) else lower
    high = dt.datetime.combine(moment, upper) if isinstance(upper, dt.time) else upper
    low = None if low is None else _aware(low, tz)
    high = None if high is None else _aware(high, tz)
    if (isinstance(lower, dt.time) or isinstance(upper, dt.time)) and low is not None \
            and high is not None and high < low:
        high += dt.timedelta(days=1)
    return low, high


def _aware(value: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=tz)
