"""``daskflow tasks test``: run ONE task here, now, for debugging; nothing is recorded.

There is no cluster, no store and no upstream task: the task's code runs in
this process with its output going straight to the terminal, so a debugger
or ``print`` works as usual. Values that would come from upstream tasks
(XComArgs in the arguments, ``ti.xcom_pull``) are ``None``, and DAG params
passed to a ``@dag`` function body take their values from ``--conf``, then
the DAG's ``params``. A mapped task runs one instance (``--map-index``),
provided what it expands over is written in the DAG file rather than
computed by an upstream task.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.models.context import (
    DagRunInfo,
)
from daskflow.models.mapping import resolved_copy
from daskflow.models.xcom_arg import ParamArg


@dataclass(frozen=True)
class TaskRunResult:
    """How the task ended: ``success``, ``skipped`` or ``failed`` (with the traceback)."""

    dag_id: str
    task_id: str
    map_index: int
    state: str
    value: Any = None
    error: str | None = None


def upstream_note(dag: Any, task_id: str) -> str | None:
    """The warning to show when the task has upstream tasks whose values it will miss."""
    upstream = sorted(dag.get_task(task_id).upstream_task_ids)
    if not upstream:
        return None
    return (f"Note: task {task_id!r} has upstream tasks ({', '.join(upstream)}); "
            "`tasks test` runs it alone, so values they would pass to it are None.")


def run_info(dag: Any, logical_date: datetime | None, conf: dict[str, Any]) -> DagRunInfo:
    """A stand-in manual run at ``logical_date`` (default: now)."""
    logical = logical_date or datetime.now(timezone.utc)
    interval = dag.timetable.infer_manual_data_interval(logical)
    return DagRunInfo(dag_id=dag.dag_id, run_id=f"test__{logical.isoformat()}",
                      logical_date=logical, data_interval_start=interval.start,
                      data_interval_end=interval.end, run_type="manual", conf=conf,
                      start_date=datetime.now(timezone.utc))


def run_task(dag: Any, task: Any, run: DagRunInfo) -> TaskRunResult:
    """Run ``task`` (from :func:`concrete_task`) here, as a node would; report how it ended.

    The attempt goes through the node's own code (``execution/node.py``):
    ``execution_timeout``, ``on_execute_callback`` and the ``multiple_outputs``
    check apply exactly as in a DAG run. It is try 1 and nothing retries it.
    """
    from daskflow.execution.node import run_attempt

    index = getattr(task, "map_index", -1)
    upstream: dict[str, dict[str, Any]] = {t: {} for t in task.upstream_task_ids}
    attempt = run_attempt(task, run, 1, index, upstream, test_mode=True, show_traceback=False)
    while attempt.deferral is not None:
        # No loop here: wait on the trigger in this process, then resume as a node would.
        resume = _resume_after_waiting(attempt.deferral)
        if "end" in resume:
            return TaskRunResult(dag.dag_id, task.task_id, index, resume["end"])
        attempt = run_attempt(task, run, 1, index, upstream, test_mode=True,
                              show_traceback=False, resume=resume)
    if attempt.state.value == "skipped":
        return TaskRunResult(dag.dag_id, task.task_id, index, "skipped",
                             error=attempt.skipped_because)
    if attempt.state.value != "success":
        return TaskRunResult(dag.dag_id, task.task_id, index, "failed",
                             error=attempt.traceback or attempt.error)
    return TaskRunResult(dag.dag_id, task.task_id, index, "success", value=attempt.value)


def _resume_after_waiting(deferral: dict[str, Any]) -> dict[str, Any]:
    from daskflow.execution.deferral import resume_with_event, resume_with_failure
    from daskflow.execution.triggerer import ERROR, EVENT, wait_here

    kind, payload = wait_here(deferral)
    if kind == EVENT:
        return resume_with_event(deferral, payload, None)
    if kind == "timeout":
        return resume_with_failure(
            "the trigger did not fire within the timeout given to defer()", None,
            timed_out=True)
    if kind == ERROR:
        return resume_with_failure(f"the trigger failed: {payload}", None)
    return {"end": kind}


def concrete_task(dag: Any, task_id: str, conf: dict[str, Any], map_index: int | None) -> Any:
    """A private copy of the task with upstream values as ``None`` and params filled in."""
    task = dag.get_task(task_id)
    params = {**(dag.params or {}), **(conf or {})}

    def resolve(ref: Any) -> Any:
        return params.get(ref.name) if isinstance(ref, ParamArg) else None

    if task.is_mapped:
        _check_instance(task, map_index or 0)
    elif map_index is not None:
        raise DaskflowError(f"task {task.task_id!r} is not mapped; drop --map-index")
    return resolved_copy(task, map_index or 0, resolve)


def _check_instance(task: Any, map_index: int) -> None:
    if task.expands_at_runtime():
        sources = ", ".join(sorted({ref.task_id for ref in task.upstream_refs()}))
        raise DaskflowError(
            f"mapped task {task.task_id!r} expands over the output of {sources}, which "
            "`tasks test` does not run; test it with `daskflow dags test` instead")
    count = task.literal_count()
    if count == 0:
        raise DaskflowError(f"mapped task {task.task_id!r} expands over nothing: no instances")
    if not 0 <= map_index < count:
        raise DaskflowError(f"mapped task {task.task_id!r} has {count} instances; "
                            f"--map-index must be between 0 and {count - 1}")
