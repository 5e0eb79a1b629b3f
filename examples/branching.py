"""branching: follow one path of several, join them again, and stop early.

    start >> choose_report >> [weekday_report, weekend_report] >> join
    join >> first_of_month (short circuit) >> monthly_summary >> notify

- ``choose_report`` (``@task.branch``, the TaskFlow form of
  ``BranchPythonOperator``) returns the task id to follow,
  ``weekday_report`` or ``weekend_report`` by the run's logical date; the other
  is ``skipped``.
- ``join`` uses ``trigger_rule="none_failed_min_one_success"``: with the default
  ``all_success`` it would be skipped too, because one of its upstream tasks was.
- ``first_of_month`` (``@task.short_circuit``, i.e. ``ShortCircuitOperator``)
  returns ``False`` unless the logical date is the 1st. A falsy result skips
  *every* task downstream, whatever their trigger rules
  (``ignore_downstream_trigger_rules=True``, the default): ``notify`` is
  skipped too although its rule is ``all_done``.

Expected states for logical date 2025-01-06 (a Monday): ``weekday_report``
success, ``weekend_report`` skipped, ``join`` success, ``first_of_month`` success,
``monthly_summary`` and ``notify`` skipped. For 2025-02-01 (a Saturday, the 1st):
``weekday_report`` skipped, everything else success. ``start``,
``choose_report`` and ``join`` succeed both times. Skipped leaves do not
fail a run: it succeeds either way.

    daskflow dags test branching --dags-folder examples/ --logical-date 2025-02-01
"""

from __future__ import annotations

from datetime import datetime

from daskflow import DAG, TriggerRule, task
from daskflow.operators import EmptyOperator


@task.branch
def choose_report(logical_date=None) -> str:
    return "weekend_report" if logical_date.weekday() >= 5 else "weekday_report"


@task.short_circuit
def first_of_month(ds=None) -> bool:
    print(f"Logical date {ds}")
    return ds.endswith("-01")


with DAG(
    dag_id="branching",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    start = EmptyOperator(task_id="start")
    choose = choose_report()
    weekday = EmptyOperator(task_id="weekday_report")
    weekend = EmptyOperator(task_id="weekend_report")
    join = EmptyOperator(task_id="join", trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    check = first_of_month()
    monthly = EmptyOperator(task_id="monthly_summary")
    notify = EmptyOperator(task_id="notify", trigger_rule=TriggerRule.ALL_DONE)

    start >> choose >> [weekday, weekend] >> join
    join >> check >> monthly >> notify
