"""``daskflow.trigger``: queue a run for a running ``daskflow scheduler``, from Python.

It does what ``daskflow dags trigger`` does (``cli/trigger.py``): the DAG is
checked and its schedule read (from the file a loop recorded for it in the
store, or from the configured DAG folder), and a ``queued`` manual run is
written; a scheduler loop on the same store claims it on its next tick and
runs the DAG as its own folder defines it. The returned
:class:`~daskflow.api.handles.StoredRunHandle` follows the run in the store.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from daskflow import config
from daskflow.api.handles import StoredRunHandle
from daskflow.exceptions import DagNotFound
from daskflow.execution.single_run import check_conf, parse_logical_date
from daskflow.store import Store


def trigger(dag_id: str, conf: dict[str, Any] | None = None,
            logical_date: datetime | date | str | None = None, db: str | None = None,
            run_id: str | None = None) -> StoredRunHandle:
    """Queue a manual run of ``dag_id``; a running ``daskflow scheduler`` starts it.

    ``db`` must be the store the scheduler uses. A DAG has one run per logical
    date: triggering a date that has a run raises ``RunExistsError``.
    """
    conf = check_conf(conf)
    url = db or config.db_url()
    store = Store(url)
    try:
        store.init()
        dag = _known_dag(store, dag_id)
        dag.validate()
        logical = parse_logical_date(logical_date, datetime.now(timezone.utc))
        interval = dag.timetable.infer_manual_data_interval(logical)
        run = store.create_dag_run(
            dag_id, run_id or f"manual__{logical.isoformat()}", logical, interval.start,
            interval.end, "manual", conf, state="queued", external_trigger=True)
    finally:
        store.dispose()
    return StoredRunHandle(dag_id, run.run_id, db=db)


def _known_dag(store: Store, dag_id: str) -> Any:
    """The DAG as a loop recorded it, else from the configured DAG folder here."""
    if store.get_dag(dag_id) is not None:
        from daskflow.scheduler.dagbag import load_recorded_dag

        return load_recorded_dag(store, dag_id)
    folder = config.dags_folder()
    if folder.exists():
        from daskflow.scheduler.dagbag import DagBag

        bag = DagBag.load(folder)
        if dag_id in bag.dags:
            return bag.get_dag(dag_id)
    from daskflow.store.engine import mask_url

    raise DagNotFound(f"DAG {dag_id!r} not found: the metadata store {mask_url(store.url)!r}"
                      f" does not know it and the DAG folder {str(folder)!r} has no such DAG; "
                      "pass the db a running `daskflow scheduler` uses")
