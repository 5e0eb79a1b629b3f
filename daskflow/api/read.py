"""Reading the metadata store from a script or a notebook: DAGs, runs, tasks, XComs, logs.

The same records the CLI prints (``daskflow runs list``, ``tasks states``,
``tasks logs``), as frozen dataclasses, for code that wants to look at what
ran without parsing command output. Every function takes ``db`` (a
SQLAlchemy URL; the configured store without it) and only reads: a store
that does not exist is an error, never a new empty file.

>>> from daskflow import api
>>> runs = api.list_runs("etl", state="failed", limit=5)       # doctest: +SKIP
>>> api.task_instances("etl", runs[0].run_id)[0].state          # doctest: +SKIP
'failed'
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from daskflow import config
from daskflow.exceptions import DagNotFound, DaskflowError
from daskflow.store import Store, StoreError
from daskflow.store.records import (
    AttemptRecord,
    DagRecord,
    DagRunRecord,
    TaskInstanceRecord,
    XComRecord,
)

_lock = threading.Lock()
_stores: dict[str, Store] = {}


def open_store(db: str | None = None) -> Store:
    """The store at ``db`` (kept open for later calls); it must have daskflow's tables."""
    from daskflow.store.engine import mask_url, parse_url

    url = db or config.db_url()
    with _lock:
        store = _stores.get(url)
        if store is not None:
            return store
        parsed = parse_url(url)
        database = parsed.database or ""
        if parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:") \
                and not database.startswith("file:") and not Path(database).expanduser().exists():
            raise StoreError(f"no metadata store at {mask_url(url)!r} (the file does not "
                             "exist); pass the db a scheduler or dag.submit() records to")
        store = Store(url)
        if store.current_revision() is None:
            store.dispose()
            raise StoreError(f"metadata store {mask_url(url)!r} has no daskflow tables yet; "
                             "run `daskflow db init` with the same URL")
        _stores[url] = store
        return store


def close_stores() -> None:
    """Dispose of the stores this module opened (their connection pools)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.dispose()


def list_dags(db: str | None = None) -> list[DagRecord]:
    """Every DAG the store knows (recorded by a loop, ``dag.test`` or ``dag.submit``)."""
    return open_store(db).list_dags()


def get_dag(dag_id: str, db: str | None = None) -> DagRecord:
    """One DAG's record; :class:`DagNotFound` names the DAGs the store knows."""
    store = open_store(db)
    found = store.get_dag(dag_id)
    if found is None:
        known = ", ".join(d.dag_id for d in store.list_dags()) or "none"
        raise DagNotFound(f"DAG {dag_id!r} is not in the metadata store (DAGs it knows: "
                          f"{known})")
    return found


def list_runs(dag_id: str | None = None, state: str | None = None, limit: int | None = None,
              db: str | None = None) -> list[DagRunRecord]:
    """DAG runs, newest logical date first (of one DAG, in one state, at most ``limit``)."""
    return open_store(db).list_dag_runs(dag_id=dag_id, state=state, limit=limit)


def get_run(dag_id: str, run_id: str, db: str | None = None) -> DagRunRecord:
    """One run's record; an error naming the DAG and run if the store has no such run."""
    found = open_store(db).get_dag_run(dag_id, run_id)
    if found is None:
        raise DaskflowError(f"DAG {dag_id!r} has no run {run_id!r} in the metadata store")
    return found


def task_instances(dag_id: str, run_id: str, db: str | None = None
                   ) -> list[TaskInstanceRecord]:
    """The run's task instances, by task id then map index."""
    get_run(dag_id, run_id, db)
    return open_store(db).list_task_instances(dag_id, run_id)


def attempts(dag_id: str, run_id: str, db: str | None = None) -> list[AttemptRecord]:
    """Every try of every task instance of the run, with its error (logs apart)."""
    get_run(dag_id, run_id, db)
    return open_store(db).list_run_attempts(dag_id, run_id)


def xcoms(dag_id: str, run_id: str, task_id: str | None = None, db: str | None = None
          ) -> list[XComRecord]:
    """The small display copies of XComs the run's tasks pushed.

    These are what the dashboard shows (a value, or its shortened ``repr``);
    the values themselves are a handle's ``xcom()``.
    """
    get_run(dag_id, run_id, db)
    return open_store(db).list_xcoms(dag_id, run_id, task_id)


def log(dag_id: str, run_id: str, task_id: str, map_index: int = -1,
        try_number: int | None = None, db: str | None = None) -> str:
    """The log of one attempt of a task instance (its latest if ``try_number`` is None)."""
    store = open_store(db)
    get_run(dag_id, run_id, db)
    text = store.get_log(dag_id, run_id, task_id, map_index, try_number)
    if text is None:
        which = "any attempt" if try_number is None else f"try {try_number}"
        instance = task_id + (f"[{map_index}]" if map_index >= 0 else "")
        raise DaskflowError(f"DAG {dag_id!r} run {run_id!r}: no log of {which} of task "
                            f"{instance!r} is recorded (it has not run yet, or no such task)")
    return text


def state_counts(dag_id: str, run_id: str, db: str | None = None) -> dict[str, Any]:
    """How many of the run's task instances are in each state."""
    return open_store(db).task_state_counts(dag_id, run_id)
