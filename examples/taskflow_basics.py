"""taskflow_basics: TaskFlow functions handing values to each other through Dask memory.

    extract >> transform >> load

- ``extract`` returns a dict; its ``-> dict`` annotation turns on
  ``multiple_outputs``, so ``orders["orders"]`` and ``orders["currency"]`` are
  separate XComs that other tasks can take one by one.
- ``transform`` sets ``multiple_outputs=True`` explicitly and returns totals.
- ``load`` takes two of those values plus the DAG param ``min_total``
  (a ``@dag`` function argument becomes a param; override it with
  ``--conf '{"min_total": 100}'``) and returns a one-line summary.

No value goes through the database: Dask hands each return value to the
tasks that need it. Expected states: all three tasks ``success``; the run succeeds.

    daskflow dags test taskflow_basics --dags-folder examples/
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from daskflow import dag, task


@dag(
    dag_id="taskflow_basics",
    schedule="@daily",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    tags=["example"],
)
def taskflow_basics(min_total: float = 20.0):
    @task
    def extract() -> dict[str, Any]:
        orders = {"1001": 30.25, "1002": 12.5, "1003": 48.0, "1004": 9.75}
        return {"orders": orders, "currency": "EUR"}

    @task(multiple_outputs=True)
    def transform(orders: dict[str, float], min_total: float):
        large = {order_id: value for order_id, value in orders.items() if value >= min_total}
        return {"total": round(sum(orders.values()), 2), "large_orders": sorted(large)}

    @task
    def load(total: float, large_orders: list[str], currency: str) -> str:
        summary = f"{total} {currency} in total; large orders: {', '.join(large_orders)}"
        print(summary)
        return summary

    orders = extract()
    totals = transform(orders["orders"], min_total)
    load(totals["total"], totals["large_orders"], orders["currency"])


taskflow_basics_dag = taskflow_basics()
