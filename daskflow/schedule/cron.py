"""Fire times of a cron expression on the wall clock of a real time zone.

croniter only counts on a naive calendar; this module decides what a naive fire
time means as an instant when the zone's clock jumps. Two kinds of expression:

*Wall-clock schedules* (the hour field names particular hours, e.g. ``0 2 * * *``,
``30 6 * * 1-5``, ``0 */6 * * *``) fire at that local time every day:

- a wall time skipped by spring-forward (02:00 on 2024-03-31 in Europe/Amsterdam)
  fires at the same elapsed distance after the jump, i.e. shifted forward by the
  gap: 02:00 -> 03:00 CEST (01:00 UTC), 02:30 -> 03:30 CEST. This is
  ``zoneinfo``'s ``fold=0`` reading, and what croniter with an aware start time,
  pendulum 3 and so Airflow 3 produce. An instant reached twice that way fires once.
- a wall time repeated by fall-back fires once, at its first occurrence (the one
  still on summer time), again ``fold=0``.

*Elapsed schedules* (hour field ``*``, e.g. ``@hourly``, ``*/15 * * * *``) keep
their rhythm in absolute time: every instant whose local wall clock matches
fires, so a skipped hour does not fire and a repeated hour fires twice. An
``@hourly`` DAG therefore gets one-hour intervals straight through any change
(no missing or duplicated hour), like Airflow's DST fix for non-fixed crons.

How it is computed: fire instants are derived from croniter's naive times; away
from an offset change that is a constant shift (the fast path). Within one jump
of a change, naive order and instant order can disagree (a gap shifts fire times
past later ones, a fold repeats them), so both directions scan naive fire times
over a window one jump wider on each side and keep the nearest qualifying
instant. ``next_after`` and ``prev_before`` therefore walk the same strictly
increasing set of instants; the scan costs a few hundred croniter steps at most
and only runs around a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter

from daskflow.schedule.errors import ScheduleError
from daskflow.schedule.intervals import UTC

PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}

ACCEPTED_FORMS = (
    "a 5-field cron expression 'minute hour day-of-month month day-of-week' "
    "(e.g. '0 2 * * *'), a preset (@once, "
    + ", ".join(PRESETS)
    + "), a datetime.timedelta, a Timetable, or None for manual runs only"
)

# Further than this from a UTC-offset change, local and UTC time differ by a
# constant. Real DST jumps are at most two hours (Antarctica/Troll).
_NEAR = timedelta(hours=3)
_MINUTE = timedelta(minutes=1)


def resolve_timezone(value: tzinfo | str | None) -> tzinfo:
    """A usable tzinfo for ``value``: None is UTC, a string is an IANA zone name.

    pytz zones are swapped for their zoneinfo twin, since pytz needs ``localize``.

    >>> resolve_timezone("Europe/Amsterdam")
    zoneinfo.ZoneInfo(key='Europe/Amsterdam')
    """
    if value is None:
        return UTC
    if isinstance(value, str):
        return _zone_named(value)
    if not isinstance(value, tzinfo):
        raise ScheduleError(
            f"timezone must be a tzinfo or an IANA zone name, got {type(value).__name__}"
        )
    pytz_name = getattr(value, "zone", None)
    if hasattr(value, "localize") and isinstance(pytz_name, str):
        return _zone_named(pytz_name)
    return value


def _zone_named(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError) as err:
        raise ScheduleError(
            f"unknown time zone {name!r}: expected an IANA name such as 'Europe/Amsterdam'"
        ) from err


def cron_expression(schedule: str) -> str:
    """The 5-field expression for a cron string or preset, or ``ScheduleError``.

    >>> cron_expression("@daily")
    '0 0 * * *'
    """
    expression = PRESETS.get(schedule.strip(), schedule.strip())
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"invalid schedule {schedule!r}: expected {ACCEPTED_FORMS}")
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError as err:
        raise ScheduleError(f"cron schedule {schedule!r} never fires (no such date)") from err
    return expression


@dataclass(frozen=True)
class CronClock:
    """Fire instants of ``expression`` in zone ``tz``; all inputs and outputs are UTC.

    >>> clock = CronClock("0 2 * * *", ZoneInfo("Europe/Amsterdam"))
    >>> clock.next_after(datetime(2024, 3, 30, 12, tzinfo=UTC))  # 02:00 does not exist
    datetime.datetime(2024, 3, 31, 1, 0, tzinfo=datetime.timezone.utc)
    """

    expression: str
    tz: tzinfo
    elapsed: bool = field(init=False)

    def __post_init__(self) -> None:
        hours = croniter(self.expression).expanded[1]
        object.__setattr__(self, "elapsed", hours == ["*"])

    def next_after(self, t: datetime) -> datetime:
        """The first fire instant strictly after ``t``."""
        images = self._images(croniter(self.expression, self._wall(t)).get_next(datetime))
        if len(images) == 1 and images[0] > t and self._steady(t, images[0]):
            return images[0]
        return self._scan_forward(t)

    def prev_before(self, t: datetime) -> datetime:
        """The last fire instant strictly before ``t``."""
        images = self._images(croniter(self.expression, self._wall(t)).get_prev(datetime))
        if len(images) == 1 and images[0] < t and self._steady(t, images[0]):
            return images[0]
        return self._scan_backward(t)

    def at_or_after(self, t: datetime) -> datetime:
        """``t`` itself if it is a fire instant, else the next one."""
        return self.next_after(t - timedelta(microseconds=1))

    def at_or_before(self, t: datetime) -> datetime:
        """``t`` itself if it is a fire instant, else the previous one."""
        return self.prev_before(t + timedelta(microseconds=1))

    def _wall(self, t: datetime) -> datetime:
        return t.astimezone(self.tz).replace(tzinfo=None)

    def _images(self, naive: datetime) -> list[datetime]:
        """The instants at which the naive fire time ``naive`` fires (0, 1 or 2)."""
        if not self.elapsed:
            return [naive.replace(tzinfo=self.tz).astimezone(UTC)]
        found: list[datetime] = []
        for fold in (0, 1):
            instant = naive.replace(tzinfo=self.tz, fold=fold).astimezone(UTC)
            if self._wall(instant) == naive and instant not in found:
                found.append(instant)
        return found

    def _offset(self, t: datetime) -> timedelta:
        return t.astimezone(self.tz).utcoffset() or timedelta(0)

    def _jump(self, t: datetime) -> timedelta:
        """The size of an offset change within ``_NEAR`` of ``t`` (zero if none)."""
        return abs(self._offset(t + _NEAR) - self._offset(t - _NEAR))

    def _steady(self, *instants: datetime) -> bool:
        """Whether each instant lies further than one jump from any offset change.

        Only closer than that can naive fire times fall out of order or repeat.
        The change is located to the second by bisection (about 15 offset look-ups).
        """
        for t in instants:
            jump = self._jump(t)
            if jump and abs(t - self._change_near(t)) <= jump + _MINUTE:
                return False
        return True

    def _change_near(self, t: datetime) -> datetime:
        low, high = t - _NEAR, t + _NEAR
        before = self._offset(low)
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if self._offset(middle) == before:
                low = middle
            else:
                high = middle
        return high

    def _scan_forward(self, t: datetime) -> datetime:
        margin = self._jump(t) + _MINUTE
        fires = croniter(self.expression, self._wall(t) - margin)
        best: datetime | None = None
        while True:
            naive = fires.get_next(datetime)
            if best is not None and naive > self._wall(best) + self._jump(best) + _MINUTE:
                return best
            for instant in self._images(naive):
                if instant > t and (best is None or instant < best):
                    best = instant

    def _scan_backward(self, t: datetime) -> datetime:
        margin = self._jump(t) + _MINUTE
        fires = croniter(self.expression, self._wall(t) + margin)
        best: datetime | None = None
        while True:
            naive = fires.get_prev(datetime)
            if best is not None and naive < self._wall(best) - self._jump(best) - _MINUTE:
                return best
            for instant in self._images(naive):
                if instant < t and (best is None or instant > best):
                    best = instant
