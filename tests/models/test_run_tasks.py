"""Which tasks a run has: a task's start_date and end_date, as Airflow 3.3 applies them.

Checked with ``airflow dags test`` on Airflow 3.3.2: a task whose start_date is
after the run's logical date (or whose end_date is before it) gets no task
instance; its downstream tasks get one that never gets a state, whatever
their trigger rule, and the run fails ("task deadlock"); a task without dates
takes the DAG's, so a run before the DAG's start_date has no task at all and
succeeds at once; backfill runs have every task.
"""

from __future__ import annotations

from datetime import datetime, timezone

from daskflow import DAG
from daskflow.models.run_tasks import effective_dates, tasks_for_run
from daskflow.operators import EmptyOperator


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def _dag() -> DAG:
    with DAG("dated", start_date=datetime(2024, 1, 1)) as dag:
        late = EmptyOperator(task_id="late", start_date=datetime(2025, 6, 1))
        gone = EmptyOperator(task_id="gone", end_date=datetime(2024, 6, 1))
        ok = EmptyOperator(task_id="ok")
        late >> [EmptyOperator(task_id="after_late"),
                 EmptyOperator(task_id="after_late_all_done", trigger_rule="all_done")]
        [gone, ok] >> EmptyOperator(task_id="after_gone") >> EmptyOperator(task_id="last")
    return dag


def test_a_task_outside_its_dates_has_no_instance_and_strands_its_downstream_tasks():
    planned = tasks_for_run(_dag(), utc(2025, 1, 1), "scheduled")
    assert planned.order == ("ok",)
    assert sorted(planned.left_out) == ["gone", "late"]
    assert "start_date 2025-06-01T00:00:00+00:00 is after" in planned.left_out["late"]
    assert "end_date 2024-06-01T00:00:00+00:00 is before" in planned.left_out["gone"]
    assert sorted(planned.stranded) == ["after_gone", "after_late", "after_late_all_done",
                                        "last"]
    assert "upstream task 'late' has no instance in this run" in \
        planned.stranded["after_late"]
    assert planned.stranded["last"] == "its upstream task 'after_gone' can never run"
    assert planned.failure.startswith("task 'after_late' (and 3 more) can never run")


def test_inside_every_window_and_in_a_backfill_every_task_runs():
    dag = _dag()
    inside = tasks_for_run(dag, utc(2024, 3, 1), "scheduled")
    assert inside.order == ("gone", "ok", "after_gone", "last")
    later = tasks_for_run(dag, utc(2025, 6, 1), "scheduled")
    assert later.order == ("late", "ok", "after_late", "after_late_all_done")
    backfill = tasks_for_run(dag, utc(2025, 1, 1), "backfill")
    assert len(backfill.order) == len(dag.tasks) and backfill.failure is None


def test_a_task_takes_the_dags_dates_and_a_run_before_them_has_no_task():
    dag = _dag()
    late, ok = dag.get_task("late"), dag.get_task("ok")
    assert effective_dates(ok, dag) == (utc(2024, 1, 1), None)
    assert effective_dates(late, dag) == (utc(2025, 6, 1), None)
    with DAG("narrow", start_date=datetime(2024, 1, 1), end_date=datetime(2024, 12, 31)) as d2:
        wide = EmptyOperator(task_id="wide", start_date=datetime(2020, 1, 1),
                             end_date=datetime(2030, 1, 1))
    assert effective_dates(wide, d2) == (utc(2024, 1, 1), utc(2024, 12, 31))
    before = tasks_for_run(dag, utc(2023, 1, 1), "manual")
    assert before.order == () and before.failure is None  # nothing stranded: all left out
    assert tasks_for_run(DAG("undated"), utc(1990, 1, 1), "manual").left_out == {}
