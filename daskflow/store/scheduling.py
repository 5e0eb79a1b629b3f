"""The reads the scheduler loop makes every tick, each one statement for all DAGs.

A tick over 1,000 DAGs must stay under 100 ms, so nothing here asks per DAG:
``latest_scheduled_intervals`` probes the ``(dag_id, run_type, logical_date)``
index once per row of ``dag`` (a correlated ``LIMIT 1`` subquery, which SQLite
and PostgreSQL both run as an index lookup) instead of scanning run history,
and the counts read only active runs through the ``state`` index.

Also here: how the states of a mapped task's instances sum up to one state for
``depends_on_past`` (:func:`worst_state`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, Select, func, select

from daskflow.store.schema import dag, dag_run, task_instance

ACTIVE_STATES = ("queued", "running")
SCHEDULED = "scheduled"
NULL_STATE = "none"

#: Worst first. A state not listed ranks with the unfinished ones (just before
#: ``running``); ``removed`` instances (dropped by a re-expansion) do not count.
SEVERITY = (
    "failed",
    "upstream_failed",
    "up_for_retry",
    "up_for_reschedule",
    "deferred",
    "running",
    "queued",
    "scheduled",
    NULL_STATE,
    "skipped",
    "success",
)
_RANK = {state: rank for rank, state in enumerate(SEVERITY)}
_UNKNOWN_RANK = _RANK["running"] - 0.5
REMOVED = "removed"


def worst_state(states: Iterable[str | None]) -> str | None:
    """The worst of a task's instance states; ``None`` if there are none to judge.

    >>> worst_state(["success", "skipped", None])
    'none'
    >>> worst_state(["success", "removed"])
    'success'
    >>> worst_state(["removed"]) is None
    True
    """
    judged = [NULL_STATE if state is None else state for state in states if state != REMOVED]
    if not judged:
        return None
    return min(judged, key=lambda state: _RANK.get(state, _UNKNOWN_RANK))


def latest_scheduled_intervals_query() -> Select[tuple[str, datetime, datetime]]:
    """Each synced DAG's newest ``scheduled`` run that has a data interval."""
    run = dag_run.alias("newest")
    newest = (
        select(run.c.id)
        .where(
            (run.c.dag_id == dag.c.dag_id)
            & (run.c.run_type == SCHEDULED)
            & run.c.data_interval_start.is_not(None)
            & run.c.data_interval_end.is_not(None)
        )
        .order_by(run.c.logical_date.desc(), run.c.id.desc())
        .limit(1)
        .correlate(dag)
        .scalar_subquery()
    )
    return select(
        dag.c.dag_id, dag_run.c.data_interval_start, dag_run.c.data_interval_end
    ).select_from(dag.join(dag_run, dag_run.c.id == newest))


def active_run_counts(conn: Connection) -> dict[str, int]:
    """``{dag_id: queued + running runs}`` for DAGs that have any."""
    query = (
        select(dag_run.c.dag_id, func.count())
        .where(dag_run.c.state.in_(ACTIVE_STATES))
        .group_by(dag_run.c.dag_id)
    )
    return {dag_id: count for dag_id, count in conn.execute(query)}


def previous_states_query(dag_id: str, task_id: str, before: datetime) -> Select[tuple[str | None]]:
    """The states of ``task_id`` in the DAG's newest run with a logical date before ``before``."""
    previous = (
        select(dag_run.c.run_id)
        .where((dag_run.c.dag_id == dag_id) & (dag_run.c.logical_date < before))
        .order_by(dag_run.c.logical_date.desc())
        .limit(1)
        .scalar_subquery()
    )
    return select(task_instance.c.state).where(
        (task_instance.c.dag_id == dag_id)
        & (task_instance.c.run_id == previous)
        & (task_instance.c.task_id == task_id)
    )
