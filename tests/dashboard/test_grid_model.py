"""The grid's cells from grouped counts: one cell per run and task, mapped tasks aggregated."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from daskflow.dashboard.grid_model import cell_columns, cell_state, run_columns, task_order
from daskflow.dashboard.style import STATE_COLORS
from daskflow.store.overview import StateCount
from daskflow.store.records import DagRunRecord

DAY = datetime(2025, 1, 1, tzinfo=timezone.utc)


def _run(n: int, state: str) -> DagRunRecord:
    return DagRunRecord(id=n, dag_id="etl", run_id=f"r{n}", logical_date=DAY + timedelta(n),
                        data_interval_start=None, data_interval_end=None, state=state,
                        run_type="manual", conf=None, start_date=None, end_date=None,
                        queued_at=None, external_trigger=True, dag_version=None,
                        last_scheduling_decision=None, owner_loop=None, heartbeat=None)


def test_a_mapped_task_is_one_cell_coloured_by_the_state_needing_a_look():
    runs = [_run(2, "running"), _run(1, "success")]  # newest first
    counts = [
        StateCount("r2", "extract", "success", False, 1, 1),
        StateCount("r2", "work", "success", True, 9_997, 1),
        StateCount("r2", "work", "failed", True, 2, 2),
        StateCount("r2", "work", "running", True, 1, 1),
        StateCount("r1", "extract", "success", False, 1, 3),
        StateCount("r1", "gone", "success", False, 1, 1),  # a task no longer shown
    ]
    data = cell_columns("etl", runs, ["extract", "work"], counts)
    cells = {(r, t): i for i, (r, t) in enumerate(zip(data["run_id"], data["task_id"],
                                                                 strict=True))}
    assert set(cells) == {("r2", "extract"), ("r2", "work"), ("r1", "extract")}
    work = cells[("r2", "work")]
    assert data["state"][work] == "failed" and data["color"][work] == STATE_COLORS["failed"]
    assert data["mapped"][work] is True and data["url"][work] == ""
    assert data["counts"][work] == "success 9997, failed 2, running 1"
    assert data["tries"][work] == 2
    extract = cells[("r1", "extract")]
    assert data["x"][extract] == 1 and data["tries"][extract] == 3
    assert data["url"][extract] == "daskflow/task?dag_id=etl&run_id=r1&task_id=extract"


def test_runs_newest_first_and_task_rows_in_dag_order_then_older_tasks():
    data = run_columns([_run(2, "failed"), _run(1, "success")])
    assert data["run_id"] == ["r2", "r1"] and data["x"] == [0, 1]
    assert data["color"] == [STATE_COLORS["failed"], STATE_COLORS["success"]]
    counts = [StateCount("r1", "old_b", "success", False, 1, 1),
              StateCount("r1", "old_a", "success", False, 1, 1)]
    assert task_order(["load", "extract"], counts) == ["load", "extract", "old_a", "old_b"]


def test_cell_state_prefers_trouble_then_activity_then_done():
    assert cell_state({"success": 5, "up_for_retry": 1}) == "up_for_retry"
    assert cell_state({"success": 5, "running": 1, "queued": 3}) == "running"
    assert cell_state({"skipped": 2, "success": 1}) == "skipped"
    assert cell_state({"mystery": 1}) == "mystery"
