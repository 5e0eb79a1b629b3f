"""BranchDateTimeOperator and BranchDayOfWeekOperator: checks at parse time, choices in runs."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest

from daskflow import DAG
from daskflow.exceptions import DagDefinitionError
from daskflow.operators import (
    BranchDateTimeOperator,
    BranchDayOfWeekOperator,
    EmptyOperator,
    WeekDay,
)
from daskflow.operators.datetime import window

UTC = timezone.utc


def states(result) -> dict[str, str]:
    return {task_id: t.state for task_id, t in result.tasks.items()}


def date_dag(dag_id: str, **branch_args) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        branch = BranchDateTimeOperator(task_id="branch", follow_task_ids_if_true="in_window",
                                        follow_task_ids_if_false=["outside", "also_outside"],
                                        **branch_args)
        after = EmptyOperator(task_id="after", trigger_rule="none_failed_min_one_success")
        for task_id in ("in_window", "outside", "also_outside"):
            branch >> EmptyOperator(task_id=task_id) >> after
    return dag


def test_logical_date_inside_the_window_follows_the_true_branch(dask_client, db_url):
    dag = date_dag("dt_inside", target_lower=datetime(2025, 3, 1),
                   target_upper=datetime(2025, 3, 31), use_task_logical_date=True)
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-03-31T00:00:00+00:00")
    assert states(result) == {"branch": "success", "in_window": "success", "outside": "skipped",
                              "also_outside": "skipped", "after": "success"}


def test_logical_date_outside_the_window_follows_the_false_branch(dask_client, db_url):
    dag = date_dag("dt_outside", target_lower=time(9), target_upper=time(17),
                   use_task_logical_date=True)
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-03-04T08:59:00+00:00")
    assert states(result) == {"branch": "success", "in_window": "skipped", "outside": "success",
                              "also_outside": "success", "after": "success"}


def test_now_is_compared_without_use_task_logical_date(dask_client, db_url):
    now = datetime.now(UTC)
    dag = date_dag("dt_now", target_lower=now - timedelta(hours=1), target_upper=None)
    # The logical date is long before the window; only now is inside it.
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-02-01")
    assert result.tasks["in_window"].state == "success"
    assert result.tasks["outside"].state == "skipped"


def test_window_of_times_runs_over_midnight():
    lower, upper = window(datetime(2025, 3, 1, 1, tzinfo=UTC), time(22), time(2), UTC)
    assert (lower, upper) == (datetime(2025, 3, 1, 22, tzinfo=UTC),
                              datetime(2025, 3, 2, 2, tzinfo=UTC))
    lower, upper = window(datetime(2025, 3, 1, tzinfo=UTC), time(1), None,
                          timezone(timedelta(hours=2)))
    assert lower == datetime(2025, 2, 28, 23, tzinfo=UTC) and upper is None


@pytest.mark.parametrize(("args", "named"), [
    ({"target_lower": None, "target_upper": None}, "target_lower and target_upper are both None"),
    ({"target_lower": datetime(2025, 2, 1), "target_upper": datetime(2025, 1, 1)},
     "target_lower 2025-02-01T00:00:00 is after target_upper"),
    ({"target_lower": "09:00", "target_upper": None}, "target_lower must be a datetime"),
    ({"target_lower": time(9), "target_upper": None, "follow_task_ids_if_true": 3},
     "follow_task_ids_if_true must be a task id"),
])
def test_bad_date_arguments_fail_at_parse_time(args, named):
    args = {"follow_task_ids_if_true": "a", "follow_task_ids_if_false": "b", **args}
    with pytest.raises(DagDefinitionError) as err, DAG("dt_bad"):
        BranchDateTimeOperator(task_id="check", **args)
    assert str(err.value).startswith("task 'check' in DAG 'dt_bad': ")
    assert named in str(err.value)


def day_dag(dag_id: str, week_day, use_task_logical_date: bool = True) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        check = BranchDayOfWeekOperator(task_id="check", week_day=week_day,
                                        follow_task_ids_if_true="weekend",
                                        follow_task_ids_if_false="workday",
                                        use_task_logical_date=use_task_logical_date)
        check >> [EmptyOperator(task_id="weekend"), EmptyOperator(task_id="workday")]
    return dag


@pytest.mark.parametrize(("logical_date", "followed", "skipped"), [
    ("2025-03-08", "weekend", "workday"),  # a Saturday
    ("2025-03-10", "workday", "weekend"),  # a Monday
])
def test_day_of_week_follows_by_the_logical_date(dask_client, db_url, logical_date, followed,
                                                 skipped):
    dag = day_dag("dow_" + logical_date.replace("-", ""), {"Saturday", WeekDay.SUNDAY})
    result = dag.test(cluster=dask_client, db=db_url, logical_date=logical_date)
    assert states(result) == {"check": "success", followed: "success", skipped: "skipped"}


def test_day_of_week_uses_today_without_use_task_logical_date(dask_client, db_url):
    today = WeekDay(datetime.now(UTC).isoweekday())
    dag = day_dag("dow_today", today.name.lower(), use_task_logical_date=False)
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-02-01")
    # Tolerate the test straddling midnight UTC.
    if WeekDay(datetime.now(UTC).isoweekday()) is today:
        assert states(result)["weekend"] == "success"
        assert states(result)["workday"] == "skipped"


def test_week_day_forms():
    assert WeekDay.validate_week_day("tuesday") == {WeekDay.TUESDAY}
    assert WeekDay.validate_week_day(WeekDay.MONDAY) == {1}
    assert WeekDay.validate_week_day(["Monday", "FRIDAY", WeekDay.FRIDAY]) == {1, 5}


@pytest.mark.parametrize(("week_day", "named"), [
    ("Funday", "week_day 'Funday' is not a day of the week"),
    ({"Monday", "Mon"}, "is not a day of the week"),
    (3, "week_day 3 is not a day of the week"),
    (set(), "week_day names no day"),
])
def test_bad_week_day_fails_at_parse_time(week_day, named):
    with pytest.raises(DagDefinitionError) as err, DAG("dow_bad"):
        BranchDayOfWeekOperator(task_id="check", week_day=week_day,
                                follow_task_ids_if_true="a", follow_task_ids_if_false="b")
    assert str(err.value).startswith("task 'check' in DAG 'dow_bad': week_day")
    assert named in str(err.value)
