"""Runs whose progress is blocked end, or recover, within ``daskflow.stall-timeout``."""

from __future__ import annotations

import sys
import threading
import time

import cloudpickle
import dask
import pytest
from distributed import Client, Future

from daskflow import DAG
from daskflow.operators import EmptyOperator, PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.mark.slow
def test_a_task_no_worker_can_take_fails_with_the_reason(dask_client, db_url):
    with DAG("gpu") as dag:
        needs_gpu = EmptyOperator(task_id="train", resources={"GPU": 1})
        after = EmptyOperator(task_id="report")
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule="all_done")
        needs_gpu >> after >> cleanup

    with dask.config.set({"daskflow.stall-timeout": 3}):
        result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"  # the leaf, cleanup, ran: as in Airflow
    states = {name: t.state for name, t in result.tasks.items()}
    assert states == {"train": "failed", "report": "upstream_failed", "cleanup": "success"}
    error = result.tasks["train"].error
    assert error.startswith("StalledTask: task 'train' could not start for 3s")
    assert "needs Dask worker resources {'GPU': 1} and no worker offers them" in error
    [attempt] = Store(db_url).list_attempts("gpu", result.run_id, "train")
    assert attempt.state == "failed" and "daskflow.stall-timeout" in attempt.error


def _journal(path: str, name: str, pause: float) -> str:
    time.sleep(pause)
    with open(path, "a") as f:
        f.write(name + "\n")
    return name


def _cancel_when_waiting(address: str, prefix: str, stop: threading.Event,
                         cancelled: list[str]) -> None:
    """From another client, cancel the run's key of task ``second`` while it waits."""
    with Client(address) as other:
        while not stop.is_set():
            keys = other.run_on_scheduler(
                lambda dask_scheduler: [k for k, ts in dask_scheduler.tasks.items()
                                        if str(k).startswith(prefix) and ts.state == "waiting"])
            if keys:
                Future(keys[0], client=other).cancel(force=True)
                cancelled.append(keys[0])
                return
            time.sleep(0.05)


@pytest.mark.slow
def test_keys_dask_lost_are_resubmitted_from_the_store(dask_client, db_url, tmp_path):
    journal = str(tmp_path / "journal")
    with DAG("lost_key") as dag:
        first = PythonOperator(task_id="first", python_callable=_journal,
                               op_args=[journal, "first", 1.5])
        second = PythonOperator(task_id="second", python_callable=_journal,
                                op_args=[journal, "second", 0])
        first >> second
    stop, cancelled = threading.Event(), []
    canceller = threading.Thread(target=_cancel_when_waiting, args=(
        dask_client.scheduler.address, "lost_key.second-", stop, cancelled))
    canceller.start()
    try:
        with dask.config.set({"daskflow.stall-timeout": 2}):
            result = dag.test(cluster=dask_client, db=db_url)
    finally:
        stop.set()
        canceller.join()

    assert len(cancelled) == 1
    assert result.state == "success"
    with open(journal) as f:
        assert sorted(f.read().split()) == ["first", "second"]  # each ran once
