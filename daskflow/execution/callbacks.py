"""Task callbacks, run once per attempt outcome in threads of the loop's process.

A node reports how each attempt ended; the loop (or ``dag.test()``) calls the
task's ``on_success_callback`` / ``on_failure_callback`` / ``on_retry_callback``
/ ``on_skipped_callback`` from a thread pool of its own, never its own thread.
Dask may run a task more than once (a worker dies, a work-stealing race), so
the same outcome can be reported twice; callbacks are keyed by task
instance, try and state and run once each. The context is built from the
report: ``ti``, ``dag_run``, ``params``, the dates, and for failures
``exception`` (the error as the task raised it, as text).
"""

from __future__ import annotations

import logging
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.execution.report import Report
from daskflow.models.context import DagRunInfo, RuntimeTaskInstance, build_context
from daskflow.secrets.lookup import using_store
from daskflow.secrets.templates import template_lookups

logger = logging.getLogger("daskflow.callbacks")

_HOOKS = {"success": "on_success_callback", "failed": "on_failure_callback",
          "up_for_retry": "on_retry_callback", "skipped": "on_skipped_callback"}


class TaskCallbacks:
    """Remembers which outcomes already had their callbacks."""

    def __init__(self) -> None:
        self._seen: set[tuple] = set()

    def due(self, dag: Any, run: DagRunInfo, task: Any, report: Report
            ) -> list[tuple[Any, dict[str, Any]]]:
        """(callback, context) pairs to call for this report; empty if already done."""
        hook = _HOOKS.get(report.state)
        callbacks = getattr(task, hook, None) if hook else None
        if not callbacks:
            return []
        seen = (task.task_id, report.map_index, report.try_number, report.state)
        if seen in self._seen:
            return []
        self._seen.add(seen)
        context = _context(dag, run, task, report)
        return [(callback, context) for callback in callbacks]


def _context(dag: Any, run: DagRunInfo, task: Any, report: Report) -> dict[str, Any]:
    ti = RuntimeTaskInstance(task=task, run=run, try_number=report.try_number,
                             max_tries=task.retries, map_index=report.map_index,
                             hostname=report.host or "")
    ti.state = report.state
    context = build_context(task, run, ti, dag=dag, lookups=template_lookups())
    if report.error:
        context["exception"] = DaskflowError(report.error)
    return context


def call(callback: Any, context: dict[str, Any], store_url: str | None = None) -> None:
    """Call one callback; a failing callback is logged and changes nothing else.

    ``store_url``: where the callback looks connections and variables up (the run's store).
    """
    try:
        with using_store(store_url):
            callback(context)
    except Exception:
        logger.exception("callback %r of task %r failed", getattr(callback, "__name__", callback),
                         getattr(context.get("task"), "task_id", "?"))


def dag_callbacks(dag: Any, run: DagRunInfo, state: str, reason: str | None = None
                  ) -> list[tuple[Any, dict[str, Any]]]:
    """(callback, context) pairs of a finished run's on_success/on_failure callbacks."""
    succeeded = state == "success"
    callbacks = dag.on_success_callback if succeeded else dag.on_failure_callback
    context = {"dag": dag, "dag_run": run, "run_id": run.run_id, "params": dag.params,
               "logical_date": run.logical_date,
               "reason": reason or ("success" if succeeded else "task_failure")}
    return [(callback, context) for callback in callbacks or ()]
