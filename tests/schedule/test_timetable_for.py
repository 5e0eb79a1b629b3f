"""``timetable_for``: every accepted schedule form, and errors that name the bad value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from daskflow.schedule import (
    CronTimetable,
    DeltaTimetable,
    NullTimetable,
    OnceTimetable,
    ScheduleError,
    timetable_for,
    validate_dates,
)

UTC = timezone.utc


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (None, NullTimetable()),
        ("@once", OnceTimetable()),
        (" @once ", OnceTimetable()),
        ("@daily", CronTimetable("@daily")),
        ("*/5 * * * *", CronTimetable("*/5 * * * *")),
        (timedelta(minutes=30), DeltaTimetable(timedelta(minutes=30))),
    ],
)
def test_each_schedule_form_gets_its_timetable(schedule, expected):
    assert timetable_for(schedule) == expected


def test_time_zone_can_be_a_name_or_a_tzinfo():
    by_name = timetable_for("@daily", timezone="Europe/Amsterdam")
    by_zone = timetable_for("@daily", timezone=ZoneInfo("Europe/Amsterdam"))
    assert by_name == by_zone
    assert by_name.timezone == ZoneInfo("Europe/Amsterdam")
    assert timetable_for("@daily").timezone is UTC


@pytest.mark.parametrize(
    "bad",
    ["not a cron", "61 * * * *", "* * * *", "0 0 * * * *", "@fortnightly", "@continuous", ""],
)
def test_bad_cron_string_names_value_and_accepted_forms(bad):
    with pytest.raises(ScheduleError) as info:
        timetable_for(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "5-field cron expression" in message and "@daily" in message
    assert "timedelta" in message
    assert isinstance(info.value, ValueError)


def test_cron_that_never_fires_is_rejected():
    with pytest.raises(ScheduleError, match=r"'0 0 30 2 \*' never fires"):
        timetable_for("0 0 30 2 *")


@pytest.mark.parametrize(("bad", "type_name"), [(3, "int"), (True, "bool"), (1.5, "float"),
                                                (["@daily"], "list")])
def test_bad_schedule_type_names_the_type(bad, type_name):
    with pytest.raises(ScheduleError, match=f"got {type_name} "):
        timetable_for(bad)


def test_dag_id_is_named_when_given():
    with pytest.raises(ScheduleError) as info:
        timetable_for("every day", dag_id="sales_etl")
    assert str(info.value).startswith("DAG 'sales_etl': invalid schedule 'every day'")
    assert info.value.dag_id == "sales_etl"
    with pytest.raises(ScheduleError) as info:
        timetable_for(7, dag_id="sales_etl")
    assert str(info.value).startswith("DAG 'sales_etl': schedule must be")


def test_without_dag_id_the_message_has_no_dag_prefix():
    with pytest.raises(ScheduleError) as info:
        timetable_for("every day")
    assert not str(info.value).startswith("DAG ")


@pytest.mark.parametrize("delta", [timedelta(0), timedelta(hours=-1)])
def test_non_positive_timedelta_is_rejected(delta):
    with pytest.raises(ScheduleError, match="must be positive") as info:
        timetable_for(delta, dag_id="d")
    assert repr(delta) in str(info.value)


def test_unknown_time_zone_is_named():
    with pytest.raises(ScheduleError, match="'Mars/Olympus'") as info:
        timetable_for("@daily", timezone="Mars/Olympus", dag_id="d")
    assert str(info.value).startswith("DAG 'd': unknown time zone")


def test_end_date_before_start_date_names_both_dates_and_dag():
    start, end = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ScheduleError) as info:
        validate_dates(start, end, dag_id="etl")
    assert str(info.value) == (
        "DAG 'etl': end_date 2024-01-01T00:00:00+00:00 is before "
        "start_date 2024-02-01T00:00:00+00:00"
    )


@pytest.mark.parametrize("schedule", [None, "@once", "@daily", timedelta(hours=1)])
def test_every_timetable_rejects_end_before_start(schedule):
    with pytest.raises(ScheduleError, match="is before start_date"):
        timetable_for(schedule).next_run(
            None, start_date=datetime(2024, 2, 1), end_date=datetime(2024, 1, 1),
            catchup=True, now=datetime(2024, 3, 1),
        )


def test_equal_start_and_end_date_allows_one_run():
    day = datetime(2024, 1, 1, tzinfo=UTC)
    assert validate_dates(day, day) == (day, day)
    run = timetable_for("@daily").next_run(None, start_date=day, end_date=day, catchup=True,
                                           now=day)
    assert run is not None and run.logical_date == day
