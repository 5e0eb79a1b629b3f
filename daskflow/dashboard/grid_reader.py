"""Reading a DAG's grid from the store: the runs, the task rows and each run's cells.

A refresh re-reads only the runs that are new, active or changed state; a
finished run's cells are kept, so an open grid of 100 finished runs costs a
query of its runs and nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from daskflow.dashboard.grid_model import RunCells, assemble, run_cells, run_columns, task_order
from daskflow.dashboard.store_access import dashboard_store
from daskflow.store.overview import mapped_state_counts, unmapped_states
from daskflow.store.records import DagRecord, DagRunRecord
from daskflow.store.store import Store

#: Runs whose cells may still change without the run's state changing.
ACTIVE = ("queued", "running")


@dataclass(frozen=True, eq=False)
class GridData:
    dag: DagRecord | None
    tasks: list[str]
    runs: dict[str, list[Any]]
    cells: dict[str, Any]
    mapped: dict[str, list[str]]


def _structure_tasks(store: Store, dag_id: str, runs: list[DagRunRecord]) -> list[str]:
    version = None
    if runs and runs[0].dag_version:
        version = store.get_dag_version(runs[0].dag_version)
    if version is None:
        versions = store.list_dag_versions(dag_id)
        version = versions[0] if versions else None
    return list(((version.structure if version else None) or {}).get("tasks") or {})


class GridReader:
    """Reads a DAG's grid, re-reading only the runs that are new, active or changed state.

    A finished run's cells are kept from one refresh to the next, so an open
    grid of 100 finished runs costs one small query per refresh.
    """

    def __init__(self, dag_id: str, runs_shown: int, url: str | None = None) -> None:
        self.dag_id, self.runs_shown, self.url = dag_id, runs_shown, url
        self._cells: dict[str, tuple[str, RunCells]] = {}
        self._tasks: list[str] = []

    def read(self) -> GridData:
        store = dashboard_store(self.url)
        runs = store.list_dag_runs(self.dag_id, limit=self.runs_shown)
        stale = [r for r in runs if r.state in ACTIVE or r.run_id not in self._cells
                 or self._cells[r.run_id][0] != r.state]
        unmapped, mapped = self._read_runs(store, stale)
        seen = {t for rows in unmapped.values() for t, _, _ in rows}
        seen |= {c.task_id for counts in mapped.values() for c in counts}
        tasks = task_order(_structure_tasks(store, self.dag_id, runs),
                           sorted(seen | set(self._tasks)))
        if tasks != self._tasks and len(stale) < len(runs):
            stale = runs  # rows moved: every run's cells are recomputed
            unmapped, mapped = self._read_runs(store, stale)
        self._tasks = tasks
        rows = {task: row for row, task in enumerate(tasks)}
        for run in stale:
            cells = run_cells(rows, unmapped.get(run.run_id, []), mapped.get(run.run_id, []))
            self._cells[run.run_id] = (run.state, cells)
        shown = {run.run_id for run in runs}
        self._cells = {k: v for k, v in self._cells.items() if k in shown}
        cells, mapped_table = assemble([self._cells[run.run_id][1] for run in runs])
        return GridData(store.get_dag(self.dag_id), tasks, run_columns(runs), cells,
                        mapped_table)

    def _read_runs(self, store: Store, runs: list[DagRunRecord]) -> tuple[dict, dict]:
        ids = [run.run_id for run in runs]
        unmapped: dict[str, list[tuple[str, str, int]]] = {}
        for run_id, task_id, state, tries in unmapped_states(store, self.dag_id, ids):
            unmapped.setdefault(run_id, []).append((task_id, state, tries))
        mapped: dict[str, list] = {}
        for count in mapped_state_counts(store, self.dag_id, ids):
            mapped.setdefault(count.run_id, []).append(count)
        return unmapped, mapped


def read_grid(dag_id: str, runs_shown: int, url: str | None = None) -> GridData:
    """Everything the grid shows of ``dag_id`` (one full read)."""
    return GridReader(dag_id, runs_shown, url).read()
