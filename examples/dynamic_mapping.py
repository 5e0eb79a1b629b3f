"""dynamic_mapping: one task definition, one task instance per element.

    list_partitions >> count_rows[0..2]  ---\\
                       weigh_region[0..2] ---+--> summarize
    announce[0..1]  (a mapped BashOperator, no downstream)

- ``count_rows.expand(day=list_partitions())`` maps over a list known only
  when ``list_partitions`` has run (the three days before the logical date):
  daskflow adds the three ``count_rows`` keys to the run's Dask graph then.
- ``weigh_region.partial(factor=...).expand(region=[...])`` maps over a literal
  list: its three instances are in the graph from the start. ``factor`` is the
  same for every instance.
- ``summarize`` gets each mapped task's results as one list, in map-index order.
- ``BashOperator.partial(...).expand(bash_command=[...])`` maps a classic operator.

Expected states: every instance ``success``: ``list_partitions``,
``count_rows[0]``..``count_rows[2]``, ``weigh_region[0]``..``weigh_region[2]``,
``announce[0]``, ``announce[1]`` and ``summarize``; the run succeeds.

    daskflow dags test dynamic_mapping --dags-folder examples/
"""

from __future__ import annotations

from datetime import datetime, timedelta

from daskflow import DAG, task
from daskflow.operators import BashOperator


@task
def list_partitions(logical_date=None) -> list[str]:
    days = [logical_date - timedelta(days=n) for n in (3, 2, 1)]
    return [day.strftime("%Y-%m-%d") for day in days]


@task
def count_rows(day: str) -> int:
    rows = 100 + int(day[-2:]) * 7  # stands in for reading that day's partition
    print(f"{day}: {rows} rows")
    return rows


@task
def weigh_region(region: str, factor: float) -> float:
    return round(len(region) * factor, 2)


@task
def summarize(rows: list[int], weights: list[float]) -> dict[str, float]:
    summary = {"rows": sum(rows), "weight": sum(weights), "partitions": len(rows)}
    print(summary)
    return summary


with DAG(
    dag_id="dynamic_mapping",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
) as dag:
    rows = count_rows.expand(day=list_partitions())
    weights = weigh_region.partial(factor=1.5).expand(region=["eu", "us", "apac"])
    summarize(rows, weights)
    BashOperator.partial(task_id="announce").expand(
        bash_command=["echo 'partitions for {{ ds }}'", "echo 'regions for {{ ds }}'"],
    )
