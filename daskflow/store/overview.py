"""Read queries for overviews (the dashboard's DAG list and grid): counts, not rows.

A grid of 100 runs of a DAG with 500 tasks, or a run with 10,000 mapped
instances, must cost one grouped query rather than one record per task
instance, so these read ``GROUP BY`` results straight from the tables. They
take a :class:`~daskflow.store.store.Store` and only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from daskflow.store.engine import translate_errors
from daskflow.store.schema import dag_run, task_instance
from daskflow.store.store import NULL_STATE, Store


@dataclass(frozen=True)
class StateCount:
    """How many expanded instances (``map_index >= 0``) of one mapped task in one run
    are in one state; ``max_try`` is the highest try number among them."""

    run_id: str
    task_id: str
    state: str
    count: int
    max_try: int


def _in_runs(dag_id: str, run_ids: Sequence[str]) -> Any:
    return (task_instance.c.dag_id == dag_id) & task_instance.c.run_id.in_(list(run_ids))


def unmapped_states(store: Store, dag_id: str, run_ids: Sequence[str]
                    ) -> list[tuple[str, str, str, int]]:
    """``(run_id, task_id, state, try_number)`` of every unmapped task instance (one per
    task and run; a mapped task's placeholder before it expands is one of them)."""
    if not run_ids:
        return []
    query = select(task_instance.c.run_id, task_instance.c.task_id, task_instance.c.state,
                   task_instance.c.try_number).where(
        _in_runs(dag_id, run_ids) & (task_instance.c.map_index == -1))
    with translate_errors(store.url), store.engine.connect() as conn:
        return [(run_id, task_id, state or NULL_STATE, tries)
                for run_id, task_id, state, tries in conn.execute(query)]


def mapped_state_counts(store: Store, dag_id: str, run_ids: Sequence[str]) -> list[StateCount]:
    """Per run, mapped task and state, how many expanded instances there are: one row per
    state however many instances (10,000 instances of one state are one row)."""
    if not run_ids:
        return []
    query = (
        select(task_instance.c.run_id, task_instance.c.task_id, task_instance.c.state,
               func.count(), func.max(task_instance.c.try_number))
        .where(_in_runs(dag_id, run_ids) & (task_instance.c.map_index >= 0))
        .group_by(task_instance.c.run_id, task_instance.c.task_id, task_instance.c.state)
    )
    with translate_errors(store.url), store.engine.connect() as conn:
        return [StateCount(run_id, task_id, state or NULL_STATE, count, top or 0)
                for run_id, task_id, state, count, top in conn.execute(query)]


def recent_run_states(store: Store, per_dag: int) -> dict[str, list[tuple[str, str]]]:
    """``{dag_id: [(run_id, state), ...]}``: each DAG's newest ``per_dag`` runs, newest first.

    One windowed query for every DAG, so the DAG list costs the same with
    one DAG or a thousand.
    """
    rank = func.row_number().over(
        partition_by=dag_run.c.dag_id,
        order_by=(dag_run.c.logical_date.desc(), dag_run.c.id.desc()),
    ).label("rank")
    ranked = select(dag_run.c.dag_id, dag_run.c.run_id, dag_run.c.state, rank).subquery()
    query = (
        select(ranked.c.dag_id, ranked.c.run_id, ranked.c.state)
        .where(ranked.c.rank <= per_dag)
        .order_by(ranked.c.dag_id, ranked.c.rank)
    )
    found: dict[str, list[tuple[str, str]]] = {}
    with translate_errors(store.url), store.engine.connect() as conn:
        for dag_id, run_id, state in conn.execute(query):
            found.setdefault(dag_id, []).append((run_id, state))
    return found


def instances_in_state(store: Store, dag_id: str, run_id: str, task_id: str,
                       limit: int) -> list[tuple[int, str, int]]:
    """``(map_index, state, try_number)`` of a mapped task's first ``limit`` instances."""
    query = (
        select(task_instance.c.map_index, task_instance.c.state, task_instance.c.try_number)
        .where((task_instance.c.dag_id == dag_id) & (task_instance.c.run_id == run_id)
               & (task_instance.c.task_id == task_id) & (task_instance.c.map_index >= 0))
        .order_by(task_instance.c.map_index)
        .limit(limit)
    )
    with translate_errors(store.url), store.engine.connect() as conn:
        return [(index, state or NULL_STATE, tries) for index, state, tries in conn.execute(query)]
