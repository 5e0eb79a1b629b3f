"""What the grid draws, computed from grouped counts: one cell per run and task.

A mapped task is one cell however many instances it has (a run with 10,000
mapped instances is still one cell), coloured by the state that most needs
a look, with its counts per state for the tooltip and the expanded view.
Pure: it takes the store's records and counts and returns plain columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from daskflow.dashboard.layout import href
from daskflow.dashboard.style import state_color
from daskflow.store.overview import StateCount
from daskflow.store.records import DagRunRecord

#: Which state a mapped cell shows when its instances differ: the first present.
ATTENTION_ORDER = ("failed", "upstream_failed", "up_for_retry", "up_for_reschedule",
                   "deferred", "running", "queued", "scheduled", "none", "removed",
                   "skipped", "success")
CELL_COLUMNS = ("x", "task_id", "run_id", "state", "color", "mapped", "counts", "tries", "url")
RUN_COLUMNS = ("x", "run_id", "state", "color", "logical_date", "run_type")


def cell_state(counts: dict[str, int]) -> str:
    """The state a cell is drawn in.

    >>> cell_state({"success": 9, "failed": 1})
    'failed'
    >>> cell_state({"success": 3})
    'success'
    """
    for state in ATTENTION_ORDER:
        if counts.get(state):
            return state
    return max(counts, key=counts.get) if counts else "none"


def counts_text(counts: dict[str, int]) -> str:
    """``"success 8, failed 2"``, most frequent first."""
    return ", ".join(f"{state} {n}" for state, n in
                     sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def task_order(structure_tasks: Sequence[str], counts: Sequence[StateCount]) -> list[str]:
    """The grid's rows: the DAG's tasks in its order, then any only older runs had."""
    known = list(dict.fromkeys(structure_tasks))
    extra = sorted({c.task_id for c in counts} - set(known))
    return known + extra


def run_columns(runs: Sequence[DagRunRecord]) -> dict[str, list[Any]]:
    """The run header: one column per run, newest first (``x`` = 0)."""
    data: dict[str, list[Any]] = {name: [] for name in RUN_COLUMNS}
    for x, run in enumerate(runs):
        data["x"].append(x)
        data["run_id"].append(run.run_id)
        data["state"].append(run.state)
        data["color"].append(state_color(run.state))
        data["logical_date"].append(run.logical_date.strftime("%Y-%m-%d %H:%M:%S"))
        data["run_type"].append(run.run_type)
    return data


def cell_columns(dag_id: str, runs: Sequence[DagRunRecord], tasks: Sequence[str],
                 counts: Sequence[StateCount]) -> dict[str, list[Any]]:
    """One cell per (run, task) that has instances; ``url`` opens an unmapped one."""
    position = {run.run_id: x for x, run in enumerate(runs)}
    wanted = set(tasks)
    per_cell: dict[tuple[str, str], dict[str, Any]] = {}
    for c in counts:
        if c.run_id not in position or c.task_id not in wanted:
            continue
        cell = per_cell.setdefault((c.run_id, c.task_id),
                                   {"mapped": {}, "single": {}, "tries": 0})
        cell["mapped" if c.mapped else "single"][c.state] = c.count
        cell["tries"] = max(cell["tries"], c.max_try)
    data: dict[str, list[Any]] = {name: [] for name in CELL_COLUMNS}
    for (run_id, task_id), cell in per_cell.items():
        mapped = bool(cell["mapped"])
        states = cell["mapped"] if mapped else cell["single"]
        state = cell_state(states)
        data["x"].append(position[run_id])
        data["task_id"].append(task_id)
        data["run_id"].append(run_id)
        data["state"].append(state)
        data["color"].append(state_color(state))
        data["mapped"].append(mapped)
        data["counts"].append(counts_text(states))
        data["tries"].append(cell["tries"])
        data["url"].append("" if mapped else
                           href("/daskflow/task", dag_id=dag_id, run_id=run_id, task_id=task_id))
    return data
