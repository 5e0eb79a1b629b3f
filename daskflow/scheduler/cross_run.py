"""Holds that reach across runs: ``depends_on_past`` and ``wait_for_downstream``.

A task with ``depends_on_past=True`` does not start in a run until its
instance in the DAG's previous run (the newest run with an earlier logical
date) succeeded or was skipped. With ``wait_for_downstream=True`` (which
implies ``depends_on_past``) it also waits for the instances of its
*immediate* downstream tasks in that previous run, as in Airflow: a task that
rewrites what its downstream tasks read does not start again until they have
read the previous version. Tasks further downstream do not count.

There is nothing to wait for in a DAG's first run, nor for a task that has no
instance in the previous run (it was added since, or its ``start_date`` or
``end_date`` left it out of that run). The scheduler loop holds such tasks
back (``RunExecution.hold``) and asks again every heartbeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from daskflow.models.state import TaskInstanceState

#: Previous states that let a task go ahead (``None``: there is no previous instance).
CLEARED = (None, TaskInstanceState.SUCCESS.value, TaskInstanceState.SKIPPED.value)


def waited_for(task: Any) -> list[str]:
    """The tasks whose previous-run instances ``task`` waits for (none, itself, + downstream)."""
    if not task.depends_on_past:
        return []
    below = sorted(task.downstream_task_ids) if task.wait_for_downstream else []
    return [task.task_id, *below]


def blocking(previous: dict[str, str | None], waits_for: Iterable[str]) -> list[str]:
    """Those of ``waits_for`` whose previous state (worst over instances) holds a task back."""
    return [t for t in waits_for if previous.get(t) not in CLEARED]


def held_tasks(store: Any, dag: Any, run: Any) -> set[str]:
    """Ids of the tasks of ``run`` that must not start yet because of the previous run."""
    previous: dict[str, str | None] = {}
    held = set()
    for task in dag.tasks:
        waits_for = waited_for(task)
        for task_id in waits_for:
            if task_id not in previous:
                previous[task_id] = store.previous_task_instance_state(
                    dag.dag_id, task_id, run.logical_date)
        if blocking(previous, waits_for):
            held.add(task.task_id)
    return held
