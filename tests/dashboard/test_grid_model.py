"""The grid's cells as numbers: one cell per run and task, mapped tasks aggregated."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from daskflow.dashboard.grid_model import (
    PALETTE,
    STATE_NAMES,
    assemble,
    cell_state,
    decode,
    run_cells,
    run_columns,
    same_columns,
    state_code,
    task_order,
)
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
    tasks = ["extract", "work"]
    rows = {t: i for i, t in enumerate(tasks)}
    newest = run_cells(rows, [("extract", "success", 1), ("work", "success", 1),
                              ("gone", "success", 1)],  # a task no longer drawn
                       [StateCount("r2", "work", "success", 9_997, 1),
                        StateCount("r2", "work", "failed", 2, 2),
                        StateCount("r2", "work", "running", 1, 1)])
    older = run_cells(rows, [("extract", "failed", 3)], [])
    cells, mapped = assemble([newest, older])
    assert decode(cells, tasks, ["r2", "r1"]) == {
        ("r2", "extract"): "success", ("r2", "work"): "failed", ("r1", "extract"): "failed"}
    work = [i for i in range(len(cells["x"])) if cells["mapped"][i]]
    assert len(work) == 1 and cells["detail"][work[0]] == 0 and cells["tries"][work[0]] == 2
    assert mapped == {"counts": ["success 9997, failed 2, running 1"]}
    assert sorted(cells["detail"].tolist()) == [-1, -1, 0]
    older_extract = list(cells["x"]).index(1)
    assert cells["tries"][older_extract] == 3


def test_each_state_has_its_colour_and_an_unknown_state_counts_as_none():
    for state, color in STATE_COLORS.items():
        assert PALETTE[state_code(state)] == color
    assert STATE_NAMES[state_code("mystery")] == "none"


def test_runs_newest_first_and_task_rows_in_dag_order_then_older_tasks():
    data = run_columns([_run(2, "failed"), _run(1, "success")])
    assert data["run_id"] == ["r2", "r1"] and data["x"] == [0, 1]
    assert data["color"] == [STATE_COLORS["failed"], STATE_COLORS["success"]]
    assert task_order(["load", "extract"], ["old_b", "load", "old_a"]) == [
        "load", "extract", "old_a", "old_b"]


def test_cell_state_prefers_trouble_then_activity_then_done():
    assert cell_state({"success": 5, "up_for_retry": 1}) == "up_for_retry"
    assert cell_state({"success": 5, "running": 1, "queued": 3}) == "running"
    assert cell_state({"skipped": 2, "success": 1}) == "skipped"
    assert cell_state({"mystery": 1}) == "mystery"


def test_same_columns_compares_arrays_by_value():
    rows = {"a": 0}
    one, _ = assemble([run_cells(rows, [("a", "success", 1)], [])])
    two, _ = assemble([run_cells(rows, [("a", "success", 1)], [])])
    three, _ = assemble([run_cells(rows, [("a", "failed", 1)], [])])
    assert same_columns(one, two) and not same_columns(one, three)
