"""``dag.test()`` is driven by the runner the scheduler loop uses, so a run it drives
ends the way the loop would end it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from daskflow import DAG
from daskflow.operators import BashOperator, EmptyOperator
from daskflow.store import Store


@pytest.mark.slow
def test_dag_test_fails_a_run_past_its_dagrun_timeout_as_the_loop_does(dask_client, db_url):
    with DAG("slow", schedule=None, dagrun_timeout=timedelta(seconds=2)) as dag:
        BashOperator(task_id="sleepy", bash_command="sleep 8") >> EmptyOperator(task_id="after")

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "failed"
    assert {name: t.state for name, t in result.tasks.items()} == {
        "sleepy": "skipped", "after": "skipped"}
    run = Store(db_url).get_dag_run("slow", result.run_id)
    assert run.state == "failed" and "dagrun_timeout" in run.reason
