"""What the graph and Gantt pages read about a DAG: its runs, and its shape as a run saw it.

The Dask scheduler's process never imports a user's DAG file (user code runs
in parse child processes and on workers), so a DAG's tasks, edges, groups and
mapping come from the structure stored with each DAG version
(``scheduler/dag_sync.py``). A run is drawn with the version it was created
from, so an old run keeps its own shape after the file changed.
"""

from __future__ import annotations

from typing import Any

from daskflow.store.records import DagRunRecord

#: Runs a page offers to choose from, newest first.
RUN_CHOICES = 50
#: A run in one of these states may still change: its page keeps updating.
ACTIVE_RUN_STATES = frozenset({"queued", "running"})


def recent_runs(store: Any, dag_id: str) -> list[DagRunRecord]:
    """The DAG's newest runs, newest logical date first."""
    return store.list_dag_runs(dag_id, limit=RUN_CHOICES)


def chosen_run(store: Any, dag_id: str, run_id: str | None) -> DagRunRecord | None:
    """The run ``run_id``, or the DAG's newest run when none is named."""
    if run_id:
        return store.get_dag_run(dag_id, run_id)
    newest = store.list_dag_runs(dag_id, limit=1)
    return newest[0] if newest else None


def dag_tasks(store: Any, dag_id: str, run: DagRunRecord | None = None
              ) -> dict[str, dict[str, Any]]:
    """``{task_id: shape}`` of the DAG version ``run`` was created from, else the newest
    version; empty when the store holds no version of the DAG."""
    version = None
    if run is not None and run.dag_version:
        version = store.get_dag_version(run.dag_version)
    if version is None:
        versions = store.list_dag_versions(dag_id)
        version = versions[0] if versions else None
    if version is None or not isinstance(version.structure, dict):
        return {}
    return dict(version.structure.get("tasks") or {})


def is_active(run: DagRunRecord | None) -> bool:
    return run is not None and run.state in ACTIVE_RUN_STATES
