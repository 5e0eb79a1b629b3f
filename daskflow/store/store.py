"""``Store``: the one interface the rest of daskflow uses to read and write metadata.

The store is the truth the scheduler loop restarts from (docs/reliability.md),
so its interface is small and every method is one transaction:

=================  ==========================================================
family             methods
=================  ==========================================================
schema             ``init``, ``upgrade``, ``reset``, ``current_revision``
DAGs               ``sync_dags``, ``get_dag``, ``list_dags``, ``set_paused``,
                   ``set_next_dagrun``, ``mark_inactive``,
                   ``save_dag_version``, ``get_dag_version``,
                   ``list_dag_versions``
runs               ``create_dag_run``, ``get_dag_run``, ``list_dag_runs``,
                   ``set_dag_run_state``, ``delete_dag_run``,
                   ``dag_run_before``
run ownership      ``claim_runs``, ``assign_run``, ``heartbeat``,
                   ``release_runs``, ``owned_runs``, ``set_run_reason``
                   (several loops: ``claims.py``, ``fencing.py``)
scheduling reads   ``latest_scheduled_intervals``, ``active_run_counts``,
                   ``paused_dag_ids``, ``previous_task_instance_state``
task instances     ``create_task_instances``, ``apply_updates``,
                   ``list_task_instances``, ``get_task_instance``,
                   ``list_attempts``, ``list_run_attempts``, ``get_log``,
                   ``list_xcoms``,
                   ``task_state_counts``, ``clear_task_instances``,
                   ``delete_mapped_instances``
monitoring         ``monitoring_counts`` (the metrics endpoint's reads),
                   ``task_state_counts_by_task``, ``run_try_spans`` (the pages')
import errors      ``set_import_errors``, ``list_import_errors``
pools              ``set_pool``, ``get_pool``, ``list_pools``, ``delete_pool``
connections        ``set_connection``, ``get_connection``, ``list_connections``,
                   ``delete_connection`` (password and extra encrypted: ``fernet.py``)
variables          ``set_variable``, ``get_variable``, ``list_variables``,
                   ``delete_variable``; ``rotate_fernet_key`` re-encrypts both
scheduler loops    ``register_loop``, ``unregister_loop``, ``list_loops``
                   (where each running loop's dashboard is)
=================  ==========================================================

Values go in and out as the frozen dataclasses of ``records.py``; no session or
ORM object ever leaves this module. Errors are :class:`StoreError` subclasses.

Use::

    store = Store("sqlite:///" + str(home / "daskflow.db"))
    store.init()
    run = store.create_dag_run("etl", "manual__1", day, day, day + hour, "manual", {})
    store.apply_updates([TaskUpdate("etl", "manual__1", "extract", state="running")])

Two rules the scheduler relies on are enforced by the database, not by Python:
a DAG has at most one run per logical date and per run id (``create_dag_run``
raises :class:`RunExistsError`), and a batch from ``apply_updates`` is written
in one transaction or not at all.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Row, delete, func, select, text, tuple_, update

from daskflow import config
from daskflow.store import migrations, scheduling
from daskflow.store.claims import adopt_orphans, claimable, start_queued
from daskflow.store.engine import WRITE_OPTION, make_engine, mask_url, parse_url, translate_errors
from daskflow.store.errors import (
    ConstraintError,
    FernetKeyError,
    NotFoundError,
    RunExistsError,
    RunLostError,
    StoreError,
)
from daskflow.store.fencing import still_owned
from daskflow.store.fernet import Box
from daskflow.store.monitoring import (
    MonitoringCounts,
    TrySpan,
    read_counts,
    task_state_counts_by_task,
    try_spans,
)
from daskflow.store.records import (
    AttemptRecord,
    AttemptUpdate,
    ConnectionRecord,
    DagRecord,
    DagRunRecord,
    DagVersionRecord,
    ImportErrorRecord,
    LoopRecord,
    PoolRecord,
    TaskInstanceRecord,
    TaskUpdate,
    VariableRecord,
    XComRecord,
    XComUpdate,
)
from daskflow.store.retrying import Retrying, retried
from daskflow.store.schema import (
    DEFAULT_POOL,
    DEFAULT_POOL_SLOTS,
    TASK_INSTANCE_KEY,
    connection,
    dag,
    dag_run,
    dag_version,
    import_error,
    metadata,
    pool,
    scheduler_loop,
    task_attempt,
    task_instance,
    variable,
    xcom,
)
from daskflow.store.upserts import (
    apply_attempts,
    apply_task_updates,
    apply_xcoms,
    chunks,
    conflict_insert,
    upsert,
)

R = TypeVar("R")

MIGRATION_LOCK_ID = 0x6461736B  # "dask": serialises concurrent init() on PostgreSQL
NULL_STATE = scheduling.NULL_STATE
RUNNING = "running"
NO_OWNER = {"owner_loop": None, "heartbeat": None}


def _now() -> datetime:
    return datetime.now(UTC)


def _record(cls: type[R], row: Row[Any]) -> R:
    mapping = row._mapping
    return cls(**{f.name: mapping[f.name] for f in fields(cls)})  # type: ignore[arg-type]


def _ti_where(dag_id: str, run_id: str, task_id: str, map_index: int, table: Any) -> Any:
    return (
        (table.c.dag_id == dag_id)
        & (table.c.run_id == run_id)
        & (table.c.task_id == task_id)
        & (table.c.map_index == map_index)
    )


def _ti_keys_where(dag_id: str, run_id: str, keys: Sequence[tuple[str, int]], table: Any) -> Any:
    pairs = tuple_(table.c.task_id, table.c.map_index)
    return (table.c.dag_id == dag_id) & (table.c.run_id == run_id) & pairs.in_(list(keys))


def _sync_defaults(record: DagRecord, now: datetime) -> dict[str, Any]:
    return {"tags": list(record.tags), "last_parsed": record.last_parsed or now}


def _is_under(filename: str, folder: str) -> bool:
    prefix = folder.rstrip(os.sep) + os.sep
    return filename == folder or filename.startswith(prefix)


class Store:
    """Metadata store on SQLite (a file) or PostgreSQL, opened from a SQLAlchemy URL.

    Constructing a store connects once, so a bad or unreachable URL fails here
    with a :class:`StoreError` naming it. Call :meth:`init` before first use.
    Afterwards a method that meets an unavailable database (locked, restarting,
    connection terminated) runs again with backoff for ``retry_for`` seconds
    (default ``daskflow.store-retry-for``) before raising :class:`StoreUnavailable`.
    ``engine`` is public for tests and tools that need to observe it.
    """

    def __init__(self, url: str, retry_for: float | None = None) -> None:
        self.url = parse_url(url)
        if retry_for is None:
            retry_for = float(config.get("store-retry-for", 300))
        #: Runs methods again while the database is unavailable (``retrying.py``).
        self.retrying = Retrying(retry_for, f"metadata store {mask_url(self.url)!r}")
        self.engine: Engine = make_engine(self.url)
        try:
            with translate_errors(self.url, doing="connect to"), self.engine.connect() as conn:
                conn.execute(select(1))
        except StoreError:
            self.engine.dispose()
            raise

    @classmethod
    def from_url(cls, url: str) -> Store:
        """Same as ``Store(url)``."""
        return cls(url)

    def __repr__(self) -> str:
        return f"Store({mask_url(self.url)!r})"

    def with_retries(self, retry_for: float) -> Store:
        """Another store on the same database, with connections of its own, that retries
        an unavailable database for ``retry_for`` seconds (0: not at all)."""
        return Store(self.url.render_as_string(hide_password=False), retry_for=retry_for)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.dispose()

    def dispose(self) -> None:
        """Close the pooled connections (call when the store is no longer needed)."""
        self.engine.dispose()

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with translate_errors(self.url), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with translate_errors(self.url), self.engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    # -- schema -------------------------------------------------------------------

    @retried
    def init(self) -> None:
        """Create the schema or upgrade it to the newest revision; safe to call always."""
        with self._write() as conn:
            self._migrate(conn)

    def upgrade(self) -> None:
        """Upgrade the schema to the newest revision (what ``init`` does on an old DB)."""
        self.init()

    @retried
    def reset(self) -> None:
        """Drop every table, then :meth:`init`: all metadata is lost."""
        with self._write() as conn:
            self._lock_migrations(conn)
            metadata.drop_all(conn)
            conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
            self._migrate(conn)

    @retried
    def current_revision(self) -> str | None:
        """The schema revision of the database, ``None`` before :meth:`init`."""
        with self._read() as conn:
            return migrations.current_revision(conn)

    def _migrate(self, conn: Connection) -> None:
        self._lock_migrations(conn)
        migrations.upgrade(conn)
        default = {"name": DEFAULT_POOL, "slots": DEFAULT_POOL_SLOTS, "description": ""}
        upsert(conn, pool, [default], ["name"], update=())

    @staticmethod
    def _lock_migrations(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":  # SQLite is already locked by BEGIN IMMEDIATE
            conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_ID)))

    # -- DAGs ---------------------------------------------------------------------

    @retried
    def sync_dags(self, records: Sequence[DagRecord]) -> None:
        """Insert or update DAGs as parsed, in one transaction.

        An existing row keeps its ``is_paused`` (the user's choice) and keeps its
        ``next_dagrun*`` fields where the record leaves them ``None``; a record
        without ``last_parsed`` is stamped with the current time.
        """
        if not records:
            return
        with self._write() as conn:
            insert: Any = conflict_insert(conn, dag)
            kept = {"dag_id", "is_paused"}
            set_ = {c.name: insert.excluded[c.name] for c in dag.c if c.name not in kept}
            for name in _NEXT_DAGRUN:
                set_[name] = func.coalesce(insert.excluded[name], dag.c[name])
            statement = insert.on_conflict_do_update(index_elements=["dag_id"], set_=set_)
            now = _now()
            rows = [asdict(r) | _sync_defaults(r, now) for r in records]
            for chunk in chunks(rows, 500):
                conn.execute(statement, chunk)

    @retried
    def get_dag(self, dag_id: str) -> DagRecord | None:
        """The DAG ``dag_id``, or ``None``."""
        with self._read() as conn:
            row = conn.execute(select(dag).where(dag.c.dag_id == dag_id)).first()
        return None if row is None else _record(DagRecord, row)

    @retried
    def list_dags(self) -> list[DagRecord]:
        """Every DAG, active or not, ordered by ``dag_id``."""
        with self._read() as conn:
            rows = conn.execute(select(dag).order_by(dag.c.dag_id)).all()
        return [_record(DagRecord, row) for row in rows]

    @retried
    def set_paused(self, dag_id: str, paused: bool) -> None:
        """Pause or unpause a DAG; :class:`NotFoundError` if it is unknown."""
        self._update_dag(dag_id, is_paused=paused)

    @retried
    def set_next_dagrun(
        self,
        dag_id: str,
        next_dagrun: datetime | None,
        interval_start: datetime | None = None,
        interval_end: datetime | None = None,
    ) -> None:
        """Record when the DAG is next due (``None`` clears it)."""
        self._update_dag(
            dag_id,
            next_dagrun=next_dagrun,
            next_dagrun_data_interval_start=interval_start,
            next_dagrun_data_interval_end=interval_end,
        )

    def _update_dag(self, dag_id: str, **values: Any) -> None:
        with self._write() as conn:
            result = conn.execute(update(dag).where(dag.c.dag_id == dag_id).values(**values))
        if result.rowcount == 0:
            raise NotFoundError(f"DAG {dag_id!r} is not in the metadata store")

    @retried
    def mark_inactive(self, dag_ids_not_in: set[str], fileloc: str | None) -> int:
        """Deactivate active DAGs not in ``dag_ids_not_in`` (only from ``fileloc`` if given).

        Returns how many DAGs were deactivated.
        """
        query = select(dag.c.dag_id).where(dag.c.is_active)
        if fileloc is not None:
            query = query.where(dag.c.fileloc == fileloc)
        with self._write() as conn:
            gone = sorted(set(conn.execute(query).scalars()) - set(dag_ids_not_in))
            for chunk in chunks(gone, 500):
                conn.execute(update(dag).where(dag.c.dag_id.in_(chunk)).values(is_active=False))
        return len(gone)

    @retried
    def save_dag_version(
        self, version_id: str, dag_id: str, fileloc: str, source: str, structure: Any,
        signature: str | None = None,
    ) -> None:
        """Store a version of a DAG once; saving the same ``version_id`` again is a no-op,
        except that it signs a version stored without a signature."""
        row = {
            "version_id": version_id,
            "dag_id": dag_id,
            "fileloc": fileloc,
            "source": source,
            "structure": structure,
            "created_at": _now(),
            "signature": signature,
        }
        with self._write() as conn:
            upsert(conn, dag_version, [row], ["version_id"], update=())
            if signature is not None:
                conn.execute(update(dag_version)
                             .where((dag_version.c.version_id == version_id)
                                    & dag_version.c.signature.is_(None))
                             .values(signature=signature))

    @retried
    def get_dag_version(self, version_id: str) -> DagVersionRecord | None:
        """The stored version ``version_id``, or ``None``."""
        query = select(dag_version).where(dag_version.c.version_id == version_id)
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(DagVersionRecord, row)

    @retried
    def list_dag_versions(self, dag_id: str) -> list[DagVersionRecord]:
        """The DAG's stored versions, newest first: what the UI offers to compare runs with."""
        query = (
            select(dag_version)
            .where(dag_version.c.dag_id == dag_id)
            .order_by(dag_version.c.created_at.desc(), dag_version.c.version_id)
        )
        with self._read() as conn:
            return [_record(DagVersionRecord, row) for row in conn.execute(query)]

    # -- runs ---------------------------------------------------------------------

    @retried
    def create_dag_run(
        self,
        dag_id: str,
        run_id: str,
        logical_date: datetime,
        data_interval_start: datetime | None,
        data_interval_end: datetime | None,
        run_type: str,
        conf: Mapping[str, Any] | None,
        state: str = "queued",
        external_trigger: bool = False,
        dag_version: str | None = None,
    ) -> DagRunRecord:
        """Insert a run; :class:`RunExistsError` if its run id or logical date is taken.

        The unique constraints decide, so of two loops racing for the same logical
        date exactly one gets the run and the other gets the error.
        """
        values = {
            "dag_id": dag_id,
            "run_id": run_id,
            "logical_date": logical_date,
            "data_interval_start": data_interval_start,
            "data_interval_end": data_interval_end,
            "state": state,
            "run_type": run_type,
            "conf": dict(conf) if conf is not None else None,
            "queued_at": _now(),
            "external_trigger": external_trigger,
            "dag_version": dag_version,
        }
        statement = dag_run.insert().values(**values).returning(*dag_run.c)
        try:
            with self._write() as conn:
                row = conn.execute(statement).one()
        except ConstraintError as exc:
            exists = self._run_exists(dag_id, run_id, logical_date)
            if exists is None:
                raise
            raise exists from exc
        return _record(DagRunRecord, row)

    def _run_exists(
        self, dag_id: str, run_id: str, logical_date: datetime
    ) -> RunExistsError | None:
        """Explain a failed insert by the run that holds the run id or logical date."""
        clash = (dag_run.c.run_id == run_id) | (dag_run.c.logical_date == logical_date)
        query = select(dag_run).where((dag_run.c.dag_id == dag_id) & clash)
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return RunExistsError(
            f"DAG {dag_id!r} already has run {row.run_id!r} for logical date "
            f"{row.logical_date.isoformat()}; cannot create run {run_id!r} "
            f"for {logical_date.isoformat()}"
        )

    @retried
    def get_dag_run(self, dag_id: str, run_id: str) -> DagRunRecord | None:
        """The run ``run_id`` of ``dag_id``, or ``None``."""
        query = select(dag_run).where((dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id))
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(DagRunRecord, row)

    @retried
    def dag_run_before(self, dag_id: str, logical_date: datetime) -> DagRunRecord | None:
        """The DAG's run with the greatest logical date before ``logical_date``, or ``None``.

        ``None`` tells the loop this is the DAG's first run (``depends_on_past``
        then passes, as in Airflow).
        """
        query = (
            select(dag_run)
            .where((dag_run.c.dag_id == dag_id) & (dag_run.c.logical_date < logical_date))
            .order_by(dag_run.c.logical_date.desc())
            .limit(1)
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return None if row is None else _record(DagRunRecord, row)

    @retried
    def list_dag_runs(
        self,
        dag_id: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        states: Collection[str] | None = None,
    ) -> list[DagRunRecord]:
        """Runs, newest logical date first, optionally of one DAG and/or in some states.

        ``state`` and ``states`` both filter (a run must satisfy both when both are
        given); ``states=("queued", "running")`` is what a restarted loop reads.
        """
        query = select(dag_run).order_by(dag_run.c.logical_date.desc(), dag_run.c.id.desc())
        if dag_id is not None:
            query = query.where(dag_run.c.dag_id == dag_id)
        if state is not None:
            query = query.where(dag_run.c.state == state)
        if states is not None:
            query = query.where(dag_run.c.state.in_(list(states)))
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            return [_record(DagRunRecord, row) for row in conn.execute(query)]

    @retried
    def set_dag_run_state(
        self,
        dag_id: str,
        run_id: str,
        state: str,
        start_date: datetime | None = None,
        end_date: datetime | None = None,
        clear_owner: bool = False,
        *,
        owner: str | None = None,
        fence: int | None = None,
        reason: str | None = None,
    ) -> None:
        """Set a run's state (and dates, where given); :class:`NotFoundError` if unknown.

        ``clear_owner`` also drops ``owner_loop`` and ``heartbeat``: a loop that
        hands a run back (or a user re-queuing it) leaves it free for any loop.
        With ``owner`` and ``fence`` the change is made only while ``owner`` still
        drives the run with that fence; otherwise :class:`RunLostError`.
        ``reason`` is kept with the run (``None`` clears an earlier one).
        """
        values: dict[str, Any] = {"state": state, "reason": reason}
        if start_date is not None:
            values["start_date"] = start_date
        if end_date is not None:
            values["end_date"] = end_date
        if clear_owner:
            values |= NO_OWNER
        where = (dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id)
        if owner is not None:
            where &= (dag_run.c.owner_loop == owner) & (dag_run.c.fence == fence)
        with self._write() as conn:
            result = conn.execute(update(dag_run).where(where).values(**values))
        if result.rowcount == 0:
            if owner is not None and self.get_dag_run(dag_id, run_id) is not None:
                raise RunLostError(f"run {run_id!r} of DAG {dag_id!r} is no longer driven by "
                                   f"{owner!r} (fence {fence}); its state was not changed")
            raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r} in the metadata store")

    @retried
    def set_dag_run_version(self, dag_id: str, run_id: str, version_id: str) -> None:
        """Record the DAG version a run runs, where none was recorded when it was queued."""
        where = ((dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id)
                 & dag_run.c.dag_version.is_(None))
        with self._write() as conn:
            conn.execute(update(dag_run).where(where).values(dag_version=version_id))

    @retried
    def explain_queued_runs(self, known_dag_ids: Collection[str], reason: str) -> int:
        """Give queued runs of DAGs not in ``known_dag_ids`` ``reason``; take it from the others.

        So that a run whose DAG no loop can load waits visibly (``runs list``)
        instead of looking merely slow. Returns how many runs now carry it.
        """
        known = list(known_dag_ids)
        queued = dag_run.c.state == "queued"
        with self._write() as conn:
            conn.execute(update(dag_run).where(queued & (dag_run.c.reason == reason)
                                               & dag_run.c.dag_id.in_(known))
                         .values(reason=None))
            conn.execute(update(dag_run).where(queued & dag_run.c.dag_id.not_in(known)
                                               & dag_run.c.reason.is_distinct_from(reason))
                         .values(reason=reason))
            count = select(func.count()).where(queued & (dag_run.c.reason == reason))
            return conn.execute(count).scalar() or 0

    @retried
    def runs_with_kept_results(self, ended_before: datetime, limit: int = 100
                               ) -> list[tuple[str, str]]:
        """Finished runs that ended before ``ended_before`` whose kept outcomes were not
        deleted since they ended, oldest first."""
        finished = dag_run.c.state.in_(["success", "failed"])
        kept = dag_run.c.results_purged_at.is_(None) | (
            dag_run.c.results_purged_at < dag_run.c.end_date)
        query = (select(dag_run.c.dag_id, dag_run.c.run_id)
                 .where(finished & kept & (dag_run.c.end_date < ended_before))
                 .order_by(dag_run.c.end_date).limit(limit))
        with self._read() as conn:
            return [(dag_id, run_id) for dag_id, run_id in conn.execute(query)]

    @retried
    def mark_results_purged(self, runs: Collection[tuple[str, str]], at: datetime) -> None:
        """Record that these runs' kept outcomes were deleted at ``at``."""
        with self._write() as conn:
            for chunk in chunks(list(runs), 500):
                where = tuple_(dag_run.c.dag_id, dag_run.c.run_id).in_(chunk)
                conn.execute(update(dag_run).where(where).values(results_purged_at=at))

    @retried
    def set_run_reason(self, dag_id: str, run_id: str, reason: str | None) -> None:
        """Say why a run waits (or clear it with ``None``), leaving its state alone."""
        where = (dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id)
        with self._write() as conn:
            conn.execute(update(dag_run).where(where).values(reason=reason))

    @retried
    def delete_dag_run(
        self, dag_id: str, run_id: str | None = None, logical_date: datetime | None = None
    ) -> int:
        """Delete a run (by run id or logical date) with its task instances; return rows gone."""
        where = dag_run.c.dag_id == dag_id
        if run_id is not None:
            where &= dag_run.c.run_id == run_id
        if logical_date is not None:
            where &= dag_run.c.logical_date == logical_date
        if run_id is None and logical_date is None:
            raise StoreError("delete_dag_run needs a run_id or a logical_date")
        with self._write() as conn:
            return conn.execute(delete(dag_run).where(where)).rowcount

    # -- run ownership (several loops) ---------------------------------------------

    @retried
    def claim_runs(
        self,
        owner: str,
        now: datetime,
        limit: int,
        stale_after: timedelta,
        max_active_runs: Mapping[str, int] | None = None,
        dag_ids: Collection[str] | None = None,
    ) -> list[DagRunRecord]:
        """Take up to ``limit`` runs no live loop drives; return them, orphans first.

        Orphans (``running``, owned by another loop or nobody, heartbeat ``NULL`` or
        older than ``now - stale_after``) are re-owned as they are; queued runs
        become ``running`` with ``start_date`` (if unset), owner and heartbeat
        ``now``: oldest logical date first within a DAG, DAGs taking turns, and
        within each DAG's ``max_active_runs`` (this mapping, else the synced
        ``dag.max_active_runs``, else 16; running runs of every owner count).
        One transaction; on PostgreSQL concurrent loops skip each other's rows
        instead of waiting or double-claiming (``claims.py``). ``dag_ids`` limits
        the claim to DAGs the calling loop can run; runs of paused DAGs wait
        (backfill runs excepted).
        """
        caps = max_active_runs or {}
        ids = None if dag_ids is None else sorted(dag_ids)
        with self._write() as conn:
            adopted = adopt_orphans(conn, owner, now, now - stale_after, limit, ids)
            started = start_queued(conn, owner, now, limit - len(adopted), caps, ids)
        return [_record(DagRunRecord, row) for row in adopted + started]

    @retried
    def assign_run(self, dag_id: str, run_id: str, owner: str, now: datetime) -> int:
        """Make ``owner`` drive a run it created itself (``dag.test()``); return the fence."""
        where = (dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id)
        values = {"state": "running", "owner_loop": owner, "heartbeat": now,
                  "start_date": func.coalesce(dag_run.c.start_date, now),
                  "fence": dag_run.c.fence + 1}
        statement = update(dag_run).where(where).values(**values).returning(dag_run.c.fence)
        with self._write() as conn:
            fence = conn.execute(statement).scalar()
        if fence is None:
            raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r} in the metadata store")
        return fence

    @retried
    def has_claimable(self, owner: str, now: datetime, stale_after: timedelta,
                      dag_ids: Collection[str] | None = None,
                      max_active_runs: Mapping[str, int] | None = None) -> bool:
        """Whether :meth:`claim_runs` with the same arguments would take a run.

        One cheap read per idle tick, so that a loop pays for the claim's write
        transaction only when it would get something. It is decided by the
        claim's own rules (``claims.claimable``): orphans, and queued runs that
        may start now (not of a paused DAG unless a backfill, and only while
        the DAG is under its ``max_active_runs``).
        """
        with self._read() as conn:
            return claimable(conn, owner, now - stale_after, max_active_runs or {}, dag_ids)

    @retried
    def heartbeat(self, owner: str, now: datetime) -> dict[tuple[str, str], int]:
        """Mark every running run of ``owner`` alive at ``now``; return them with their fences.

        ``{(dag_id, run_id): fence}``. A run the loop drives but that is missing
        here, or has another fence, was taken from it (it went stale and was
        adopted, or a user cleared it): the loop stops driving it. A run here
        that the loop does not drive is one it claimed without hearing back
        (the connection broke after the commit): the loop resumes it.
        """
        statement = (update(dag_run).where(self._owned_by(owner)).values(heartbeat=now)
                     .returning(dag_run.c.dag_id, dag_run.c.run_id, dag_run.c.fence))
        with self._write() as conn:
            return {(dag_id, run_id): fence for dag_id, run_id, fence in conn.execute(statement)}

    @retried
    def release_runs(self, owner: str) -> int:
        """Give up ``owner``'s running runs (clean shutdown) so any loop adopts them at once."""
        with self._write() as conn:
            return conn.execute(
                update(dag_run).where(self._owned_by(owner)).values(**NO_OWNER)
            ).rowcount

    @retried
    def owned_runs(self, owner: str) -> list[DagRunRecord]:
        """The running runs ``owner`` drives, oldest logical date first."""
        query = (
            select(dag_run)
            .where(self._owned_by(owner))
            .order_by(dag_run.c.logical_date, dag_run.c.id)
        )
        with self._read() as conn:
            return [_record(DagRunRecord, row) for row in conn.execute(query)]

    @staticmethod
    def _owned_by(owner: str) -> Any:
        return (dag_run.c.state == RUNNING) & (dag_run.c.owner_loop == owner)

    # -- scheduling reads (one statement each, for all DAGs) -----------------------

    @retried
    def latest_scheduled_intervals(self) -> dict[str, tuple[datetime, datetime]]:
        """``{dag_id: (data_interval_start, data_interval_end)}`` of each DAG's newest
        ``scheduled`` run, by logical date: where the timetable continues from.

        Only DAGs in the ``dag`` table (synced) and runs with both interval ends
        set are considered; a DAG with no such run is absent.
        """
        with self._read() as conn:
            rows = conn.execute(scheduling.latest_scheduled_intervals_query())
            return {dag_id: (start, end) for dag_id, start, end in rows}

    @retried
    def active_run_counts(self) -> dict[str, int]:
        """``{dag_id: queued + running runs}``; DAGs without active runs are absent."""
        with self._read() as conn:
            return scheduling.active_run_counts(conn)

    @retried
    def paused_dag_ids(self) -> set[str]:
        """The DAGs a user paused: the loop neither creates nor starts their runs."""
        with self._read() as conn:
            return set(conn.execute(select(dag.c.dag_id).where(dag.c.is_paused)).scalars())

    @retried
    def previous_task_instance_state(
        self, dag_id: str, task_id: str, before_logical_date: datetime
    ) -> str | None:
        """The state of ``task_id`` in the DAG's newest run before ``before_logical_date``.

        For ``depends_on_past``. A mapped task gives the worst state over its
        instances (``scheduling.worst_state``; ``removed`` ones ignored). An
        instance with no state gives ``"none"``; ``None`` means there is nothing
        to wait for: no earlier run, or the task had no instance in it.
        """
        query = scheduling.previous_states_query(dag_id, task_id, before_logical_date)
        with self._read() as conn:
            return scheduling.worst_state(conn.execute(query).scalars())

    # -- task instances -----------------------------------------------------------

    @retried
    def create_task_instances(self, records: Sequence[TaskInstanceRecord]) -> None:
        """Insert task instances in one transaction; ones that exist are left as they are."""
        now = _now()
        rows = [asdict(r) | {"updated_at": r.updated_at or now} for r in records]
        with self._write() as conn:
            upsert(conn, task_instance, rows, TASK_INSTANCE_KEY, update=())

    @retried
    def apply_updates(
        self,
        task_updates: Sequence[TaskUpdate] = (),
        attempts: Sequence[AttemptUpdate] = (),
        xcoms: Sequence[XComUpdate] = (),
        *,
        owner: str | None = None,
        fences: Mapping[tuple[str, str], int] | None = None,
    ) -> set[tuple[str, str]]:
        """Write a runner's batch - task changes, attempts, XComs - in ONE transaction.

        Task instances are upserted (missing ones inserted, existing ones changed
        only in the fields an update names), then attempts and XComs, which must
        belong to task instances that exist after the first step.

        With ``owner`` and ``fences`` (``{(dag_id, run_id): fence}`` for every run
        in the batch), only the updates of runs that ``owner`` still drives with
        that fence are written (``fencing.py``); the runs whose updates were
        dropped are returned, so that the caller stops driving them.
        """
        now = _now()
        with self._write() as conn:
            lost: set[tuple[str, str]] = set()
            if owner is not None:
                fences = fences or {}
                runs = {(u.dag_id, u.run_id) for u in [*task_updates, *attempts, *xcoms]}
                held = still_owned(conn, owner, {r: fences[r] for r in runs if r in fences})
                lost = runs - held
                if lost:
                    task_updates = [u for u in task_updates if (u.dag_id, u.run_id) in held]
                    attempts = [a for a in attempts if (a.dag_id, a.run_id) in held]
                    xcoms = [x for x in xcoms if (x.dag_id, x.run_id) in held]
            apply_task_updates(conn, task_instance, task_updates, now)
            apply_attempts(conn, task_attempt, attempts)
            apply_xcoms(conn, xcom, xcoms, now)
        return lost

    @retried
    def list_task_instances(self, dag_id: str, run_id: str) -> list[TaskInstanceRecord]:
        """The run's task instances ordered by ``task_id`` then ``map_index``."""
        query = (
            select(task_instance)
            .where((task_instance.c.dag_id == dag_id) & (task_instance.c.run_id == run_id))
            .order_by(task_instance.c.task_id, task_instance.c.map_index)
        )
        with self._read() as conn:
            return [_record(TaskInstanceRecord, row) for row in conn.execute(query)]

    @retried
    def result_refs(self, dag_id: str, run_id: str) -> dict[tuple[str, int], str | None]:
        """Where each task instance's return value is kept, by ``(task_id, map_index)``
        (three columns: a finished run of thousands of tasks reads them quickly)."""
        ti = task_instance.c
        query = select(ti.task_id, ti.map_index, ti.result_ref).where(
            (ti.dag_id == dag_id) & (ti.run_id == run_id))
        with self._read() as conn:
            return {(row.task_id, row.map_index): row.result_ref for row in conn.execute(query)}

    @retried
    def get_task_instance(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> TaskInstanceRecord | None:
        """One task instance, or ``None``."""
        where = _ti_where(dag_id, run_id, task_id, map_index, task_instance)
        with self._read() as conn:
            row = conn.execute(select(task_instance).where(where)).first()
        return None if row is None else _record(TaskInstanceRecord, row)

    @retried
    def list_attempts(
        self, dag_id: str, run_id: str, task_id: str, map_index: int = -1
    ) -> list[AttemptRecord]:
        """A task instance's attempts, first try first (logs not included)."""
        columns = [c for c in task_attempt.c if c.name not in ("id", "log")]
        query = (
            select(*columns)
            .where(_ti_where(dag_id, run_id, task_id, map_index, task_attempt))
            .order_by(task_attempt.c.try_number)
        )
        with self._read() as conn:
            return [_record(AttemptRecord, row) for row in conn.execute(query)]

    @retried
    def list_run_attempts(self, dag_id: str, run_id: str) -> list[AttemptRecord]:
        """Every attempt of a run (logs not included), by task, map index and try."""
        columns = [c for c in task_attempt.c if c.name not in ("id", "log")]
        query = (
            select(*columns)
            .where((task_attempt.c.dag_id == dag_id) & (task_attempt.c.run_id == run_id))
            .order_by(task_attempt.c.task_id, task_attempt.c.map_index,
                      task_attempt.c.try_number)
        )
        with self._read() as conn:
            return [_record(AttemptRecord, row) for row in conn.execute(query)]

    @retried
    def get_log(
        self,
        dag_id: str,
        run_id: str,
        task_id: str,
        map_index: int = -1,
        try_number: int | None = None,
    ) -> str | None:
        """The log of one attempt (the latest if ``try_number`` is None), or ``None``."""
        query = select(task_attempt.c.log).where(
            _ti_where(dag_id, run_id, task_id, map_index, task_attempt)
        )
        if try_number is None:
            query = query.order_by(task_attempt.c.try_number.desc()).limit(1)
        else:
            query = query.where(task_attempt.c.try_number == try_number)
        with self._read() as conn:
            return conn.execute(query).scalar()

    @retried
    def list_xcoms(self, dag_id: str, run_id: str, task_id: str | None = None) -> list[XComRecord]:
        """The run's XComs (of one task if given), ordered by task, map index, key."""
        query = (
            select(xcom)
            .where((xcom.c.dag_id == dag_id) & (xcom.c.run_id == run_id))
            .order_by(xcom.c.task_id, xcom.c.map_index, xcom.c.key)
        )
        if task_id is not None:
            query = query.where(xcom.c.task_id == task_id)
        with self._read() as conn:
            return [_record(XComRecord, row) for row in conn.execute(query)]

    @retried
    def task_state_counts(self, dag_id: str, run_id: str) -> dict[str, int]:
        """How many task instances of the run are in each state (no state: ``"none"``)."""
        query = (
            select(task_instance.c.state, func.count())
            .where((task_instance.c.dag_id == dag_id) & (task_instance.c.run_id == run_id))
            .group_by(task_instance.c.state)
        )
        with self._read() as conn:
            return {state or NULL_STATE: count for state, count in conn.execute(query)}

    @retried
    def clear_task_instances(
        self, dag_id: str, run_id: str, keys: Sequence[tuple[str, int]]
    ) -> int:
        """Make task instances run again (Airflow's ``tasks clear``); return how many.

        The instances ``(task_id, map_index)`` lose state, ``end_date``,
        ``duration`` and ``next_try_at`` and their XComs; ``try_number``,
        ``max_tries``, attempts and logs stay, so the next try is numbered after
        the last. The run goes back to ``queued`` (``queued_at`` now) with no end
        date and no owner, so whichever loop claims it next resumes it; its
        ``start_date`` stays. One transaction.
        """
        now = _now()
        cleared = {"state": None, "end_date": None, "duration": None, "next_try_at": None,
                   "deferral": None}
        run = (dag_run.c.dag_id == dag_id) & (dag_run.c.run_id == run_id)
        count = 0
        with self._write() as conn:
            for chunk in chunks(list(dict.fromkeys(keys)), 500):
                where = _ti_keys_where(dag_id, run_id, chunk, task_instance)
                conn.execute(delete(xcom).where(_ti_keys_where(dag_id, run_id, chunk, xcom)))
                result = conn.execute(
                    update(task_instance).where(where).values(**cleared, updated_at=now)
                )
                count += result.rowcount
            requeue = {"state": "queued", "end_date": None, "queued_at": now} | NO_OWNER
            if conn.execute(update(dag_run).where(run).values(**requeue)).rowcount == 0:
                raise NotFoundError(f"DAG {dag_id!r} has no run {run_id!r} in the metadata store")
        return count

    @retried
    def delete_mapped_instances(self, dag_id: str, run_id: str, task_id: str) -> int:
        """Delete a mapped task's expanded instances (``map_index >= 0``) before re-expanding.

        Their attempts, logs and XComs go with them (``ON DELETE CASCADE``); an
        unmapped row (``map_index -1``) is kept. Returns how many were deleted.
        """
        where = (
            (task_instance.c.dag_id == dag_id)
            & (task_instance.c.run_id == run_id)
            & (task_instance.c.task_id == task_id)
            & (task_instance.c.map_index >= 0)
        )
        with self._write() as conn:
            return conn.execute(delete(task_instance).where(where)).rowcount

    @retried
    def monitoring_counts(self) -> MonitoringCounts:
        """Runs by DAG and state, task instances by state, pool use, import errors and
        schedule delays, read together for the metrics endpoint (``monitoring.py``)."""
        with self._read() as conn:
            return read_counts(conn)

    @retried
    def task_state_counts_by_task(self, dag_id: str, run_id: str) -> dict[str, dict[str, int]]:
        """``{task_id: {state: instances}}`` of a run; a mapped task's expanded instances
        only, once it has them (no state: ``"none"``)."""
        with self._read() as conn:
            return task_state_counts_by_task(conn, dag_id, run_id)

    @retried
    def run_try_spans(self, dag_id: str, run_id: str) -> list[TrySpan]:
        """The times of every try of a run that started, ended or running (the Gantt's)."""
        with self._read() as conn:
            return try_spans(conn, dag_id, run_id)

    # -- import errors ------------------------------------------------------------

    @retried
    def set_import_errors(self, errors: Mapping[str, str], clear_others_under: str | None) -> None:
        """Record ``{filename: stacktrace}``; drop other errors of files under a folder.

        After parsing a folder, pass it as ``clear_others_under`` so files that
        now import cleanly lose their old error; errors elsewhere are kept.
        """
        now = _now()
        rows = [{"filename": f, "stacktrace": s, "timestamp": now} for f, s in errors.items()]
        with self._write() as conn:
            upsert(conn, import_error, rows, ["filename"], ["stacktrace", "timestamp"])
            if clear_others_under is not None:
                self._clear_import_errors(conn, set(errors), clear_others_under)

    @staticmethod
    def _clear_import_errors(conn: Connection, keep: set[str], folder: str) -> None:
        filenames = conn.execute(select(import_error.c.filename)).scalars()
        stale = [f for f in filenames if _is_under(f, folder) and f not in keep]
        for chunk in chunks(stale, 500):
            conn.execute(delete(import_error).where(import_error.c.filename.in_(chunk)))

    @retried
    def list_import_errors(self) -> list[ImportErrorRecord]:
        """Every recorded import error, ordered by filename."""
        query = select(import_error).order_by(import_error.c.filename)
        with self._read() as conn:
            return [_record(ImportErrorRecord, row) for row in conn.execute(query)]

    # -- pools --------------------------------------------------------------------

    @retried
    def set_pool(self, name: str, slots: int, description: str = "") -> None:
        """Create or change a pool."""
        if slots < 0:
            raise ValueError(f"pool {name!r}: slots must be >= 0, got {slots}")
        row = {"name": name, "slots": slots, "description": description}
        with self._write() as conn:
            upsert(conn, pool, [row], ["name"], ["slots", "description"])

    @retried
    def get_pool(self, name: str) -> PoolRecord | None:
        """The pool ``name``, or ``None``."""
        with self._read() as conn:
            row = conn.execute(select(pool).where(pool.c.name == name)).first()
        return None if row is None else _record(PoolRecord, row)

    @retried
    def list_pools(self) -> list[PoolRecord]:
        """Every pool, ordered by name."""
        with self._read() as conn:
            rows = conn.execute(select(pool).order_by(pool.c.name)).all()
        return [_record(PoolRecord, row) for row in rows]

    @retried
    def delete_pool(self, name: str) -> None:
        """Delete a pool; ``default_pool`` cannot be deleted, an unknown one raises."""
        if name == DEFAULT_POOL:
            raise StoreError(
                f"{DEFAULT_POOL!r} cannot be deleted; change its size with "
                f"set_pool({DEFAULT_POOL!r}, slots) instead"
            )
        with self._write() as conn:
            result = conn.execute(delete(pool).where(pool.c.name == name))
        if result.rowcount == 0:
            raise NotFoundError(f"pool {name!r} is not in the metadata store")

    # -- scheduler loops -------------------------------------------------------------

    @retried
    def register_loop(self, loop_id: str, hostname: str, dashboard_url: str | None,
                      now: datetime) -> None:
        """Record a loop that started, and its dashboard (``daskflow dashboard`` reads it)."""
        row = {"loop_id": loop_id, "hostname": hostname, "dashboard_url": dashboard_url,
               "started_at": now}
        with self._write() as conn:
            upsert(conn, scheduler_loop, [row], ["loop_id"],
                   ["hostname", "dashboard_url", "started_at"])

    @retried
    def unregister_loop(self, loop_id: str) -> None:
        """Forget a loop that stopped (a loop that was killed stays until it is started again)."""
        with self._write() as conn:
            conn.execute(delete(scheduler_loop).where(scheduler_loop.c.loop_id == loop_id))

    @retried
    def list_loops(self) -> list[LoopRecord]:
        """The recorded loops, the most recently started first."""
        with self._read() as conn:
            rows = conn.execute(select(scheduler_loop).order_by(
                scheduler_loop.c.started_at.desc(), scheduler_loop.c.loop_id)).all()
        return [_record(LoopRecord, row) for row in rows]

    # -- connections and variables ----------------------------------------------------

    @retried
    def set_connection(self, record: ConnectionRecord) -> bool:
        """Create or replace a connection; password and extra are encrypted when a
        Fernet key is set. Returns whether they were encrypted."""
        box = Box.from_setting()
        row = asdict(record) | {
            "password": box.encrypt(record.password), "extra": box.encrypt(record.extra),
            "is_encrypted": box.enabled}
        with self._write() as conn:
            upsert(conn, connection, [row], ["conn_id"],
                   [c.name for c in connection.c if c.name != "conn_id"])
        return box.enabled

    @retried
    def get_connection(self, conn_id: str) -> ConnectionRecord | None:
        """The connection ``conn_id`` decrypted, or ``None``."""
        with self._read() as conn:
            row = conn.execute(select(connection).where(connection.c.conn_id == conn_id)).first()
        return None if row is None else _connection_record(row, Box.from_setting())

    @retried
    def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, decrypted, ordered by conn_id."""
        box = Box.from_setting()
        with self._read() as conn:
            rows = conn.execute(select(connection).order_by(connection.c.conn_id)).all()
        return [_connection_record(row, box) for row in rows]

    @retried
    def delete_connection(self, conn_id: str) -> None:
        """Delete a connection; :class:`NotFoundError` if there is none."""
        with self._write() as conn:
            result = conn.execute(delete(connection).where(connection.c.conn_id == conn_id))
        if result.rowcount == 0:
            raise NotFoundError(f"connection {conn_id!r} is not in the metadata store")

    @retried
    def set_variable(self, key: str, val: str, description: str | None = None) -> bool:
        """Create or replace a variable (text); encrypted when a Fernet key is set.
        Returns whether it was encrypted."""
        if not isinstance(val, str):
            raise TypeError(f"variable {key!r}: the store keeps text, got {type(val).__name__}")
        box = Box.from_setting()
        row = {"key": key, "val": box.encrypt(val), "description": description,
               "is_encrypted": box.enabled}
        with self._write() as conn:
            upsert(conn, variable, [row], ["key"], ["val", "description", "is_encrypted"])
        return box.enabled

    @retried
    def get_variable(self, key: str) -> VariableRecord | None:
        """The variable ``key`` decrypted, or ``None``."""
        with self._read() as conn:
            row = conn.execute(select(variable).where(variable.c.key == key)).first()
        return None if row is None else _variable_record(row, Box.from_setting())

    @retried
    def list_variables(self) -> list[VariableRecord]:
        """Every variable, decrypted, ordered by key."""
        box = Box.from_setting()
        with self._read() as conn:
            rows = conn.execute(select(variable).order_by(variable.c.key)).all()
        return [_variable_record(row, box) for row in rows]

    @retried
    def delete_variable(self, key: str) -> None:
        """Delete a variable; :class:`NotFoundError` if there is none."""
        with self._write() as conn:
            result = conn.execute(delete(variable).where(variable.c.key == key))
        if result.rowcount == 0:
            raise NotFoundError(f"variable {key!r} is not in the metadata store")

    @retried
    def rotate_fernet_key(self) -> tuple[int, int]:
        """Re-encrypt every connection and variable with the first configured key.

        Rows kept in clear are encrypted too. All rows change in one transaction,
        or none (a row no configured key decrypts raises :class:`FernetKeyError`).
        Returns ``(connections, variables)`` rewritten.
        """
        box = Box.from_setting()
        if not box.enabled:
            raise FernetKeyError("no Fernet key is set (DASKFLOW_FERNET_KEY / "
                                 "daskflow.fernet-key); set the new key first, followed by "
                                 "the old one, comma-separated")
        with self._write() as conn:
            conns = conn.execute(select(connection)).all()
            for row in conns:
                what = f"connection {row.conn_id!r}"
                values = {name: box.rotate(getattr(row, name), row.is_encrypted, what)
                          for name in ("password", "extra")}
                conn.execute(update(connection).where(connection.c.conn_id == row.conn_id)
                             .values(**values, is_encrypted=True))
            variables = conn.execute(select(variable)).all()
            for row in variables:
                val = box.rotate(row.val, row.is_encrypted, f"variable {row.key!r}")
                conn.execute(update(variable).where(variable.c.key == row.key)
                             .values(val=val, is_encrypted=True))
        return len(conns), len(variables)


def _connection_record(row: Row[Any], box: Box) -> ConnectionRecord:
    record = _record(ConnectionRecord, row)
    if not record.is_encrypted:
        return record
    what = f"connection {record.conn_id!r}"
    return ConnectionRecord(**asdict(record) | {
        "password": box.decrypt(record.password, what), "extra": box.decrypt(record.extra, what)})


def _variable_record(row: Row[Any], box: Box) -> VariableRecord:
    record = _record(VariableRecord, row)
    if not record.is_encrypted:
        return record
    return VariableRecord(**asdict(record) | {
        "val": box.decrypt(record.val, f"variable {record.key!r}")})


_NEXT_DAGRUN = (
    "next_dagrun",
    "next_dagrun_data_interval_start",
    "next_dagrun_data_interval_end",
)

__all__ = ["Store"]
