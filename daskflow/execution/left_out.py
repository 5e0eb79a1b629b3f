"""Telling about the tasks a run does not have (``models/run_tasks.py``).

A task whose ``start_date``/``end_date`` leave it out of a run gets no task
instance, as in Airflow; the tasks downstream of it, which can never run in
that run, get an instance without a state, as Airflow leaves them, so that
``daskflow tasks list`` shows them and ``depends_on_past`` in the next run
waits for them.
"""

from __future__ import annotations

import logging
from typing import Any

from daskflow.models.run_tasks import RunTasks

logger = logging.getLogger("daskflow.execution")


def record_left_out(recorder: Any, dag: Any, run: Any, planned: RunTasks) -> None:
    """Log the left-out tasks, and record the stranded ones without a state."""
    for task_id, reason in planned.left_out.items():
        logger.info("DAG %r run %r has no instance of task %r: %s", run.dag_id, run.run_id,
                    task_id, reason)
    for task_id in planned.stranded:
        task = dag.task_dict[task_id]
        operator = task.operator_class.__name__ if task.is_mapped else type(task).__name__
        recorder.task(run.dag_id, run.run_id, task_id, -1, operator=operator, pool=task.pool,
                      pool_slots=task.pool_slots, max_tries=task.retries)
    if planned.failure:
        logger.warning("DAG %r run %r fails once its other tasks end: %s", run.dag_id,
                       run.run_id, planned.failure)
