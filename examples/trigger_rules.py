"""trigger_rules: what happens downstream of a failure, task by task.

    fetch >> transform >> load >> publish
    transform >> cleanup          (all_done)
    transform >> alert_on_failure (one_failed)
    fetch >> fetch_alert          (one_failed)

``transform`` always raises (``retries=0``). Expected states:

================  ===============  ==============================================
task              state            why
================  ===============  ==============================================
fetch             success
transform         failed           raises ValueError
load              upstream_failed  all_success, and its upstream failed
publish           upstream_failed  all_success; upstream_failed propagates
cleanup           success          all_done runs however its upstream ended
alert_on_failure  success          one_failed: transform failed
fetch_alert       skipped          one_failed, but fetch succeeded
================  ===============  ==============================================

The run ends ``failed``. As in Airflow, a run's state comes from its *leaf*
tasks only (publish, cleanup, alert_on_failure, fetch_alert): it fails when
any leaf is failed or upstream_failed, here ``publish``. Had ``cleanup`` been
placed after ``publish`` instead, every leaf would be fine and the run would
succeed although ``transform`` failed: put a cleanup task at the very end only
when that is what you want.

    daskflow dags test trigger_rules --dags-folder examples/   # exits non-zero
"""

from __future__ import annotations

from datetime import datetime

from daskflow import DAG, TriggerRule, task
from daskflow.operators import EmptyOperator


@task
def fetch() -> list[int]:
    return [3, 1, 4, 1, 5]


@task(retries=0)
def transform(values: list[int]) -> list[int]:
    raise ValueError(f"cannot transform {len(values)} values: the schema changed upstream")


@task
def load(values: list[int]) -> int:
    return len(values)


@task(trigger_rule=TriggerRule.ALL_DONE)
def cleanup() -> None:
    print("Removing scratch files, whatever happened upstream")


@task(trigger_rule=TriggerRule.ONE_FAILED)
def alert(step: str, ti=None) -> str:
    message = f"run {ti.run_id}: {step} failed, data not published"
    print(message)
    return message


with DAG(
    dag_id="trigger_rules",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    values = fetch()
    transformed = transform(values)
    load(transformed) >> EmptyOperator(task_id="publish")
    transformed >> cleanup()
    transformed >> alert.override(task_id="alert_on_failure")("transform")
    values >> alert.override(task_id="fetch_alert")("fetch")
