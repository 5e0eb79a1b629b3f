"""Read queries for overviews (the dashboard's DAG list and grid): counts, not rows.

A grid of 100 runs of a DAG with 500 tasks, or a run with 10,000 mapped
instances, must cost one grouped query rather than one record per task
instance, so these read ``GROUP BY`` results straight from the tables. They
take a :class:`~daskflow.store.store.Store` and only read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select

from daskflow.store.engine import translate_errors
from daskflow.store.schema import dag_run, task_instance
from daskflow.store.store import NULL_STATE, Store


@dataclass(frozen=True)
class StateCount:
    """How many instances of one task in one run are in one state.

    ``mapped`` tells expanded instances (``map_index >= 0``) from the task's
    single unmapped instance; ``max_try`` is the highest try number among them.
    """

    run_id: str
    task_id: str
    state: str
    mapped: bool
    count: int
    max_try: int


def task_state_counts(store: Store, dag_id: str, run_ids: Sequence[str]) -> list[StateCount]:
    """Per run, task and state, how many task instances of ``dag_id`` there are."""
    if not run_ids:
        return []
    mapped = (task_instance.c.map_index >= 0).label("mapped")
    query = (
        select(task_instance.c.run_id, task_instance.c.task_id, task_instance.c.state, mapped,
               func.count(), func.max(task_instance.c.try_number))
        .where((task_instance.c.dag_id == dag_id) & task_instance.c.run_id.in_(list(run_ids)))
        .group_by(task_instance.c.run_id, task_instance.c.task_id, task_instance.c.state, mapped)
    )
    with translate_errors(store.url), store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [StateCount(run_id, task_id, state or NULL_STATE, bool(is_mapped), count, top or 0)
            for run_id, task_id, state, is_mapped, count, top in rows]


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
