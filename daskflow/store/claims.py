"""Which scheduler loop drives which DAG run (docs/reliability.md).

Several loops may share one database. A ``running`` run is driven by the loop
named in its ``owner_loop`` column, and that loop proves it is alive by touching
the run's ``heartbeat`` every tick (``Store.heartbeat``). ``Store.claim_runs``
hands a loop the runs that no live loop drives, in one transaction:

1. **orphans** - ``running`` runs owned by another loop or by nobody whose
   ``heartbeat`` is ``NULL`` or older than ``now - stale_after``: their loop died
   (or shut down cleanly: ``Store.release_runs`` clears owner and heartbeat so the
   runs are adopted at once). They are re-owned as they are: state and
   ``start_date`` stay, the new owner resumes them from the store.
2. **queued runs** - moved to ``running``. Within a DAG the oldest logical dates
   go first and only while the DAG's ``running`` runs (of every owner, orphans
   included) stay within its ``max_active_runs``. Across DAGs the ``limit`` is
   shared round-robin: every waiting DAG gets its first run before any gets a
   second, the DAG whose oldest queued run waited longest first - a backfill of
   one DAG cannot starve the others. Orphans count against ``limit`` first.

Which runs a claim may take is defined once, here: :func:`orphaned` says which
running runs are orphans, :func:`startable` which queued runs may start, and
:func:`backlog` how many more runs each DAG may start. The claim and
:func:`claimable`, the cheap read that tells a loop whether claiming is worth a
write transaction, both use them, so the two cannot disagree: a queued run
that waits for ``max_active_runs`` or a paused DAG keeps neither busy.

Every claim or adoption adds one to the run's ``fence``; the loop's writes for
the run check owner and fence (``fencing.py``), so a loop that lost a run
while it was stalled cannot write for it afterwards.

How a run is never claimed twice:

* **SQLite** - the claim is one ``BEGIN IMMEDIATE`` transaction; there is one
  writer at a time, so reading and then updating is already atomic.
* **PostgreSQL** - orphans are picked with ``SELECT ... FOR UPDATE SKIP LOCKED``:
  two loops never adopt the same run and never wait for each other. Starting
  queued runs has to *count* a DAG's running runs and then add to them, which
  row locks cannot protect (each loop would see 0 running and start 16). So a
  loop first takes a transaction-scoped advisory lock per DAG with
  ``pg_try_advisory_xact_lock`` - ``SKIP LOCKED`` at the level of a DAG: a DAG
  another loop is claiming from right now is skipped this tick - and counts only
  once it holds the lock. The queued rows are then taken ``FOR UPDATE SKIP
  LOCKED`` as well, so a concurrent writer (a user failing the run) is skipped
  rather than waited for, and the final ``UPDATE`` re-checks ``state='queued'``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Row,
    String,
    bindparam,
    case,
    func,
    literal,
    select,
    update,
)

from daskflow.store.schema import dag, dag_run

DEFAULT_MAX_ACTIVE_RUNS = 16
DAG_LOCK_CLASS = 0x6466  # "df": advisory-lock namespace of per-DAG claims (hashtext(dag_id))
QUEUED = "queued"
RUNNING = "running"


@dataclass(frozen=True)
class Backlog:
    """One DAG with queued runs: how many more may run now, and its oldest queued run."""

    dag_id: str
    free: int
    oldest_queued: datetime | None


def orphaned(owner: str, cutoff: datetime) -> Any:
    """Running runs of another loop (or of none) that stopped heartbeating before ``cutoff``."""
    silent = dag_run.c.owner_loop.is_(None) | dag_run.c.heartbeat.is_(None)
    return (
        (dag_run.c.state == RUNNING)
        & dag_run.c.owner_loop.is_distinct_from(owner)
        & (silent | (dag_run.c.heartbeat < cutoff))
    )


def startable() -> Any:
    """Queued runs a claim may start: a paused DAG's wait, except backfills (asked for)."""
    paused = select(dag.c.dag_id).where(dag.c.is_paused)
    return (dag_run.c.state == QUEUED) & (
        (dag_run.c.run_type == "backfill") | dag_run.c.dag_id.not_in(paused))


def claimable(
    conn: Connection, owner: str, cutoff: datetime, caps: Mapping[str, int],
    dag_ids: Collection[str] | None = None,
) -> bool:
    """Whether a claim with these arguments would take a run (an orphan or a queued run)."""
    wanted = None if dag_ids is None else set(dag_ids)
    orphans = select(dag_run.c.dag_id).where(orphaned(owner, cutoff)).distinct()
    if any(wanted is None or d in wanted for d in conn.execute(orphans).scalars()):
        return True
    return any(b.free > 0 for b in backlog(conn, caps, dag_ids))


def adopt_orphans(
    conn: Connection, owner: str, now: datetime, cutoff: datetime, limit: int,
    dag_ids: Sequence[str] | None = None,
) -> list[Row[Any]]:
    """Re-own up to ``limit`` running runs whose owner stopped heartbeating before ``cutoff``."""
    if limit <= 0:
        return []
    where = orphaned(owner, cutoff)
    if dag_ids is not None:
        where &= dag_run.c.dag_id.in_(list(dag_ids))
    picked = (
        select(dag_run.c.id)
        .where(where)
        .order_by(dag_run.c.logical_date, dag_run.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    ids = list(conn.execute(picked).scalars())
    return _take(conn, ids, {"owner_loop": owner, "heartbeat": now,
                             "fence": dag_run.c.fence + 1})


def start_queued(
    conn: Connection, owner: str, now: datetime, limit: int, caps: Mapping[str, int],
    dag_ids: Sequence[str] | None = None,
) -> list[Row[Any]]:
    """Move up to ``limit`` queued runs to ``running`` within each DAG's ``max_active_runs``.

    Runs of a paused DAG wait, as in Airflow, except backfill runs, which the
    user asked for explicitly.
    """
    if limit <= 0:
        return []
    candidates = [b for b in backlog(conn, caps, dag_ids) if b.free > 0][:limit]
    if conn.dialect.name == "postgresql" and candidates:
        locked = lock_dags(conn, [b.dag_id for b in candidates])
        candidates = [b for b in backlog(conn, caps, locked) if b.free > 0]
    ids = pick_queued(conn, candidates, limit)
    start_date = func.coalesce(dag_run.c.start_date, literal(now, dag_run.c.start_date.type))
    values = {"state": RUNNING, "start_date": start_date, "owner_loop": owner, "heartbeat": now,
              "fence": dag_run.c.fence + 1}
    return _take(conn, ids, values, dag_run.c.state == QUEUED)


def backlog(
    conn: Connection, caps: Mapping[str, int], dag_ids: Collection[str] | None = None
) -> list[Backlog]:
    """DAGs with :func:`startable` runs (of ``dag_ids`` if given), the longest-waiting first.

    A DAG's cap is ``caps[dag_id]``, else the ``max_active_runs`` synced into the
    ``dag`` table, else :data:`DEFAULT_MAX_ACTIVE_RUNS`. ``dag_ids`` are matched
    in Python on the few rows found: an ``IN`` list of every DAG of a large
    folder costs more to compile than the query takes to run.
    """
    waiting = startable()
    running = func.sum(case((dag_run.c.state == RUNNING, 1), else_=0))
    queued = func.sum(case((waiting, 1), else_=0))
    oldest = func.min(case((waiting, dag_run.c.queued_at)))
    query = (
        select(dag_run.c.dag_id, dag.c.max_active_runs, running, oldest)
        .select_from(dag_run.outerjoin(dag, dag.c.dag_id == dag_run.c.dag_id))
        .where(dag_run.c.state.in_([QUEUED, RUNNING]))
        .group_by(dag_run.c.dag_id, dag.c.max_active_runs)
        .having(queued > 0)
    )
    wanted = None if dag_ids is None else set(dag_ids)
    found = []
    for dag_id, synced_cap, running_now, oldest_queued in conn.execute(query):
        if wanted is not None and dag_id not in wanted:
            continue
        cap = caps.get(dag_id, synced_cap)
        cap = DEFAULT_MAX_ACTIVE_RUNS if cap is None else cap
        found.append(Backlog(dag_id, cap - running_now, oldest_queued))
    return sorted(found, key=lambda b: (b.oldest_queued is not None, b.oldest_queued, b.dag_id))


def lock_dags(conn: Connection, dag_ids: Sequence[str]) -> list[str]:
    """Those of ``dag_ids`` whose claim lock this transaction got (PostgreSQL only)."""
    names = func.unnest(bindparam("dag_ids", list(dag_ids), type_=ARRAY(String)))
    table = names.table_valued("dag_id").render_derived(name="names")
    got = func.pg_try_advisory_xact_lock(DAG_LOCK_CLASS, func.hashtext(table.c.dag_id))
    return list(conn.execute(select(table.c.dag_id).where(got)).scalars())


def pick_queued(conn: Connection, candidates: Sequence[Backlog], limit: int) -> list[int]:
    """Ids of the queued runs to start: per DAG its ``free`` oldest, DAGs taking turns."""
    if not candidates:
        return []
    free = {b.dag_id: b.free for b in candidates}
    turn = {b.dag_id: position for position, b in enumerate(candidates)}
    order = (dag_run.c.logical_date, dag_run.c.id)
    rank = func.row_number().over(partition_by=dag_run.c.dag_id, order_by=order)
    ranked = (
        select(dag_run.c.id, rank.label("rank"))
        .where(startable() & dag_run.c.dag_id.in_(list(free)))
        .subquery()
    )
    query = (
        select(dag_run.c.id, dag_run.c.dag_id, ranked.c.rank)
        .join(ranked, ranked.c.id == dag_run.c.id)
        .where(ranked.c.rank <= max(free.values()))
        .with_for_update(of=dag_run, skip_locked=True)
    )
    rows = [row for row in conn.execute(query) if row.rank <= free[row.dag_id]]
    rows.sort(key=lambda row: (row.rank, turn[row.dag_id]))
    return [row.id for row in rows[:limit]]


def _take(
    conn: Connection, ids: Sequence[int], values: Mapping[str, Any], guard: Any = None
) -> list[Row[Any]]:
    if not ids:
        return []
    where = dag_run.c.id.in_(list(ids))
    if guard is not None:
        where &= guard
    statement = update(dag_run).where(where).values(**values).returning(*dag_run.c)
    rows = {row.id: row for row in conn.execute(statement)}
    return [rows[i] for i in ids if i in rows]
