"""What the date, weekday and latest-only branch operators share.

Their ``execute`` returns the task ids to follow (``is_branch``); the node
skips every other direct downstream task, as for ``BranchPythonOperator``.
The DAG's schedule and timezone are read when the task is defined: a task
travels to a Dask worker without its DAG, so they go along with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone, tzinfo
from typing import Any

from daskflow.exceptions import DagDefinitionError
from daskflow.models.baseoperator import BaseOperator


def check_follow(task: BaseOperator, name: str, value: Any) -> str | list[str]:
    """A task id or a list of task (or task group) ids, refused otherwise."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Iterable) and not isinstance(value, (str, bytes, dict)):
        ids = list(value)
        if all(isinstance(i, str) and i for i in ids):
            return ids
    raise DagDefinitionError(
        f"{task._where(name)} must be a task id or a list of task ids, got {value!r}")


class DagScheduleMixin:
    """Keeps the DAG's timetable, dates and timezone with the task when it is pickled."""

    def __getstate__(self) -> dict[str, Any]:
        dag = getattr(self, "dag", None)
        state = super().__getstate__()  # type: ignore[misc]
        if dag is not None and hasattr(dag, "timetable"):
            state["_dag_schedule"] = (dag.timetable, dag.start_date, dag.end_date,
                                      _dag_timezone(dag))
        return state

    def _schedule(self) -> tuple[Any, datetime | None, datetime | None, tzinfo]:
        """``(timetable, start_date, end_date, timezone)`` of the task's DAG."""
        dag = getattr(self, "dag", None)
        if dag is not None and hasattr(dag, "timetable"):
            return dag.timetable, dag.start_date, dag.end_date, _dag_timezone(dag)
        stored = self.__dict__.get("_dag_schedule")
        return stored if stored is not None else (None, None, None, timezone.utc)


def _dag_timezone(dag: Any) -> tzinfo:
    """The DAG's timezone: its start_date's, else UTC (Airflow's default timezone)."""
    start = getattr(dag, "start_date", None)
    return start.tzinfo if start is not None and start.tzinfo is not None else timezone.utc


def logical_or_now(context: dict[str, Any], use_task_logical_date: bool, tz: tzinfo) -> datetime:
    """The run's logical date, or now in the DAG's timezone."""
    if use_task_logical_date:
        return context["logical_date"]
    return datetime.now(timezone.utc).astimezone(tz)
