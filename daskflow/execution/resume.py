"""What a run resumes from: its record and its task instances, as the store has them.

A loop that claims a run (new, adopted, cleared), a loop whose Dask scheduler
restarted, and a run whose keys Dask lost all rebuild the run's graph from
the store: finished instances are replayed from the result store, instances
waiting out a retry delay keep waiting until their stored time, the others
run (``execution/run.py``).
"""

from __future__ import annotations

from typing import Any

from daskflow.execution.decisions import StoredInstance
from daskflow.models.context import DagRunInfo


def stored_instances(store: Any, dag_id: str, run_id: str
                     ) -> dict[tuple[str, int], StoredInstance]:
    """The run's task instances as a resumed run needs them."""
    return {(t.task_id, t.map_index): StoredInstance(
                t.state, t.try_number, t.result_ref, dict(t.map_lengths or {}),
                t.next_try_at.timestamp() if t.next_try_at else None,
                t.start_date.timestamp() if t.start_date else None,
                dict(t.deferral) if t.deferral else None)
            for t in store.list_task_instances(dag_id, run_id)}


def run_info(run: Any) -> DagRunInfo:
    """The task context's view of a stored run record."""
    return DagRunInfo(
        dag_id=run.dag_id, run_id=run.run_id, logical_date=run.logical_date,
        data_interval_start=run.data_interval_start or run.logical_date,
        data_interval_end=run.data_interval_end or run.logical_date,
        run_type=run.run_type, conf=dict(run.conf or {}), start_date=run.start_date,
        external_trigger=run.external_trigger)
