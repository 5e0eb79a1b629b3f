"""Fire instants of a cron expression on the wall clock of a real time zone.

croniter only counts on a naive calendar; this module decides what a naive fire
time means as an instant when the zone's clock jumps. The rule is Airflow 3's
(checked against Airflow 3.3.2's CronTriggerTimetable, the timetable a cron
string becomes there; see tests/schedule/test_cron_dst.py): each fire instant
follows from the one before it. Take the previous fire instant's reading on the
zone's clock, ask croniter for the next naive fire time after that reading, and
turn it into an instant. How depends on the expression:

*Wall-clock schedules* (the hour field names particular hours, e.g. ``0 2 * * *``,
``30 6 * * 1-5``, ``0 */6 * * *``) read the naive time on the zone's clock, and
where that reading is ambiguous take the later instant:

- a wall time repeated by fall-back fires once, at its *second* occurrence (the
  one after the change, ``fold=1``): ``30 2 * * *`` in Europe/Amsterdam fires at
  02:30 CET (01:30 UTC) on 2024-10-27, not at 02:30 CEST; that day's interval
  is 25 hours long and ends at the second 02:30.
- a wall time skipped by spring-forward fires shifted forward by the gap (read
  with the offset before the change): 02:00 -> 03:00 CEST, 02:30 -> 03:30 CEST on
  2024-03-31. The next fire time is then sought after the *shifted* reading, so
  of several fire times inside the gap only the first fires: ``*/15 2 * * *``
  fires at 03:00 CEST that night and not at 03:15, 03:30 or 03:45.

*Elapsed schedules* (hour field ``*``, e.g. ``@hourly``, ``*/15 * * * *``,
``0 * * * 1-5``) add the naive distance between the previous fire instant's
reading and the next fire time to the previous instant, as elapsed time; that is,
the next fire time is read with the UTC offset of the previous fire instant.
Between fire times on the same side of a change this is the plain reading, so an
hourly schedule keeps one elapsed hour per run through any change (a repeated
hour fires twice, a skipped hour not at all). But when a change falls between two
fire times, the one after the change lands one jump off its wall time:
``0 * * * 1-5`` fires at 23:00 CET on the Sunday of the fall-back weekend
(Friday 23:00 CEST + 49 hours) and, after spring-forward, first at 01:00 CEST on
Monday (Friday 23:00 CET + 49 hours), skipping 00:00.

These instants form one strictly increasing sequence, the one you get stepping
from long before; ``next_after`` and ``prev_before`` walk it from any instant.
Airflow asked from an instant that is not on its sequence (a start date) may
answer differently; ``first_at_or_after`` gives Airflow's answer for start dates.

How it is computed: away from an offset change the next and previous naive fire
times read with a constant offset are the answer (the fast path). Near one, start
from a fire instant known to be on the sequence a little earlier and step forward.
For wall-clock schedules any reading further than one jump from a change is such
an instant. For elapsed schedules the matching instants (every instant whose wall
clock matches) are, except within one jump after the first matching instant past
a change whose crossing step lands elsewhere; ``_elapsed_anchor`` finds that step.
"""

from __future__ import annotations

from copy import copy
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
_SECOND = timedelta(seconds=1)
_TICK = timedelta(microseconds=1)


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

    The instants form one strictly increasing sequence (see the module docstring);
    ``next_after`` and ``prev_before`` walk it in either direction from any instant.

    >>> clock = CronClock("0 2 * * *", ZoneInfo("Europe/Amsterdam"))
    >>> clock.next_after(datetime(2024, 3, 30, 12, tzinfo=UTC))  # 02:00 does not exist
    datetime.datetime(2024, 3, 31, 1, 0, tzinfo=datetime.timezone.utc)
    >>> clock.next_after(datetime(2024, 10, 26, 12, tzinfo=UTC))  # 02:00 CET, the second one
    datetime.datetime(2024, 10, 27, 1, 0, tzinfo=datetime.timezone.utc)
    """

    expression: str
    tz: tzinfo
    elapsed: bool = field(init=False)
    _template: croniter = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        template = croniter(self.expression, datetime(2000, 1, 1))
        object.__setattr__(self, "_template", template)
        object.__setattr__(self, "elapsed", template.expanded[1] == ["*"])

    def next_after(self, t: datetime) -> datetime:
        """The first fire instant strictly after ``t``."""
        if not self.elapsed:  # one croniter step away from any change
            after = self._later_reading(self._fires(self._wall(t)).get_next(datetime))
            if after > t and self._steady(t, after):
                return after
        return self._around(t)[1]

    def prev_before(self, t: datetime) -> datetime:
        """The last fire instant strictly before ``t``."""
        if not self.elapsed:
            before = self._later_reading(self._fires(self._wall(t)).get_prev(datetime))
            if before < t and self._steady(t, before):
                return before
        return self._around(t - _TICK)[0]

    def at_or_after(self, t: datetime) -> datetime:
        """``t`` itself if it is a fire instant, else the next one."""
        return self.next_after(t - _TICK)

    def at_or_before(self, t: datetime) -> datetime:
        """``t`` itself if it is a fire instant, else the previous one."""
        return self._around(t)[0]

    def first_at_or_after(self, t: datetime) -> datetime:
        """The first fire instant of a schedule that starts at ``t`` (a start date).

        Away from offset changes this is ``at_or_after(t)``. Next to one it is what
        Airflow's alignment gives: ``t`` itself if stepping forward from ``t`` and
        back again returns to ``t``, else the step forward from ``t``. So a start
        date within a fall-back night's first pass of the repeated hour, between the
        first occurrence of a wall time and its second, starts on the next day.
        """
        following = self._step(t)
        return t if self._step_back(following) == t else following

    def _around(self, t: datetime) -> tuple[datetime, datetime]:
        """The last fire instant at or before ``t`` and the first one after it."""
        fires = self._fires(self._wall(t))
        after = self._later_reading(fires.get_next(datetime))
        before = self._later_reading(fires.get_prev(datetime))
        if before <= t < after and self._steady(before, after) and self._one_step(before, after):
            return before, after  # the fast path: no offset change nearby
        fire = self._elapsed_anchor(t) if self.elapsed else self._wall_anchor(t)
        while (following := self._step(fire)) <= t:
            fire = following
        return fire, following

    def _step(self, fire: datetime) -> datetime:
        """The fire instant after ``fire`` by the rule (Airflow's next fire time from any
        instant; from a fire instant, the one that follows it)."""
        naive = self._fires(self._wall(fire)).get_next(datetime)
        if self.elapsed:
            return (naive - self._offset(fire)).replace(tzinfo=UTC)
        return self._later_reading(naive)

    def _step_back(self, t: datetime) -> datetime:
        """The reading of the naive fire time before ``t``'s, as ``_step`` reads it."""
        naive = self._fires(self._wall(t)).get_prev(datetime)
        if self.elapsed:
            return (naive - self._offset(t)).replace(tzinfo=UTC)
        return self._later_reading(naive)

    def _one_step(self, before: datetime, after: datetime) -> bool:
        """Whether steady consecutive readings ``before`` -> ``after`` are a step."""
        if not self.elapsed:
            return True
        return self._offset(before) == self._offset(after) and self._kept(before)

    def _wall_anchor(self, t: datetime) -> datetime:
        """A fire instant at or before ``t``, a few steps from it (wall-clock schedules).

        Steady readings are always fire instants; next to a change a naive time may
        read past ``t`` or be dropped, so look before the change.
        """
        point = t
        while True:
            instant = self._later_reading(self._fires(self._wall(point) + _TICK).get_prev(datetime))
            if instant <= t and self._steady(instant):
                return instant
            point = min(point, instant) - _MINUTE
            if jump := self._jump(instant):
                point = min(point, self._change_near(instant) - jump - _MINUTE)

    def _elapsed_anchor(self, t: datetime) -> datetime:
        """A fire instant at or before ``t``, a few steps from it (elapsed schedules)."""
        match = self._match_before(t + _TICK)
        if self._kept(match):
            return match
        # An offset change shortly before ``match``: find the step that crosses it.
        change = self._change_between(self._match_before(match - _NEAR), match)
        previous = self._match_before(self._match_after(change - _SECOND))
        return previous if self._step(previous) > match else match

    def _kept(self, match: datetime) -> bool:
        """Whether the matching instant ``match`` surely is a fire instant (elapsed).

        A step that crosses an offset change leaves out matching instants only within
        one jump after the first matching instant past the change, so ``match`` is
        kept unless the offset changed in the steps that lead up to it.
        """
        return self._offset(self._match_before(match - _NEAR)) == self._offset(match)

    def _fires(self, start: datetime) -> croniter:
        """A croniter positioned at the naive time ``start`` (cheaper than parsing)."""
        fires = copy(self._template)
        fires.set_current(start, force=True)
        return fires

    def _later_reading(self, naive: datetime) -> datetime:
        """``naive`` on the zone's clock as an instant; the later one if there are two.

        A repeated wall time gives its second occurrence (``fold=1``); a skipped one
        is read with the offset before the jump, i.e. shifted forward by the gap
        (``fold=0``). Elsewhere both readings agree.
        """
        return max(naive.replace(tzinfo=self.tz, fold=fold).astimezone(UTC) for fold in (0, 1))

    def _wall(self, t: datetime) -> datetime:
        return t.astimezone(self.tz).replace(tzinfo=None)

    def _offset(self, t: datetime) -> timedelta:
        return t.astimezone(self.tz).utcoffset() or timedelta(0)

    def _jump(self, t: datetime) -> timedelta:
        """The size of an offset change within ``_NEAR`` of ``t`` (zero if none)."""
        return abs(self._offset(t + _NEAR) - self._offset(t - _NEAR))

    def _steady(self, *instants: datetime) -> bool:
        """Whether each instant lies further than one jump from any offset change.

        Only closer than that can naive fire times fall out of order, repeat or be
        dropped.
        """
        for t in instants:
            jump = self._jump(t)
            if jump and abs(t - self._change_near(t)) <= jump + _MINUTE:
                return False
        return True

    def _change_near(self, t: datetime) -> datetime:
        return self._change_between(t - _NEAR, t + _NEAR)

    def _change_between(self, low: datetime, high: datetime) -> datetime:
        """The instant (to the second) the offset at ``low`` gives way to another one.

        Found by bisection: about 15 offset look-ups over hours, 25 over a year.
        """
        before = self._offset(low)
        while high - low > _SECOND:
            middle = low + (high - low) / 2
            if self._offset(middle) == before:
                low = middle
            else:
                high = middle
        return high

    # Matching instants, for elapsed schedules: the instants whose wall clock matches.

    def _match_after(self, t: datetime) -> datetime:
        """The first instant after ``t`` whose wall-clock reading matches."""
        images = self._images(self._fires(self._wall(t)).get_next(datetime))
        if len(images) == 1 and images[0] > t and self._steady(t, images[0]):
            return images[0]
        return self._scan_forward(t)

    def _match_before(self, t: datetime) -> datetime:
        """The last instant before ``t`` whose wall-clock reading matches."""
        images = self._images(self._fires(self._wall(t)).get_prev(datetime))
        if len(images) == 1 and images[0] < t and self._steady(t, images[0]):
            return images[0]
        return self._scan_backward(t)

    def _images(self, naive: datetime) -> list[datetime]:
        """The instants whose wall clock reads ``naive`` (0, 1 or 2)."""
        found: list[datetime] = []
        for fold in (0, 1):
            instant = naive.replace(tzinfo=self.tz, fold=fold).astimezone(UTC)
            if self._wall(instant) == naive and instant not in found:
                found.append(instant)
        return found

    def _scan_forward(self, t: datetime) -> datetime:
        # Within one jump of a change naive order and instant order can disagree,
        # so scan naive times over a window one jump wider and keep the nearest.
        fires = self._fires(self._wall(t) - self._jump(t) - _MINUTE)
        best: datetime | None = None
        while True:
            naive = fires.get_next(datetime)
            if best is not None and naive > self._wall(best) + self._jump(best) + _MINUTE:
                return best
            for instant in self._images(naive):
                if instant > t and (best is None or instant < best):
                    best = instant

    def _scan_backward(self, t: datetime) -> datetime:
        fires = self._fires(self._wall(t) + self._jump(t) + _MINUTE)
        best: datetime | None = None
        while True:
            naive = fires.get_prev(datetime)
            if best is not None and naive < self._wall(best) - self._jump(best) - _MINUTE:
                return best
            for instant in self._images(naive):
                if instant < t and (best is None or instant > best):
                    best = instant
