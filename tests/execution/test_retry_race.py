"""A retry issued the moment a failed try reports must not make Dask run the next try
several times (the report reaches the loop before Dask has the key erred)."""

from __future__ import annotations

import os
import time
from datetime import datetime

import pytest

from daskflow import DAG
from daskflow.operators import PythonOperator


@pytest.mark.slow
def test_each_try_runs_once_even_with_no_retry_delay(dask_client, db_url, tmp_path):
    journal = tmp_path / "tries"

    def fail(ti):
        with open(journal, "a") as f:
            f.write(f"{ti.try_number} {os.getpid()}\n")
        raise ValueError("boom")

    runs = []
    for n in range(12):
        journal.write_text("")
        with DAG(f"retry_race{n}", start_date=datetime(2024, 1, 1)) as dag:
            PythonOperator(task_id="t", python_callable=fail, retries=1, retry_delay=0)
            PythonOperator(task_id="u", python_callable=lambda: time.sleep(0.03) or 1 / 0)
        result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
        tries = [line.split()[0] for line in journal.read_text().splitlines()]
        runs.append(tries)
        assert result.tasks["t"].try_number == 2
    assert all(tries == ["1", "2"] for tries in runs), runs
