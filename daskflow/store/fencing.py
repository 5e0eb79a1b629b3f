"""Fencing: a loop writes for a run only while the store says it still owns it.

A loop can stall (a paused process, a long GC, a lost network) for longer
than ``stale-after``; another loop then adopts its runs (``claims.py``). When
the stalled loop wakes up it still believes it drives those runs. Checking
ownership before writing is not enough - the run could be adopted between
the check and the write - so the check is made in the same transaction as
the write, against a **fence**: ``dag_run.fence`` grows by one on every claim
or adoption, and a loop remembers the fence it claimed a run with. A write
goes through only for runs whose ``owner_loop`` and ``fence`` still match;
on PostgreSQL those rows are locked (``FOR SHARE``) until the write commits,
and an adopting loop skips locked rows (``SKIP LOCKED``), so an adoption
cannot slip in between. SQLite serialises write transactions anyway.

The writes of a run that fails the check are dropped, and the caller learns
which runs it lost so that it stops driving them.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import Connection, select, tuple_

from daskflow.store.schema import dag_run

RUNNING = "running"
RunKey = tuple[str, str]


def still_owned(conn: Connection, owner: str, fences: Mapping[RunKey, int]) -> set[RunKey]:
    """Those of ``fences`` (run -> fence) that ``owner`` still drives with that fence.

    Locks the rows on PostgreSQL until the transaction ends.
    """
    if not fences:
        return set()
    wanted = [(dag_id, run_id, fence) for (dag_id, run_id), fence in fences.items()]
    held: set[RunKey] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        query = (
            select(dag_run.c.dag_id, dag_run.c.run_id)
            .where((dag_run.c.owner_loop == owner) & (dag_run.c.state == RUNNING)
                   & tuple_(dag_run.c.dag_id, dag_run.c.run_id, dag_run.c.fence).in_(chunk))
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(read=True)
        held.update((dag_id, run_id) for dag_id, run_id in conn.execute(query))
    return held
