"""Cron schedules across daylight-saving changes.

2024 transitions: Europe/Amsterdam springs forward 2024-03-31 01:00Z (02:00 CET ->
03:00 CEST) and falls back 2024-10-27 01:00Z (03:00 CEST -> 02:00 CET);
America/New_York springs forward 2024-03-10 07:00Z (02:00 EST -> 03:00 EDT) and
falls back 2024-11-03 06:00Z (02:00 EDT -> 01:00 EST).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from daskflow.schedule import CronTimetable, DataInterval, next_runs, timetable_for
from daskflow.schedule.cron import CronClock

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
HOUR = timedelta(hours=1)

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def intervals(schedule: str, tz: ZoneInfo, start: datetime, end: datetime) -> list[DataInterval]:
    return timetable_for(schedule, timezone=tz).intervals_between(start, end)


def walls(instants: list[datetime], tz: ZoneInfo) -> list[str]:
    return [f"{t.astimezone(tz):%m-%d %H:%M %Z}" for t in instants]


@pytest.mark.parametrize(
    ("tz", "days", "expected_walls", "expected_hours"),
    [
        # Spring forward: 02:00 does not exist on 03-31 and fires at 03:00 CEST
        # (the instant 02:00 CET would have been); the day before lasts 24h, the day after 23h.
        (AMS, (3, 30, 4, 1), ["03-30 02:00 CET", "03-31 03:00 CEST", "04-01 02:00 CEST"],
         [24, 23]),
        # Fall back: 02:00 happens twice on 10-27; the run fires at the first (summer) one.
        (AMS, (10, 26, 10, 28), ["10-26 02:00 CEST", "10-27 02:00 CEST", "10-28 02:00 CET"],
         [24, 25]),
        (NYC, (3, 9, 3, 11), ["03-09 02:00 EST", "03-10 03:00 EDT", "03-11 02:00 EDT"],
         [24, 23]),
        (NYC, (11, 2, 11, 4), ["11-02 02:00 EDT", "11-03 02:00 EST", "11-04 02:00 EST"],
         [25, 24]),
    ],
)
def test_daily_0200_keeps_local_wall_time(tz, days, expected_walls, expected_hours):
    m1, d1, m2, d2 = days
    found = intervals("0 2 * * *", tz, utc(2024, m1, d1), utc(2024, m2, d2, 12))
    assert walls([i.start for i in found], tz) == expected_walls
    assert [(i.end - i.start) / HOUR for i in found[:2]] == expected_hours
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))


def test_repeated_wall_time_fires_once_at_first_occurrence():
    found = intervals("30 1 * * *", NYC, utc(2024, 11, 2), utc(2024, 11, 4, 12))
    assert walls([i.start for i in found], NYC) == [
        "11-02 01:30 EDT", "11-03 01:30 EDT", "11-04 01:30 EST"
    ]


@pytest.mark.parametrize(
    ("tz", "start", "local_hours"),
    [
        (AMS, utc(2024, 3, 30, 22), [23, 0, 1, 3, 4, 5]),  # 02:xx skipped
        (AMS, utc(2024, 10, 26, 22), [0, 1, 2, 2, 3, 4]),  # 02:xx twice
        (NYC, utc(2024, 3, 10, 5), [0, 1, 3, 4, 5, 6]),
        (NYC, utc(2024, 11, 3, 3), [23, 0, 1, 1, 2, 3]),
    ],
)
def test_hourly_runs_one_elapsed_hour_each_across_dst(tz, start, local_hours):
    runs = next_runs(timetable_for("@hourly", timezone=tz), start_date=start, end_date=None,
                     catchup=True, after=None, count=6, now=start)
    assert [r.logical_date for r in runs] == [start + k * HOUR for k in range(6)]
    assert all(r.run_after - r.logical_date == HOUR for r in runs)
    assert [r.logical_date.astimezone(tz).hour for r in runs] == local_hours


def test_hourly_catchup_false_over_fall_back_has_no_duplicate_logical_date():
    tt = timetable_for("@hourly", timezone=AMS)
    seen, last = [], None
    for minutes in range(0, 5 * 60, 20):  # the loop polls every 20 minutes
        now = utc(2024, 10, 26, 23) + timedelta(minutes=minutes)
        run = tt.next_run(last, start_date=utc(2024, 1, 1), end_date=None, catchup=False,
                          now=now)
        if run is not None and run.run_after <= now:
            seen.append(run.logical_date)
            last = run.data_interval
    assert seen == [utc(2024, 10, 26, 22) + k * HOUR for k in range(len(seen))]
    assert len(seen) == 5


def test_start_date_zone_is_the_cron_zone_via_timetable_for():
    start = datetime(2024, 3, 29, 12, tzinfo=AMS)
    runs = next_runs(timetable_for("0 2 * * *", timezone=start.tzinfo), start_date=start,
                     end_date=None, catchup=True, after=None, count=3, now=start)
    assert [r.logical_date for r in runs] == [utc(2024, 3, 30, 1), utc(2024, 3, 31, 1),
                                              utc(2024, 4, 1, 0)]


def test_manual_interval_around_spring_forward():
    tt = CronTimetable("0 2 * * *", AMS)
    found = tt.infer_manual_data_interval(utc(2024, 3, 31, 12))
    assert found == DataInterval(utc(2024, 3, 30, 1), utc(2024, 3, 31, 1))


def test_several_skipped_fire_times_collapse_without_going_backwards():
    # 02:00 and 02:30 do not exist; shifted forward they coincide with 03:00 and 03:30.
    found = intervals("0,30 2,3 * * *", AMS, utc(2024, 3, 31), utc(2024, 3, 31, 23))
    assert walls([i.start for i in found], AMS) == ["03-31 03:00 CEST", "03-31 03:30 CEST"]


def test_start_inside_the_repeated_hour():
    clock = CronClock("30 2 * * *", AMS)
    second_0215 = datetime(2024, 10, 27, 2, 15, tzinfo=AMS, fold=1)  # 01:15Z, winter time
    assert clock.next_after(second_0215) == utc(2024, 10, 28, 1, 30)
    assert clock.prev_before(second_0215) == utc(2024, 10, 27, 0, 30)


def brute_force(expression: str, tz: ZoneInfo, start: datetime, end: datetime, elapsed: bool):
    """Fire instants by definition: every instant (elapsed) or every naive time (wall)."""
    step = timedelta(minutes=15)
    if elapsed:
        count = int((end - start) / step)
        instants = [start + k * step for k in range(count)]
        return [t for t in instants if croniter.match(expression, t.astimezone(tz).replace(
            tzinfo=None))]
    naive = croniter(expression, start.astimezone(tz).replace(tzinfo=None) - timedelta(days=1))
    found: set[datetime] = set()
    while (n := naive.get_next(datetime)) < end.astimezone(tz).replace(tzinfo=None) + HOUR * 3:
        found.add(n.replace(tzinfo=tz).astimezone(UTC))
    return sorted(t for t in found if start <= t < end)


@pytest.mark.parametrize("tz", [AMS, NYC])
@pytest.mark.parametrize(
    "expression",
    ["0 * * * *", "*/30 * * * *", "45 * * * *", "0 2 * * *", "30 1,2,3 * * *",
     "*/15 2 * * *", "0,30 2,3 * * *", "0 */2 * * *"],
)
# March: spring forward in both zones; AMS October and NYC November: fall back.
@pytest.mark.parametrize("month", [3, 10, 11])
def test_forward_backward_and_brute_force_agree(tz, expression, month):
    start = {AMS: {3: utc(2024, 3, 30), 10: utc(2024, 10, 26), 11: utc(2024, 11, 1)},
             NYC: {3: utc(2024, 3, 9), 10: utc(2024, 10, 5), 11: utc(2024, 11, 2)}}[tz][month]
    end = start + timedelta(days=2)
    clock = CronClock(expression, tz)
    forward, t = [], start - timedelta(microseconds=1)
    while (t := clock.next_after(t)) < end:
        forward.append(t)
    backward, t = [], end
    while (t := clock.prev_before(t)) >= start:
        backward.append(t)
    assert forward == backward[::-1]
    assert all(a < b for a, b in zip(forward, forward[1:], strict=False))
    assert forward == brute_force(expression, tz, start, end, clock.elapsed)
