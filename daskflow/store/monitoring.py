"""Counts the dashboard reads from the store: for a Prometheus scrape, and per task of a run.

For a scrape (:func:`read_counts`, five statements in one short
transaction): a scrape comes every few seconds for as long as the deployment lives, so each
statement is a grouped count over an indexed column or a small table
(``dag_run.state``, ``task_instance.state``, ``pool``, ``import_error``), and
the schedule delay reads one run per DAG: its newest started run.

The schedule delay is Airflow's ``dagrun.schedule_delay``: how long after it
was due a run started. A scheduled run is due at the end of its data
interval; any other run (a trigger, a backfill) when it was queued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, func, select

from daskflow.store.schema import dag_run, import_error, pool, task_attempt, task_instance

#: Task-instance states that hold pool slots.
SLOT_STATES = ("running", "queued")
NULL_STATE = "none"


@dataclass(frozen=True)
class PoolUse:
    name: str
    slots: int
    used: int

    @property
    def open(self) -> int:
        return max(self.slots - self.used, 0)


@dataclass(frozen=True)
class MonitoringCounts:
    """What the store says at one moment, for the metrics endpoint."""

    #: ``{(dag_id, state): runs}``
    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    #: ``{state: task instances}``; no state yet is ``"none"``.
    task_instances: dict[str, int] = field(default_factory=dict)
    pools: list[PoolUse] = field(default_factory=list)
    import_errors: int = 0
    #: ``{dag_id: seconds}`` between when the DAG's newest started run was due and its start.
    schedule_delays: dict[str, float] = field(default_factory=dict)


def read_counts(conn: Connection) -> MonitoringCounts:
    runs = {(dag_id, state): n for dag_id, state, n in conn.execute(
        select(dag_run.c.dag_id, dag_run.c.state, func.count())
        .group_by(dag_run.c.dag_id, dag_run.c.state))}
    instances = {state or NULL_STATE: n for state, n in conn.execute(
        select(task_instance.c.state, func.count()).group_by(task_instance.c.state))}
    used = dict(conn.execute(
        select(task_instance.c.pool, func.sum(task_instance.c.pool_slots))
        .where(task_instance.c.state.in_(SLOT_STATES)).group_by(task_instance.c.pool)).all())
    pools = [PoolUse(name, slots, int(used.get(name) or 0))
             for name, slots in conn.execute(select(pool.c.name, pool.c.slots)
                                             .order_by(pool.c.name))]
    errors = conn.execute(select(func.count()).select_from(import_error)).scalar() or 0
    return MonitoringCounts(runs, instances, pools, errors, _schedule_delays(conn))


def _schedule_delays(conn: Connection) -> dict[str, float]:
    newest = (select(dag_run.c.dag_id, func.max(dag_run.c.logical_date).label("logical_date"))
              .where(dag_run.c.start_date.is_not(None)).group_by(dag_run.c.dag_id).subquery())
    query = (select(dag_run.c.dag_id, dag_run.c.run_type, dag_run.c.data_interval_end,
                    dag_run.c.queued_at, dag_run.c.start_date)
             .join(newest, (dag_run.c.dag_id == newest.c.dag_id)
                   & (dag_run.c.logical_date == newest.c.logical_date)))
    delays = {}
    for dag_id, run_type, interval_end, queued_at, start in conn.execute(query):
        due = interval_end if run_type == "scheduled" else queued_at
        if due is not None and start is not None:
            delays[dag_id] = max((start - due).total_seconds(), 0.0)
    return delays


def task_state_counts_by_task(conn: Connection, dag_id: str, run_id: str
                              ) -> dict[str, dict[str, int]]:
    """``{task_id: {state: instances}}`` of one run, counted by the database.

    What the graph page draws: a mapped task of 10,000 instances costs one
    row per state here, not 10,000 records, each time a live page refreshes.
    """
    query = (select(task_instance.c.task_id, task_instance.c.state,
                    (task_instance.c.map_index >= 0).label("expanded"), func.count())
             .where((task_instance.c.dag_id == dag_id) & (task_instance.c.run_id == run_id))
             .group_by(task_instance.c.task_id, task_instance.c.state, "expanded"))
    counts: dict[str, dict[str, int]] = {}
    unexpanded: dict[str, dict[str, int]] = {}
    for task_id, state, expanded, n in conn.execute(query):
        target = counts if expanded else unexpanded
        per_state = target.setdefault(task_id, {})
        per_state[state or NULL_STATE] = per_state.get(state or NULL_STATE, 0) + n
    # A mapped task's placeholder row (map_index -1) counts only until it is expanded.
    for task_id, per_state in unexpanded.items():
        counts.setdefault(task_id, per_state)
    return counts


@dataclass(frozen=True)
class TrySpan:
    """One try's times, as the Gantt page draws it."""

    task_id: str
    map_index: int
    try_number: int
    state: str | None
    worker: str | None
    #: When Dask could first run it; ``None`` when not recorded.
    queued: datetime | None
    start: datetime
    #: ``None`` while the try runs.
    end: datetime | None


def try_spans(conn: Connection, dag_id: str, run_id: str) -> list[TrySpan]:
    """Every try of a run that started: the ended ones from ``task_attempt``, the
    running ones from ``task_instance`` (a try is written to ``task_attempt`` when it
    ends). Only the columns drawn, as plain rows: a run of 10,000 mapped tries is read
    in a fraction of the time whole records take."""
    a, ti = task_attempt.c, task_instance.c
    ended = (select(a.task_id, a.map_index, a.try_number, a.state, a.worker, a.queued_date,
                    a.start_date, a.end_date)
             .where((a.dag_id == dag_id) & (a.run_id == run_id) & a.start_date.is_not(None)))
    running = (select(ti.task_id, ti.map_index, ti.try_number, ti.state, ti.worker,
                      ti.queued_at, ti.start_date)
               .where((ti.dag_id == dag_id) & (ti.run_id == run_id) & (ti.state == "running")
                      & ti.start_date.is_not(None)))
    spans = [TrySpan(*row) for row in conn.execute(ended)]
    spans += [TrySpan(*row, None) for row in conn.execute(running)]
    return spans
