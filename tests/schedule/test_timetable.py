"""Timetable rules: presets, alignment, catchup, end_date, @once, None, timedelta,
manual triggers and backfill ranges. All times are UTC unless a test says otherwise."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daskflow.schedule import (
    CronTimetable,
    DataInterval,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    RunInfo,
    ScheduleError,
    Timetable,
    next_runs,
    timetable_for,
)

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def first_runs(tt: Timetable, start: datetime, count: int = 3, **kw) -> list[RunInfo]:
    options = {"end_date": None, "catchup": True, "now": start, "after": None} | kw
    return next_runs(tt, start_date=start, count=count, **options)


def spans(runs: list[RunInfo]) -> list[tuple[datetime, datetime]]:
    return [(r.data_interval.start, r.data_interval.end) for r in runs]


PRESET_CASES = [
    ("@hourly", utc(2024, 1, 1), [utc(2024, 1, 1, 0), utc(2024, 1, 1, 1), utc(2024, 1, 1, 2)]),
    ("@daily", utc(2024, 1, 1), [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 3)]),
    # 2024-01-07 is a Sunday: weeks run Sunday midnight to Sunday midnight.
    ("@weekly", utc(2024, 1, 1), [utc(2024, 1, 7), utc(2024, 1, 14), utc(2024, 1, 21)]),
    ("@monthly", utc(2024, 1, 1), [utc(2024, 1, 1), utc(2024, 2, 1), utc(2024, 3, 1)]),
    ("@quarterly", utc(2024, 1, 1), [utc(2024, 1, 1), utc(2024, 4, 1), utc(2024, 7, 1)]),
    ("@yearly", utc(2024, 1, 1), [utc(2024, 1, 1), utc(2025, 1, 1), utc(2026, 1, 1)]),
    ("@annually", utc(2024, 1, 1), [utc(2024, 1, 1), utc(2025, 1, 1), utc(2026, 1, 1)]),
    ("15 3 * * 1-5", utc(2024, 1, 5), [utc(2024, 1, 5, 3, 15), utc(2024, 1, 8, 3, 15),
                                        utc(2024, 1, 9, 3, 15)]),
]


@pytest.mark.parametrize(("schedule", "start", "boundaries"), PRESET_CASES)
def test_cron_intervals_run_between_consecutive_fire_times(schedule, start, boundaries):
    runs = first_runs(timetable_for(schedule), start, count=2)
    assert spans(runs) == list(zip(boundaries, boundaries[1:], strict=False))
    assert [r.logical_date for r in runs] == boundaries[:2]
    assert [r.run_after for r in runs] == boundaries[1:]


@pytest.mark.parametrize(
    ("preset", "expression"),
    [("@hourly", "0 * * * *"), ("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"),
     ("@monthly", "0 0 1 * *"), ("@quarterly", "0 0 1 */3 *"), ("@yearly", "0 0 1 1 *")],
)
def test_presets_mean_their_cron_expression(preset, expression):
    start = utc(2023, 11, 17, 5, 43)
    assert first_runs(timetable_for(preset), start, 4) == first_runs(
        timetable_for(expression), start, 4
    )


def test_unaligned_start_date_rounds_up_to_next_fire_time():
    runs = first_runs(timetable_for("@daily"), utc(2024, 1, 1, 9, 30), count=1)
    assert spans(runs) == [(utc(2024, 1, 2), utc(2024, 1, 3))]


def test_aligned_start_date_is_the_first_logical_date():
    runs = first_runs(timetable_for("0 6 * * *"), utc(2024, 1, 1, 6), count=1)
    assert runs[0].logical_date == utc(2024, 1, 1, 6)


def test_naive_start_date_is_read_as_utc():
    naive = first_runs(timetable_for("@daily"), datetime(2024, 1, 1, 9), count=1)
    aware = first_runs(timetable_for("@daily"), utc(2024, 1, 1, 9), count=1)
    assert naive == aware
    assert naive[0].logical_date.tzinfo is UTC


def test_catchup_true_creates_every_missed_interval_in_order():
    tt, now = timetable_for("@daily"), utc(2024, 1, 4, 12)
    runs = next_runs(tt, start_date=utc(2024, 1, 1), end_date=None, catchup=True,
                     after=None, count=4, now=now)
    assert [r.logical_date.day for r in runs] == [1, 2, 3, 4]
    assert [r.run_after <= now for r in runs] == [True, True, True, False]


@pytest.mark.parametrize(
    ("now", "expected_start"),
    [
        (utc(2024, 1, 10, 12), utc(2024, 1, 9)),  # mid-interval: yesterday is the latest done
        (utc(2024, 1, 10), utc(2024, 1, 9)),  # exactly on a boundary: it has just ended
        (utc(2024, 1, 1, 12), utc(2024, 1, 2)),  # nothing complete yet: first interval
    ],
)
def test_catchup_false_starts_at_latest_complete_interval(now, expected_start):
    run = timetable_for("@daily").next_run(
        None, start_date=utc(2024, 1, 1, 1), end_date=None, catchup=False, now=now
    )
    assert run is not None and run.logical_date == expected_start


def test_catchup_false_after_latest_run_the_current_interval_is_not_yet_due():
    tt, now = timetable_for("@daily"), utc(2024, 1, 10, 12)
    options = {"start_date": utc(2024, 1, 1), "end_date": None, "catchup": False, "now": now}
    latest = tt.next_run(None, **options)
    assert latest is not None and latest.run_after <= now
    current = tt.next_run(latest.data_interval, **options)
    assert current is not None
    assert current.data_interval == DataInterval(utc(2024, 1, 10), utc(2024, 1, 11))
    assert current.run_after > now


def test_catchup_false_skips_intervals_missed_since_the_last_run():
    tt = timetable_for("@daily")
    last = DataInterval(utc(2024, 1, 2), utc(2024, 1, 3))
    run = tt.next_run(last, start_date=utc(2024, 1, 1), end_date=None, catchup=False,
                      now=utc(2024, 1, 20, 5))
    assert run is not None and run.logical_date == utc(2024, 1, 19)
    with_catchup = tt.next_run(last, start_date=utc(2024, 1, 1), end_date=None, catchup=True,
                               now=utc(2024, 1, 20, 5))
    assert with_catchup is not None and with_catchup.logical_date == utc(2024, 1, 3)


def test_catchup_false_with_future_start_date_waits_for_start_date():
    run = timetable_for("@daily").next_run(
        None, start_date=utc(2024, 3, 1), end_date=None, catchup=False, now=utc(2024, 1, 1)
    )
    assert run is not None and run.logical_date == utc(2024, 3, 1)


@pytest.mark.parametrize("schedule", ["@daily", timedelta(days=1)])
def test_no_interval_starts_after_end_date(schedule):
    runs = next_runs(timetable_for(schedule), start_date=utc(2024, 1, 1),
                     end_date=utc(2024, 1, 3), catchup=True, after=None, count=10,
                     now=utc(2025, 1, 1))
    assert [r.logical_date for r in runs] == [utc(2024, 1, 1), utc(2024, 1, 2), utc(2024, 1, 3)]


def test_end_date_in_the_past_with_catchup_false_gives_nothing():
    run = timetable_for("@daily").next_run(
        None, start_date=utc(2024, 1, 1), end_date=utc(2024, 1, 5), catchup=False,
        now=utc(2024, 6, 1),
    )
    assert run is None


@pytest.mark.parametrize("catchup", [True, False])
def test_once_runs_exactly_once_at_start_date(catchup):
    tt, start = timetable_for("@once"), utc(2024, 5, 1, 8)
    runs = next_runs(tt, start_date=start, end_date=None, catchup=catchup, after=None,
                     count=5, now=utc(2030, 1, 1))
    assert runs == [RunInfo(start, DataInterval(start, start), start)]
    assert isinstance(tt, OnceTimetable) and not tt.periodic and tt.can_be_scheduled


def test_once_is_due_as_soon_as_now_reaches_start_date():
    start = utc(2024, 5, 1, 8)
    run = timetable_for("@once").next_run(
        None, start_date=start, end_date=None, catchup=True, now=start - timedelta(hours=1)
    )
    assert run is not None and run.run_after == start


def test_once_without_start_date_or_after_end_date_never_runs():
    tt = OnceTimetable()
    assert tt.next_run(None, start_date=None, end_date=None, catchup=True,
                       now=utc(2024, 1, 1)) is None
    with pytest.raises(ScheduleError):
        tt.next_run(None, start_date=utc(2024, 2, 1), end_date=utc(2024, 1, 1), catchup=True,
                    now=utc(2024, 1, 1))


def test_none_schedule_is_never_scheduled():
    tt = timetable_for(None)
    assert isinstance(tt, NullTimetable) and not tt.can_be_scheduled and not tt.periodic
    assert tt.next_run(None, start_date=utc(2024, 1, 1), end_date=None, catchup=True,
                       now=utc(2030, 1, 1)) is None
    assert tt.intervals_between(utc(2024, 1, 1), utc(2024, 2, 1)) == []


def test_timedelta_intervals_are_anchored_at_start_date():
    runs = first_runs(timetable_for(timedelta(hours=8)), utc(2024, 1, 1, 5, 30), count=3)
    assert spans(runs) == [
        (utc(2024, 1, 1, 5, 30), utc(2024, 1, 1, 13, 30)),
        (utc(2024, 1, 1, 13, 30), utc(2024, 1, 1, 21, 30)),
        (utc(2024, 1, 1, 21, 30), utc(2024, 1, 2, 5, 30)),
    ]


def test_timedelta_catchup_false_picks_latest_complete_grid_interval():
    tt = DeltaTimetable(timedelta(hours=8))
    run = tt.next_run(None, start_date=utc(2024, 1, 1, 5, 30), end_date=None, catchup=False,
                      now=utc(2024, 1, 3, 0))
    assert run is not None
    assert run.data_interval == DataInterval(utc(2024, 1, 2, 13, 30), utc(2024, 1, 2, 21, 30))


def test_timedelta_without_start_date_and_catchup_false_covers_the_last_delta():
    now = utc(2024, 1, 3, 7, 12)
    run = DeltaTimetable(timedelta(hours=1)).next_run(
        None, start_date=None, end_date=None, catchup=False, now=now
    )
    assert run is not None and run.data_interval == DataInterval(now - timedelta(hours=1), now)


def test_no_start_date_and_catchup_true_is_never_scheduled():
    for tt in (CronTimetable("@daily"), DeltaTimetable(timedelta(days=1))):
        assert tt.next_run(None, start_date=None, end_date=None, catchup=True,
                           now=utc(2024, 1, 1)) is None


def test_successor_of_a_zero_length_last_interval_moves_forward():
    # A DAG switched from @once to @daily: its last run's interval has no length.
    last = DataInterval.exact(utc(2024, 1, 1))
    run = CronTimetable("@daily").next_run(
        last, start_date=utc(2024, 1, 1), end_date=None, catchup=True, now=utc(2024, 2, 1)
    )
    assert run is not None and run.logical_date == utc(2024, 1, 2)


@pytest.mark.parametrize(
    ("schedule", "run_after", "expected"),
    [
        ("@daily", utc(2024, 1, 25, 1), (utc(2024, 1, 24), utc(2024, 1, 25))),
        ("@daily", utc(2024, 1, 25), (utc(2024, 1, 24), utc(2024, 1, 25))),
        ("@hourly", utc(2024, 1, 25, 13, 59), (utc(2024, 1, 25, 12), utc(2024, 1, 25, 13))),
        ("@monthly", utc(2024, 3, 15), (utc(2024, 2, 1), utc(2024, 3, 1))),
        (timedelta(hours=6), utc(2024, 1, 25, 7, 5), (utc(2024, 1, 25, 1, 5),
                                                      utc(2024, 1, 25, 7, 5))),
        (None, utc(2024, 1, 25, 7, 5), (utc(2024, 1, 25, 7, 5), utc(2024, 1, 25, 7, 5))),
        ("@once", utc(2024, 1, 25, 7, 5), (utc(2024, 1, 25, 7, 5), utc(2024, 1, 25, 7, 5))),
    ],
)
def test_manual_data_interval(schedule, run_after, expected):
    assert timetable_for(schedule).infer_manual_data_interval(run_after) == DataInterval(*expected)


@pytest.mark.parametrize(
    ("schedule", "start", "end", "expected_starts"),
    [
        ("@daily", utc(2024, 1, 1), utc(2024, 1, 3), [utc(2024, 1, 1), utc(2024, 1, 2),
                                                        utc(2024, 1, 3)]),
        ("@daily", utc(2024, 1, 1, 6), utc(2024, 1, 3, 6), [utc(2024, 1, 2), utc(2024, 1, 3)]),
        ("@daily", utc(2024, 1, 1, 6), utc(2024, 1, 1, 18), []),
        ("@weekly", utc(2024, 1, 1), utc(2024, 1, 31), [utc(2024, 1, 7), utc(2024, 1, 14),
                                                          utc(2024, 1, 21), utc(2024, 1, 28)]),
        (timedelta(hours=12), utc(2024, 1, 1, 3), utc(2024, 1, 2, 3),
         [utc(2024, 1, 1, 3), utc(2024, 1, 1, 15), utc(2024, 1, 2, 3)]),
        ("@once", utc(2024, 1, 1, 3), utc(2024, 1, 9), [utc(2024, 1, 1, 3)]),
    ],
)
def test_intervals_between_includes_both_ends(schedule, start, end, expected_starts):
    intervals = timetable_for(schedule).intervals_between(start, end)
    assert [i.start for i in intervals] == expected_starts
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:], strict=False))


def test_intervals_between_cover_time_without_gaps():
    intervals = timetable_for("*/20 9-10 * * *").intervals_between(utc(2024, 1, 1),
                                                                   utc(2024, 1, 2, 23))
    assert len(intervals) == 12
    assert all(a.end == b.start for a, b in zip(intervals, intervals[1:], strict=False))
    assert intervals[5] == DataInterval(utc(2024, 1, 1, 10, 40), utc(2024, 1, 2, 9, 0))


def test_next_runs_continues_after_a_given_interval():
    after = DataInterval(utc(2024, 1, 4), utc(2024, 1, 5))
    runs = next_runs(timetable_for("@daily"), start_date=utc(2024, 1, 1), end_date=None,
                     catchup=True, after=after, count=2, now=utc(2024, 1, 1))
    assert [r.logical_date for r in runs] == [utc(2024, 1, 5), utc(2024, 1, 6)]


def test_next_runs_needs_a_bound():
    with pytest.raises(ScheduleError, match="count or an end_date"):
        next_runs(timetable_for("@daily"), start_date=utc(2024, 1, 1), end_date=None,
                  catchup=True, after=None, count=None, now=utc(2024, 1, 1))


def test_next_runs_rejects_a_timetable_that_does_not_move_forward():
    class Stuck(Timetable):
        def next_run(self, last, *, start_date, end_date, catchup, now):
            return RunInfo.exact(utc(2024, 1, 1))

    with pytest.raises(ScheduleError, match="not after the previous one"):
        next_runs(Stuck(), start_date=None, end_date=None, catchup=True, after=None,
                  count=3, now=utc(2024, 1, 1))


def test_custom_timetable_instance_is_used_as_is():
    class EveryTwoDays(DeltaTimetable):
        description = "every other day"

    tt = EveryTwoDays(timedelta(days=2))
    assert timetable_for(tt) is tt
    runs = first_runs(tt, utc(2024, 1, 1), count=2)
    assert [r.logical_date.day for r in runs] == [1, 3]


def test_time_zone_of_the_timetable_moves_cron_fire_times():
    tt = CronTimetable("0 0 * * *", "Asia/Tokyo")
    runs = first_runs(tt, utc(2024, 1, 1), count=1)
    assert spans(runs) == [(utc(2024, 1, 1, 15), utc(2024, 1, 2, 15))]
    assert tt.description == "0 0 * * * (Asia/Tokyo)"
