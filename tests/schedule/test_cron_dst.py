"""Cron schedules across daylight-saving changes.

2024 transitions used here (all on a Sunday, local time):

- Europe/Amsterdam: forward 03-31 01:00Z (02:00 CET -> 03:00 CEST), back 10-27 01:00Z
  (03:00 CEST -> 02:00 CET, so 02:00-03:00 happens twice).
- America/New_York: forward 03-10 07:00Z (02:00 EST -> 03:00 EDT), back 11-03 06:00Z
  (02:00 EDT -> 01:00 EST, 01:00-02:00 twice).
- Australia/Sydney: back 04-06 16:00Z (Sun 04-07 03:00 AEDT -> 02:00 AEST, 02:00-03:00
  twice), forward 10-05 16:00Z (Sun 10-06 02:00 AEST -> 03:00 AEDT).
- Europe/London: forward 03-31 01:00Z (01:00 GMT -> 02:00 BST), back 10-27 01:00Z
  (02:00 BST -> 01:00 GMT, 01:00-02:00 twice).
- Australia/Lord_Howe moves by half an hour: back 04-06 15:00Z (02:00 -> 01:30), forward
  10-05 15:30Z (02:00 -> 02:30).
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
SYD = ZoneInfo("Australia/Sydney")
LON = ZoneInfo("Europe/London")
LHI = ZoneInfo("Australia/Lord_Howe")
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def at(day_time: str) -> datetime:
    """``"10-27 01:30"``: that minute of 2024, in UTC."""
    return datetime.strptime(f"2024-{day_time}", "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def intervals(schedule: str, tz: ZoneInfo, start: datetime, end: datetime) -> list[DataInterval]:
    return timetable_for(schedule, timezone=tz).intervals_between(start, end)


def walls(instants: list[datetime], tz: ZoneInfo) -> list[str]:
    return [f"{t.astimezone(tz):%m-%d %H:%M %Z}" for t in instants]


# Apache Airflow 3.3.2 (pendulum 3.3.0, croniter 7.0.0), run in a separate environment:
# the logical dates (= run_after) of CronTriggerTimetable, which is what a cron string
# becomes in Airflow 3 (`[scheduler] create_cron_data_intervals` defaults to False), from
# next_dagrun_info(catchup=True) called repeatedly from two days before each change.
# Airflow's CronDataIntervalTimetable (create_cron_data_intervals = True) gave data
# intervals between these same consecutive instants, except on rows marked (DI): there it
# leaves a hole after a skipped fire time or stops with "did not advance"; daskflow keeps
# its intervals contiguous (see test_data_intervals_stay_contiguous_where_airflow_breaks).
# Columns: zone, cron, window [from, to) and the fire instants in it, all UTC in 2024.
# Comments: the same instants on the zone's clock.
AIRFLOW_FIRE_INSTANTS = [
    # Mon 02:00 CET
    (AMS, "0 2 * * 1-5", "10-25 01:00", "10-29 01:00", ["10-28 01:00"]),
    # Fri 23:00 CEST Sun 23:00 CET Mon 00:00 CET  (DI)
    (AMS, "0 * * * 1-5", "10-25 21:00", "10-28 00:00",
     ["10-25 21:00", "10-27 22:00", "10-27 23:00"]),
    # Sat 02:00 CEST Sun 02:00 CET Mon 02:00 CET
    (AMS, "0 2 * * *", "10-25 23:00", "10-28 03:00", ["10-26 00:00", "10-27 01:00", "10-28 01:00"]),
    # Sat 02:30 CEST Sun 02:30 CET Mon 02:30 CET
    (AMS, "30 2 * * *", "10-25 23:00", "10-28 03:00",
     ["10-26 00:30", "10-27 01:30", "10-28 01:30"]),
    # Sat 03:00 CEST Sun 03:00 CET Mon 03:00 CET
    (AMS, "0 3 * * *", "10-25 23:00", "10-28 03:00", ["10-26 01:00", "10-27 02:00", "10-28 02:00"]),
    # Sat 06:00 CEST Sun 06:00 CET
    (AMS, "0 6 * * *", "10-25 23:00", "10-28 03:00", ["10-26 04:00", "10-27 05:00"]),
    # Sun 01:00 CEST Sun 02:00 CEST Sun 02:00 CET Sun 03:00 CET
    (AMS, "0 * * * *", "10-26 23:00", "10-27 03:00",
     ["10-26 23:00", "10-27 00:00", "10-27 01:00", "10-27 02:00"]),
    # Sun 01:00, 01:30, 02:00, 02:30 CEST, then 02:00, 02:30, 03:00, 03:30 CET
    (AMS, "*/30 * * * *", "10-26 23:00", "10-27 03:00",
     ["10-26 23:00", "10-26 23:30", "10-27 00:00", "10-27 00:30", "10-27 01:00", "10-27 01:30",
      "10-27 02:00", "10-27 02:30"]),
    # Fri 02:00 CET Mon 02:00 CEST Tue 02:00 CEST
    (AMS, "0 2 * * 1-5", "03-29 01:00", "04-02 01:00",
     ["03-29 01:00", "04-01 00:00", "04-02 00:00"]),
    # Fri 23:00 CET Mon 01:00 CEST Mon 02:00 CEST
    (AMS, "0 * * * 1-5", "03-29 22:00", "04-01 01:00",
     ["03-29 22:00", "03-31 23:00", "04-01 00:00"]),
    # Sat 02:00 CET Sun 03:00 CEST Mon 02:00 CEST
    (AMS, "0 2 * * *", "03-29 23:00", "04-01 03:00", ["03-30 01:00", "03-31 01:00", "04-01 00:00"]),
    # Sat 02:30 CET Sun 03:30 CEST Mon 02:30 CEST
    (AMS, "30 2 * * *", "03-29 23:00", "04-01 03:00",
     ["03-30 01:30", "03-31 01:30", "04-01 00:30"]),
    # Sat 06:00 CET Sun 06:00 CEST
    (AMS, "0 6 * * *", "03-29 23:00", "04-01 03:00", ["03-30 05:00", "03-31 04:00"]),
    # Sun 00:00 CET Sun 01:00 CET Sun 03:00 CEST Sun 04:00 CEST
    (AMS, "0 * * * *", "03-30 23:00", "03-31 03:00",
     ["03-30 23:00", "03-31 00:00", "03-31 01:00", "03-31 02:00"]),
    # Sun 03:00 CEST  (DI)
    (AMS, "*/15 2 * * *", "03-30 23:00", "03-31 03:00", ["03-31 01:00"]),
    # Mon 01:30 EST
    (NYC, "30 1 * * 1-5", "11-01 06:00", "11-05 06:00", ["11-04 06:30"]),
    # Fri 23:00 EDT Sun 23:00 EST Mon 00:00 EST  (DI)
    (NYC, "0 * * * 1-5", "11-02 03:00", "11-04 06:00",
     ["11-02 03:00", "11-04 04:00", "11-04 05:00"]),
    # Sat 01:00 EDT Sun 01:00 EST Mon 01:00 EST
    (NYC, "0 1 * * *", "11-02 04:00", "11-04 08:00", ["11-02 05:00", "11-03 06:00", "11-04 06:00"]),
    # Sat 01:30 EDT Sun 01:30 EST Mon 01:30 EST
    (NYC, "30 1 * * *", "11-02 04:00", "11-04 08:00",
     ["11-02 05:30", "11-03 06:30", "11-04 06:30"]),
    # Sat 02:00 EDT Sun 02:00 EST Mon 02:00 EST
    (NYC, "0 2 * * *", "11-02 04:00", "11-04 08:00", ["11-02 06:00", "11-03 07:00", "11-04 07:00"]),
    # Sat 06:00 EDT Sun 06:00 EST
    (NYC, "0 6 * * *", "11-02 04:00", "11-04 08:00", ["11-02 10:00", "11-03 11:00"]),
    # Sun 00:00 EDT Sun 01:00 EDT Sun 01:00 EST Sun 02:00 EST
    (NYC, "0 * * * *", "11-03 04:00", "11-03 08:00",
     ["11-03 04:00", "11-03 05:00", "11-03 06:00", "11-03 07:00"]),
    # Sun 00:00, 00:30, 01:00, 01:30 EDT, then 01:00, 01:30, 02:00, 02:30 EST
    (NYC, "*/30 * * * *", "11-03 04:00", "11-03 08:00",
     ["11-03 04:00", "11-03 04:30", "11-03 05:00", "11-03 05:30", "11-03 06:00", "11-03 06:30",
      "11-03 07:00", "11-03 07:30"]),
    # Fri 23:00 EST Mon 01:00 EDT Mon 02:00 EDT
    (NYC, "0 * * * 1-5", "03-09 04:00", "03-11 07:00",
     ["03-09 04:00", "03-11 05:00", "03-11 06:00"]),
    # Sat 02:00 EST Sun 03:00 EDT Mon 02:00 EDT
    (NYC, "0 2 * * *", "03-09 05:00", "03-11 09:00", ["03-09 07:00", "03-10 07:00", "03-11 06:00"]),
    # Sat 02:30 EST Sun 03:30 EDT Mon 02:30 EDT
    (NYC, "30 2 * * *", "03-09 05:00", "03-11 09:00",
     ["03-09 07:30", "03-10 07:30", "03-11 06:30"]),
    # Sat 06:00 EST Sun 06:00 EDT
    (NYC, "0 6 * * *", "03-09 05:00", "03-11 09:00", ["03-09 11:00", "03-10 10:00"]),
    # Sun 00:00 EST Sun 01:00 EST Sun 03:00 EDT Sun 04:00 EDT
    (NYC, "0 * * * *", "03-10 05:00", "03-10 09:00",
     ["03-10 05:00", "03-10 06:00", "03-10 07:00", "03-10 08:00"]),
    # Sun 03:00 EDT  (DI)
    (NYC, "*/15 2 * * *", "03-10 05:00", "03-10 09:00", ["03-10 07:00"]),
    # Mon 02:00 AEST
    (SYD, "0 2 * * 1-5", "04-04 16:00", "04-08 16:00", ["04-07 16:00"]),
    # Fri 23:00 AEDT Sun 23:00 AEST Mon 00:00 AEST  (DI)
    (SYD, "0 * * * 1-5", "04-05 12:00", "04-07 15:00",
     ["04-05 12:00", "04-07 13:00", "04-07 14:00"]),
    # Sat 02:00 AEDT Sun 02:00 AEST Mon 02:00 AEST
    (SYD, "0 2 * * *", "04-05 14:00", "04-07 18:00", ["04-05 15:00", "04-06 16:00", "04-07 16:00"]),
    # Sat 02:30 AEDT Sun 02:30 AEST Mon 02:30 AEST
    (SYD, "30 2 * * *", "04-05 14:00", "04-07 18:00",
     ["04-05 15:30", "04-06 16:30", "04-07 16:30"]),
    # Sat 06:00 AEDT Sun 06:00 AEST
    (SYD, "0 6 * * *", "04-05 14:00", "04-07 18:00", ["04-05 19:00", "04-06 20:00"]),
    # Sun 01:00 AEDT Sun 02:00 AEDT Sun 02:00 AEST Sun 03:00 AEST
    (SYD, "0 * * * *", "04-06 14:00", "04-06 18:00",
     ["04-06 14:00", "04-06 15:00", "04-06 16:00", "04-06 17:00"]),
    # Sun 01:00, 01:30, 02:00, 02:30 AEDT, then 02:00, 02:30, 03:00, 03:30 AEST
    (SYD, "*/30 * * * *", "04-06 14:00", "04-06 18:00",
     ["04-06 14:00", "04-06 14:30", "04-06 15:00", "04-06 15:30", "04-06 16:00", "04-06 16:30",
      "04-06 17:00", "04-06 17:30"]),
    # Fri 23:00 AEST Mon 01:00 AEDT Mon 02:00 AEDT
    (SYD, "0 * * * 1-5", "10-04 13:00", "10-06 16:00",
     ["10-04 13:00", "10-06 14:00", "10-06 15:00"]),
    # Sat 02:00 AEST Sun 03:00 AEDT Mon 02:00 AEDT
    (SYD, "0 2 * * *", "10-04 14:00", "10-06 18:00", ["10-04 16:00", "10-05 16:00", "10-06 15:00"]),
    # Sat 02:30 AEST Sun 03:30 AEDT Mon 02:30 AEDT
    (SYD, "30 2 * * *", "10-04 14:00", "10-06 18:00",
     ["10-04 16:30", "10-05 16:30", "10-06 15:30"]),
    # Sun 00:00 AEST Sun 01:00 AEST Sun 03:00 AEDT Sun 04:00 AEDT
    (SYD, "0 * * * *", "10-05 14:00", "10-05 18:00",
     ["10-05 14:00", "10-05 15:00", "10-05 16:00", "10-05 17:00"]),
    # Sat 01:00 BST Sun 01:00 GMT Mon 01:00 GMT
    (LON, "0 1 * * *", "10-25 23:00", "10-28 03:00", ["10-26 00:00", "10-27 01:00", "10-28 01:00"]),
    # Sat 01:30 BST Sun 01:30 GMT Mon 01:30 GMT
    (LON, "30 1 * * *", "10-25 23:00", "10-28 03:00",
     ["10-26 00:30", "10-27 01:30", "10-28 01:30"]),
    # Sat 06:00 BST Sun 06:00 GMT
    (LON, "0 6 * * *", "10-25 23:00", "10-28 03:00", ["10-26 05:00", "10-27 06:00"]),
    # Sun 00:00 BST Sun 01:00 BST Sun 01:00 GMT Sun 02:00 GMT
    (LON, "0 * * * *", "10-26 23:00", "10-27 03:00",
     ["10-26 23:00", "10-27 00:00", "10-27 01:00", "10-27 02:00"]),
    # Sun 00:00, 00:30, 01:00, 01:30 BST, then 01:00, 01:30, 02:00, 02:30 GMT
    (LON, "*/30 * * * *", "10-26 23:00", "10-27 03:00",
     ["10-26 23:00", "10-26 23:30", "10-27 00:00", "10-27 00:30", "10-27 01:00", "10-27 01:30",
      "10-27 02:00", "10-27 02:30"]),
    # Sat 01:00 GMT Sun 02:00 BST Mon 01:00 BST
    (LON, "0 1 * * *", "03-29 23:00", "04-01 03:00", ["03-30 01:00", "03-31 01:00", "04-01 00:00"]),
    # Sat 01:30 GMT Sun 02:30 BST Mon 01:30 BST
    (LON, "30 1 * * *", "03-29 23:00", "04-01 03:00",
     ["03-30 01:30", "03-31 01:30", "04-01 00:30"]),
    # Sat 23:00 GMT Sun 00:00 GMT Sun 02:00 BST Sun 03:00 BST
    (LON, "0 * * * *", "03-30 23:00", "03-31 03:00",
     ["03-30 23:00", "03-31 00:00", "03-31 01:00", "03-31 02:00"]),
    # Sun 02:00 BST  (DI)
    (LON, "*/15 1 * * *", "03-30 23:00", "03-31 03:00", ["03-31 01:00"]),
]


@pytest.mark.parametrize(("tz", "expression", "since", "until", "fires"), AIRFLOW_FIRE_INSTANTS)
def test_fire_instants_match_airflow(tz, expression, since, until, fires):
    # As Airflow's were found: runs with catchup from a start date days before the window.
    runs = next_runs(timetable_for(expression, timezone=tz), start_date=at(since) - 2 * DAY,
                     end_date=at(until) - MINUTE, catchup=True, after=None, count=None,
                     now=at(until))
    found = [run.data_interval for run in runs if run.logical_date >= at(since)]
    assert [i.start for i in found] == [at(f) for f in fires]
    assert all(a.end == b.start for a, b in zip(found, found[1:], strict=False))
    clock = CronClock(expression, tz)
    assert [clock.next_after(at(f)) for f in fires[:-1]] == [at(f) for f in fires[1:]]
    assert [clock.prev_before(at(f)) for f in fires[1:]] == [at(f) for f in fires[:-1]]


@pytest.mark.parametrize(
    ("tz", "days", "expected_walls", "expected_hours"),
    [
        # Spring forward: 02:00 does not exist on 03-31 and fires at 03:00 CEST
        # (the instant 02:00 CET would have been); the day before lasts 24h, the day after 23h.
        (AMS, (3, 30, 4, 1), ["03-30 02:00 CET", "03-31 03:00 CEST", "04-01 02:00 CEST"],
         [24, 23]),
        # Fall back: 02:00 happens twice on 10-27; the run fires at the second (winter) one.
        (AMS, (10, 26, 10, 28), ["10-26 02:00 CEST", "10-27 02:00 CET", "10-28 02:00 CET"],
         [25, 24]),
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


def test_repeated_wall_time_fires_once_at_second_occurrence():
    found = intervals("30 1 * * *", NYC, utc(2024, 11, 2), utc(2024, 11, 4, 12))
    assert walls([i.start for i in found], NYC) == [
        "11-02 01:30 EDT", "11-03 01:30 EST", "11-04 01:30 EST"
    ]


def test_only_the_first_fire_time_in_a_skipped_hour_fires():
    # 02:00-02:45 do not exist on 03-31; 02:00 fires at 03:00 CEST and the schedule goes on
    # after 03:00 on the clock, so 02:15, 02:30 and 02:45 do not fire that night.
    found = intervals("*/15 2 * * *", AMS, utc(2024, 3, 30, 1, 30), utc(2024, 4, 1, 0, 15))
    assert walls([i.start for i in found], AMS) == [
        "03-30 02:30 CET", "03-30 02:45 CET", "03-31 03:00 CEST", "04-01 02:00 CEST",
        "04-01 02:15 CEST",
    ]


def test_weekday_hourly_schedule_fires_on_sunday_evening_after_fall_back():
    # Elapsed schedules add the naive distance to the previous fire instant: Friday 23:00
    # CEST + 49h is Sunday 23:00 CET, an hour early, as in Airflow.
    found = intervals("0 * * * 1-5", AMS, utc(2024, 10, 25, 20, 30), utc(2024, 10, 28))
    assert walls([i.start for i in found[:4]], AMS) == [
        "10-25 23:00 CEST", "10-27 23:00 CET", "10-28 00:00 CET", "10-28 01:00 CET"
    ]
    # Spring forward: Friday 23:00 CET + 49h is Monday 01:00 CEST; 00:00 does not fire.
    found = intervals("0 * * * 1-5", AMS, utc(2024, 3, 29, 21, 30), utc(2024, 4, 1, 1))
    assert walls([i.start for i in found], AMS) == [
        "03-29 23:00 CET", "04-01 01:00 CEST", "04-01 02:00 CEST", "04-01 03:00 CEST"
    ]


def test_data_intervals_stay_contiguous_where_airflow_breaks():
    # Airflow 3.3.2's CronDataIntervalTimetable: after [03-30 01:45, 03-31 01:00) the next
    # interval starts at 03-31 01:45, leaving 01:00-01:45 uncovered; and on the weekday
    # schedule it raises "did not advance past 2024-10-27 22:00". daskflow keeps the
    # intervals between the fire instants that CronTriggerTimetable gives.
    found = intervals("*/15 2 * * *", AMS, utc(2024, 3, 30, 1, 40), utc(2024, 3, 31, 2))
    assert [(i.start, i.end) for i in found] == [
        (utc(2024, 3, 30, 1, 45), utc(2024, 3, 31, 1)),
        (utc(2024, 3, 31, 1), utc(2024, 4, 1, 0)),
    ]
    found = intervals("0 * * * 1-5", AMS, utc(2024, 10, 25, 20, 30), utc(2024, 10, 27, 22))
    assert [(i.start, i.end) for i in found] == [
        (utc(2024, 10, 25, 21), utc(2024, 10, 27, 22)),
        (utc(2024, 10, 27, 22), utc(2024, 10, 27, 23)),
    ]


@pytest.mark.parametrize(
    ("start", "first"),
    [
        # Airflow 3.3.2, both cron timetables: the first run for a start_date during the
        # fall-back night, "30 1 * * *" in New York (01:30 EDT = 05:30Z, 01:30 EST = 06:30Z).
        (utc(2024, 11, 3, 5), utc(2024, 11, 3, 6, 30)),  # 01:00 EDT
        (utc(2024, 11, 3, 5, 15), utc(2024, 11, 3, 6, 30)),
        (utc(2024, 11, 3, 5, 30), utc(2024, 11, 4, 6, 30)),  # 01:30 EDT: skips a day
        (utc(2024, 11, 3, 5, 45), utc(2024, 11, 4, 6, 30)),
        (utc(2024, 11, 3, 6), utc(2024, 11, 3, 6, 30)),  # 01:00 EST
        (utc(2024, 11, 3, 6, 30), utc(2024, 11, 3, 6, 30)),
        (utc(2024, 11, 3, 6, 45), utc(2024, 11, 4, 6, 30)),
    ],
)
def test_first_run_for_a_start_date_in_the_repeated_hour_matches_airflow(start, first):
    runs = next_runs(timetable_for("30 1 * * *", timezone=NYC), start_date=start,
                     end_date=None, catchup=True, after=None, count=1, now=start)
    assert runs[0].logical_date == first


def test_first_run_of_weekday_hourly_schedule_started_on_the_change_sunday():
    # Airflow 3.3.2: started before the change the first run is Sunday 23:00 CET (22:00Z),
    # started after it Monday 00:00 CET (23:00Z).
    tt = timetable_for("0 * * * 1-5", timezone=AMS)
    for start, first in [(utc(2024, 10, 27, 0), utc(2024, 10, 27, 22)),
                         (utc(2024, 10, 27, 1), utc(2024, 10, 27, 23))]:
        runs = next_runs(tt, start_date=start, end_date=None, catchup=True, after=None,
                         count=1, now=start)
        assert runs[0].logical_date == first


def test_daily_catchup_false_over_fall_back_creates_the_second_occurrence():
    # Airflow 3.3.2's CronDataIntervalTimetable, polled every 10 minutes with catchup=False
    # from 11-02 00:00Z, created the runs of 10-31 05:30, 11-01 05:30, 11-02 05:30 (due at
    # 11-03 06:30, i.e. 01:30 EST) and 11-03 06:30.
    tt = timetable_for("30 1 * * *", timezone=NYC)
    seen, last = [], None
    for minutes in range(0, 32 * 60, 10):
        now = utc(2024, 11, 2, 0) + timedelta(minutes=minutes)
        run = tt.next_run(last, start_date=utc(2024, 1, 1), end_date=None, catchup=False,
                          now=now)
        if run is not None and run.run_after <= now:
            seen.append((run.logical_date, run.run_after))
            last = run.data_interval
    assert seen == [(utc(2024, 10, 31, 5, 30), utc(2024, 11, 1, 5, 30)),
                    (utc(2024, 11, 1, 5, 30), utc(2024, 11, 2, 5, 30)),
                    (utc(2024, 11, 2, 5, 30), utc(2024, 11, 3, 6, 30))]


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


def test_manual_interval_in_the_repeated_hour_is_the_last_complete_one():
    # Triggered at 01:45 EDT, before 01:30 EST: the day that ended at 01:30 EDT on 11-02.
    # (Airflow's CronDataIntervalTimetable returns 11-02 05:30 - 11-03 06:30 here, an
    # interval that ends 45 minutes after the trigger; CronTriggerTimetable's manual runs
    # have no interval at all.)
    tt = CronTimetable("30 1 * * *", NYC)
    found = tt.infer_manual_data_interval(utc(2024, 11, 3, 5, 45))
    assert found == DataInterval(utc(2024, 11, 1, 5, 30), utc(2024, 11, 2, 5, 30))


def test_several_skipped_fire_times_collapse_without_going_backwards():
    # 02:00 and 02:30 do not exist; 02:00 fires at 03:00 CEST, then the clock goes on at 03:30.
    found = intervals("0,30 2,3 * * *", AMS, utc(2024, 3, 31), utc(2024, 3, 31, 23))
    assert walls([i.start for i in found], AMS) == ["03-31 03:00 CEST", "03-31 03:30 CEST"]


def test_start_inside_the_repeated_hour():
    clock = CronClock("30 2 * * *", AMS)
    second_0215 = datetime(2024, 10, 27, 2, 15, tzinfo=AMS, fold=1)  # 01:15Z, winter time
    assert clock.next_after(second_0215) == utc(2024, 10, 27, 1, 30)
    assert clock.prev_before(second_0215) == utc(2024, 10, 26, 0, 30)
    first_0245 = datetime(2024, 10, 27, 2, 45, tzinfo=AMS)  # 00:45Z, summer time
    assert clock.next_after(first_0245) == utc(2024, 10, 27, 1, 30)


def by_the_rule(expression: str, tz: ZoneInfo, start: datetime, end: datetime):
    """Fire instants in ``[start, end)`` as the rule defines them, one step at a time from
    a fire instant a week earlier (far from any change)."""
    elapsed = croniter(expression).expanded[1] == ["*"]

    def wall(t: datetime) -> datetime:
        return t.astimezone(tz).replace(tzinfo=None)

    naive = croniter(expression, wall(start - timedelta(days=7))).get_next(datetime)
    fire, found = naive.replace(tzinfo=tz).astimezone(UTC), []
    while fire < end:
        if fire >= start:
            found.append(fire)
        naive = croniter(expression, wall(fire)).get_next(datetime)
        if elapsed:  # the naive distance, added as elapsed time
            fire = fire + (naive - wall(fire))
        else:  # the later of the two readings of a repeated or skipped wall time
            fire = max(naive.replace(tzinfo=tz, fold=f).astimezone(UTC) for f in (0, 1))
    return found


CHANGES = {  # two days around each 2024 change, in UTC
    (AMS, "spring"): utc(2024, 3, 30), (AMS, "fall"): utc(2024, 10, 26),
    (NYC, "spring"): utc(2024, 3, 9), (NYC, "fall"): utc(2024, 11, 2),
    (SYD, "fall"): utc(2024, 4, 6), (SYD, "spring"): utc(2024, 10, 5),
    (LON, "spring"): utc(2024, 3, 30), (LON, "fall"): utc(2024, 10, 26),
    (LHI, "fall"): utc(2024, 4, 5, 12), (LHI, "spring"): utc(2024, 10, 4, 12),
}


@pytest.mark.slow
@pytest.mark.parametrize(("tz", "night"), list(CHANGES), ids=lambda v: getattr(v, "key", v))
@pytest.mark.parametrize(
    "expression",
    ["0 * * * *", "*/30 * * * *", "45 * * * *", "0 2 * * *", "30 1,2,3 * * *",
     "*/15 2 * * *", "0,30 2,3 * * *", "0 */2 * * *", "15,35 2 * * *", "0 * * * 1-5",
     "30 * * * 6", "0 2 * * 1-5"],
)
def test_forward_backward_and_the_rule_agree(tz, night, expression):
    start = CHANGES[tz, night]
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
    expected = by_the_rule(expression, tz, start, end)
    assert forward == expected
    # From any instant, not only from fire instants: every 20 minutes across the night.
    fires = by_the_rule(expression, tz, start - 8 * DAY, end + 8 * DAY)
    for k in range(0, 2 * 24 * 3, 1):
        t = start + k * timedelta(minutes=20)
        assert clock.next_after(t) == min(f for f in fires if f > t)
        assert clock.prev_before(t) == max(f for f in fires if f < t)
