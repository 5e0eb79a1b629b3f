"""daskflow from Python: submit and follow runs, queue runs for a scheduler, read the store.

``dag.submit()`` (on the DAG) runs a DAG from this process without blocking
and returns a :class:`RunHandle`; :func:`trigger` queues a run for a running
``daskflow scheduler`` and returns a :class:`StoredRunHandle`; the read
functions give the store's records (docs/python-api.md).
"""

from daskflow.api.handles import RunHandle, StoredRunHandle
from daskflow.api.read import (
    attempts,
    get_dag,
    get_run,
    list_dags,
    list_runs,
    log,
    state_counts,
    task_instances,
    xcoms,
)
from daskflow.api.trigger import trigger
from daskflow.execution.single_run import RunResult, TaskResult


def run(dag_id: str, run_id: str, db: str | None = None) -> StoredRunHandle:
    """A handle on an existing run (however it was started), read from the store."""
    get_run(dag_id, run_id, db)
    return StoredRunHandle(dag_id, run_id, db=db)


def shutdown() -> None:
    """Stop driving submitted runs (unfinished ones end failed) and close what
    ``dag.submit()`` opened: its clients, the embedded cluster and the stores.
    Runs at interpreter exit by itself."""
    from daskflow.api.read import close_stores
    from daskflow.execution.submitter import close_all

    close_all()
    close_stores()


__all__ = [
    "RunHandle",
    "RunResult",
    "StoredRunHandle",
    "TaskResult",
    "attempts",
    "get_dag",
    "get_run",
    "list_dags",
    "list_runs",
    "log",
    "run",
    "shutdown",
    "state_counts",
    "task_instances",
    "trigger",
    "xcoms",
]
