"""Each example of docs/integrations.md runs, and ends in the task states it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrations.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
#: The TriggerDagRunOperator example needs a running scheduler: it is only loaded.
TRIGGER = next(b for b in BLOCKS if "TriggerDagRunOperator(" in b)
RUNNABLE = [b for b in BLOCKS if b is not TRIGGER]

EXPECTED = {
    "latest_only_example": {"latest_only": "success", "notify": "success",
                            "archive": "success"},
    "branch_datetime_example": {"office_hours": "success", "during_the_day": "success",
                                "at_night": "skipped"},
    "branch_weekday_example": {"weekend_check": "success", "weekend": "success",
                               "workday": "skipped"},
    "bash_decorator_example": {"table": "success", "count_rows": "success",
                               "report": "success"},
    "dask_decorator_example": {"daily_totals": "success", "biggest": "success"},
    "three_ways_deferred": {"soon": "success", "landed": "success", "report": "success"},
    "sensor_example": {"deliver": "success", "landed": "success", "rows_ready": "success",
                       "load": "success"},
    "sql_example": {"create": "success", "load": "success", "loaded": "success",
                    "totals": "success", "check": "success"},
    "sql_checks_example": {"load": "success", "has_rows": "success", "total": "success",
                           "biggest": "success", "like_last_week": "success",
                           "columns": "success", "table": "success", "busy_day": "success",
                           "publish": "success", "skip_publishing": "skipped"},
}


def test_every_operator_has_an_example():
    assert len(BLOCKS) == len(EXPECTED) + 1  # and the TriggerDagRunOperator one


@pytest.mark.parametrize("source", RUNNABLE, ids=list(EXPECTED))
def test_example_runs_as_its_comment_says(source, dask_client, db_url, capsys):
    results = []

    def run_test(**kwargs):
        # An example that names its own metadata store (db=) keeps it.
        results.append(namespace["dag"].test(**{"cluster": dask_client, "db": db_url,
                                                **kwargs}))

    # One dict for globals and locals, as a module has: functions see the imports.
    namespace: dict = {"__name__": "__main__", "run_test": run_test}
    exec(compile(source.replace("dag.test(", "run_test("), str(DOC), "exec"), namespace)
    dag = namespace["dag"]
    (result,) = results
    errors = {t: r.error for t, r in result.tasks.items() if r.error}
    assert {t: r.state for t, r in result.tasks.items()} == EXPECTED[dag.dag_id], errors


def test_the_trigger_example_defines_both_dags():
    namespace: dict = {"__name__": "doc_example"}
    exec(compile(TRIGGER, str(DOC), "exec"), namespace)
    trigger = namespace["dag"].task_dict["load_today"]
    assert trigger.trigger_dag_id == namespace["target"].dag_id == "load_partition"
    assert trigger.wait_for_completion and trigger.poke_interval == 5
