"""Which tasks of a DAG a run has: a task's ``start_date`` and ``end_date``.

As in Airflow 3 (checked with 3.3.2): a task's dates are its own narrowed by
the DAG's (the later of the two start dates, the earlier of the two end
dates; a task without one takes the DAG's). A run whose logical date is
before a task's start date or after its end date has **no instance** of that
task. A backfill run has every task, whatever the dates.

Tasks downstream of a task a run does not have can never run in it, whatever
their trigger rule: Airflow leaves them without a state, and once nothing
else can run it fails the run ("task deadlock"). daskflow does the same: it
records them without a state, runs the rest, and fails the run with a reason
naming them. A left-out task without downstream tasks changes nothing else:
the run's state comes from the leaves it has.

>>> from datetime import datetime, timezone
>>> from daskflow.models.dag import DAG
>>> from daskflow.models.baseoperator import BaseOperator
>>> with DAG("dates") as dag:
...     new = BaseOperator(task_id="new", start_date=datetime(2025, 6, 1))
...     _ = new >> BaseOperator(task_id="after")
...     _ = BaseOperator(task_id="old")
>>> planned = tasks_for_run(dag, datetime(2025, 1, 1, tzinfo=timezone.utc), "scheduled")
>>> planned.order, sorted(planned.left_out), sorted(planned.stranded)
(('old',), ['new'], ['after'])
>>> tasks_for_run(dag, datetime(2025, 1, 1, tzinfo=timezone.utc), "backfill").order
('new', 'after', 'old')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Airflow creates every task instance of a backfill run, whatever the dates.
BACKFILL = "backfill"


@dataclass(frozen=True)
class RunTasks:
    """The tasks of one run: those it runs, and why the others have no part in it."""

    #: Tasks the run has and can run, in topological order.
    order: tuple[str, ...]
    #: Tasks the run has no instance of, with the reason (their dates).
    left_out: dict[str, str] = field(default_factory=dict)
    #: Tasks that can never run in this run (downstream of a left-out task), with the reason.
    stranded: dict[str, str] = field(default_factory=dict)

    @property
    def failure(self) -> str | None:
        """Why the run fails whatever its tasks do, or ``None``."""
        if not self.stranded:
            return None
        first = next(iter(self.stranded))
        more = f" (and {len(self.stranded) - 1} more)" if len(self.stranded) > 1 else ""
        return f"task {first!r}{more} can never run: {self.stranded[first]}"


def effective_dates(task: Any, dag: Any) -> tuple[datetime | None, datetime | None]:
    """The task's start and end date as Airflow applies them: its own, within the DAG's."""
    starts = [d for d in (task.start_date, dag.start_date) if d is not None]
    ends = [d for d in (task.end_date, dag.end_date) if d is not None]
    return (max(starts) if starts else None), (min(ends) if ends else None)


def why_left_out(task: Any, dag: Any, logical_date: datetime | None, run_type: str
                 ) -> str | None:
    """Why a run at ``logical_date`` has no instance of ``task`` (``None``: it has one)."""
    if run_type == BACKFILL or logical_date is None:
        return None
    start, end = effective_dates(task, dag)
    if start is not None and logical_date < start:
        return f"its start_date {start.isoformat()} is after the run's logical date " \
               f"{logical_date.isoformat()}"
    if end is not None and logical_date > end:
        return f"its end_date {end.isoformat()} is before the run's logical date " \
               f"{logical_date.isoformat()}"
    return None


def tasks_for_run(dag: Any, logical_date: datetime | None, run_type: str) -> RunTasks:
    """Split the DAG's tasks for one run (see the module docstring)."""
    order: list[str] = []
    left_out: dict[str, str] = {}
    stranded: dict[str, str] = {}
    for task in dag.topological_sort():
        reason = why_left_out(task, dag, logical_date, run_type)
        if reason is not None:
            left_out[task.task_id] = reason
            continue
        blocked = sorted(u for u in task.upstream_task_ids if u in left_out or u in stranded)
        if blocked:
            upstream = blocked[0]
            stranded[task.task_id] = (
                f"its upstream task {upstream!r} has no instance in this run "
                f"({left_out[upstream]})" if upstream in left_out else
                f"its upstream task {upstream!r} can never run")
            continue
        order.append(task.task_id)
    return RunTasks(tuple(order), left_out, stranded)
