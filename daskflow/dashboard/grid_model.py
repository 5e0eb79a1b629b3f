"""What the grid draws, as numbers: one cell per run and task, built from one run at a time.

The browser gets numeric columns (run position, task row, state code, tries,
mapped flag), which Bokeh ships as binary arrays; names come from two small
lists (the runs, the tasks), so a grid of 500 tasks x 100 runs is 50,000
numbers per column rather than 50,000 strings. A mapped task is one cell
however many instances it has, coloured by the state that most needs a
look, with its counts per state as text in a side table (``detail`` points
into it). Each run's cells are computed once and reused until that run
changes, so a refresh re-reads only the runs that are active.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from daskflow.dashboard.style import STATE_COLORS, state_color
from daskflow.store.overview import StateCount
from daskflow.store.records import DagRunRecord

#: Which state a mapped cell shows when its instances differ: the first present.
ATTENTION_ORDER = ("failed", "upstream_failed", "up_for_retry", "up_for_reschedule",
                   "deferred", "running", "queued", "scheduled", "none", "removed",
                   "skipped", "success")
#: A cell's ``state`` column holds an index into this tuple; ``PALETTE`` has its colours.
STATE_NAMES: tuple[str, ...] = tuple(state or "none" for state in STATE_COLORS)
PALETTE: tuple[str, ...] = tuple(state_color(None if n == "none" else n) for n in STATE_NAMES)
_CODE = {name: code for code, name in enumerate(STATE_NAMES)}
RUN_COLUMNS = ("x", "run_id", "state", "color", "logical_date", "run_type")
CELL_COLUMNS = ("x", "y", "state", "tries", "mapped", "detail")


def state_code(state: str | None) -> int:
    """The code of ``state`` in :data:`STATE_NAMES`; an unknown state counts as none."""
    return _CODE.get(state or "none", _CODE["none"])


def cell_state(counts: dict[str, int]) -> str:
    """The state a mapped cell is drawn in.

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


def task_order(structure_tasks: Sequence[str], seen: Sequence[str]) -> list[str]:
    """The grid's rows: the DAG's tasks in its order, then any only older runs had."""
    known = list(dict.fromkeys(structure_tasks))
    extra = sorted(set(seen) - set(known))
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


@dataclass(frozen=True, eq=False)
class RunCells:
    """One run's cells: task rows, state codes, tries, mapped flags, and each mapped
    cell's counts text (in the order its mapped cells appear)."""

    rows: np.ndarray
    states: np.ndarray
    tries: np.ndarray
    mapped: np.ndarray
    counts: list[str] = field(default_factory=list)


def run_cells(task_rows: dict[str, int], unmapped: Sequence[tuple[str, str, int]],
              mapped: Sequence[StateCount]) -> RunCells:
    """The cells of one run from its unmapped ``(task_id, state, try)`` rows and its mapped
    counts; a task with expanded instances is drawn from them, not from its placeholder."""
    per_task: dict[str, dict[str, int]] = {}
    mapped_tries: dict[str, int] = {}
    for c in mapped:
        per_task.setdefault(c.task_id, {})[c.state] = c.count
        mapped_tries[c.task_id] = max(mapped_tries.get(c.task_id, 0), c.max_try)
    singles = [(task_rows[t], state_code(s), n) for t, s, n in unmapped
               if t in task_rows and t not in per_task]
    groups = [(task_rows[t], state_code(cell_state(counts)), mapped_tries[t], counts_text(counts))
              for t, counts in per_task.items() if t in task_rows]
    return RunCells(
        rows=np.array([r for r, _, _ in singles] + [g[0] for g in groups], dtype=np.int32),
        states=np.array([s for _, s, _ in singles] + [g[1] for g in groups], dtype=np.uint8),
        tries=np.array([n for _, _, n in singles] + [g[2] for g in groups], dtype=np.int32),
        mapped=np.array([False] * len(singles) + [True] * len(groups), dtype=bool),
        counts=[g[3] for g in groups])


def assemble(per_run: Sequence[RunCells]) -> tuple[dict[str, np.ndarray], dict[str, list]]:
    """The grid's cell columns (run ``i`` at ``x = i``) and its mapped-cell table.

    ``detail`` is -1 for an unmapped cell and the row of its counts in the
    mapped-cell table otherwise.
    """
    xs = [np.full(len(cells.rows), x, dtype=np.int32) for x, cells in enumerate(per_run)]
    mapped = np.concatenate([c.mapped for c in per_run]) if per_run else np.zeros(0, bool)
    detail = np.full(len(mapped), -1, dtype=np.int32)
    detail[mapped] = np.arange(int(mapped.sum()), dtype=np.int32)
    empty = np.zeros(0, dtype=np.int32)
    columns = {
        "x": np.concatenate(xs) if xs else empty,
        "y": np.concatenate([c.rows for c in per_run]) if per_run else empty,
        "state": np.concatenate([c.states for c in per_run]) if per_run else empty,
        "tries": np.concatenate([c.tries for c in per_run]) if per_run else empty,
        "mapped": mapped.astype(np.int8),
        "detail": detail,
    }
    counts = [text for c in per_run for text in c.counts]
    return columns, {"counts": counts}


def same_columns(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two sets of columns hold the same values (numpy arrays compared by value)."""
    if a.keys() != b.keys():
        return False
    return all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) if isinstance(a[k], np.ndarray)
               else a[k] == b[k] for k in a)


def decode(cells: dict[str, Any], tasks: Sequence[str], run_ids: Sequence[str]
           ) -> dict[tuple[str, str], str]:
    """``{(run_id, task_id): state name}``: the cells as a reader sees them (for tests)."""
    return {(run_ids[int(x)], tasks[int(y)]): STATE_NAMES[int(s)]
            for x, y, s in zip(cells["x"], cells["y"], cells["state"], strict=True)}


