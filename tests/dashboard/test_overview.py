"""The grouped reads behind the DAG list and the grid, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from daskflow.store import Store
from daskflow.store.overview import (
    instances_in_state,
    mapped_state_counts,
    recent_run_states,
    unmapped_states,
)
from daskflow.store.records import TaskInstanceRecord

DAY = datetime(2025, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'overview.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    opened = Store(url)
    opened.reset()
    yield opened
    opened.reset()
    opened.dispose()


def _runs(store: Store, dag_id: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        run = store.create_dag_run(dag_id, f"run{i}", DAY + timedelta(days=i), None, None,
                                   "scheduled", None, state="success" if i % 2 else "failed")
        ids.append(run.run_id)
    return ids


def test_unmapped_instances_one_row_each_and_mapped_ones_counted_per_state(store):
    _runs(store, "etl", 2)
    store.create_task_instances(
        [TaskInstanceRecord("etl", "run0", "extract", state="success", try_number=2)]
        + [TaskInstanceRecord("etl", "run0", "work", i, state="failed" if i < 3 else "success",
                              try_number=1) for i in range(50)]
        + [TaskInstanceRecord("etl", "run1", "extract", state=None)])
    counts = {(c.run_id, c.task_id, c.state): (c.count, c.max_try)
              for c in mapped_state_counts(store, "etl", ["run0", "run1"])}
    assert counts == {("run0", "work", "failed"): (3, 1), ("run0", "work", "success"): (47, 1)}
    assert sorted(unmapped_states(store, "etl", ["run0", "run1"])) == [
        ("run0", "extract", "success", 2), ("run1", "extract", "none", 0)]
    assert unmapped_states(store, "etl", ["run1"]) == [("run1", "extract", "none", 0)]
    assert unmapped_states(store, "etl", []) == [] and mapped_state_counts(store, "etl", []) == []
    listed = instances_in_state(store, "etl", "run0", "work", limit=4)
    assert listed == [(0, "failed", 1), (1, "failed", 1), (2, "failed", 1), (3, "success", 1)]


def test_recent_run_states_keeps_each_dags_newest_runs_newest_first(store):
    _runs(store, "etl", 5)
    _runs(store, "report", 1)
    found = recent_run_states(store, per_dag=3)
    assert found == {"etl": [("run4", "failed"), ("run3", "success"), ("run2", "failed")],
                     "report": [("run0", "failed")]}
