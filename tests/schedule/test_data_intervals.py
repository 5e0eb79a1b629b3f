"""DataInterval and RunInfo hold aware UTC datetimes and refuse backwards intervals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from daskflow.schedule import DataInterval, RunInfo, ScheduleError

UTC = timezone.utc


def test_values_are_converted_to_utc():
    local = datetime(2024, 7, 1, 2, tzinfo=ZoneInfo("Europe/Amsterdam"))
    interval = DataInterval(local, datetime(2024, 7, 2))
    assert interval.start == datetime(2024, 7, 1, 0, tzinfo=UTC)
    assert interval.start.tzinfo is UTC and interval.end.tzinfo is UTC


def test_intervals_covering_the_same_instants_are_equal():
    plus_two = timezone(timedelta(hours=2))
    assert DataInterval(datetime(2024, 1, 1, 2, tzinfo=plus_two), datetime(2024, 1, 2)) == (
        DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2))
    )


def test_backwards_interval_is_rejected():
    with pytest.raises(ScheduleError, match="before it starts"):
        DataInterval(datetime(2024, 1, 2), datetime(2024, 1, 1))


def test_non_datetime_is_rejected():
    with pytest.raises(ScheduleError, match="expected a datetime, got str"):
        DataInterval("2024-01-01", datetime(2024, 1, 2))  # type: ignore[arg-type]


def test_run_info_for_interval_and_exact():
    interval = DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2))
    assert RunInfo.for_interval(interval) == RunInfo(
        datetime(2024, 1, 1, tzinfo=UTC), interval, datetime(2024, 1, 2, tzinfo=UTC)
    )
    at = datetime(2024, 5, 5, 5)
    exact = RunInfo.exact(at)
    assert exact.data_interval.start == exact.data_interval.end == exact.run_after


def test_records_are_frozen():
    interval = DataInterval(datetime(2024, 1, 1), datetime(2024, 1, 2))
    with pytest.raises(AttributeError):
        interval.start = datetime(2023, 1, 1)  # type: ignore[misc]
