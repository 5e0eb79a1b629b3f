"""The grid's reads: a 10,000-instance mapping is one cell, and a refresh re-reads only
the runs that can have changed."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daskflow.dashboard.grid_model import decode
from daskflow.dashboard.grid_reader import GridReader
from daskflow.store.records import TaskInstanceRecord, TaskUpdate

DAY = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.mark.slow
def test_ten_thousand_mapped_instances_are_one_cell_with_their_counts(store, db_url):
    store.save_dag_version("v1", "big", "/dags/big.py", "", {"tasks": {"split": {},
                                                                        "work": {}}})
    store.create_dag_run("big", "r1", DAY, None, None, "manual", None, state="running",
                         dag_version="v1")
    store.create_task_instances(
        [TaskInstanceRecord("big", "r1", "split", state="success", try_number=1),
         TaskInstanceRecord("big", "r1", "work", state=None)]  # the placeholder
        + [TaskInstanceRecord("big", "r1", "work", i, try_number=1,
                              state="failed" if i % 1000 == 0 else "success")
           for i in range(10_000)])
    data = GridReader("big", 25, db_url).read()
    assert len(data.cells["x"]) == 2
    assert decode(data.cells, data.tasks, ["r1"]) == {("r1", "split"): "success",
                                                      ("r1", "work"): "failed"}
    assert data.mapped == {"counts": ["success 9990, failed 10"]}


def test_a_refresh_keeps_finished_runs_and_rereads_active_ones(store, db_url):
    store.save_dag_version("v1", "etl", "/dags/etl.py", "", {"tasks": {"a": {}}})
    for n, state in enumerate(["success", "running"]):
        store.create_dag_run("etl", f"r{n}", DAY + timedelta(days=n), None, None, "manual",
                             None, state=state, dag_version="v1")
        store.create_task_instances([TaskInstanceRecord("etl", f"r{n}", "a", state=state)])
    reader = GridReader("etl", 25, db_url)
    reader.read()
    # Behind the finished run's back (no run state change): kept as it was read.
    store.apply_updates([TaskUpdate("etl", "r0", "a", state="failed"),
                         TaskUpdate("etl", "r1", "a", state="success")])
    data = reader.read()
    assert decode(data.cells, data.tasks, data.runs["run_id"]) == {
        ("r1", "a"): "success", ("r0", "a"): "success"}
    store.set_dag_run_state("etl", "r0", "failed")  # its state changed: read again
    data = reader.read()
    assert decode(data.cells, data.tasks, data.runs["run_id"])[("r0", "a")] == "failed"
    assert GridReader("etl", 25, db_url).read().runs["run_id"] == ["r1", "r0"]
