"""Writing what the parser found into the store: DAG rows and DAG versions.

A DAG version is a hash of the file's source and the DAG's structure; every
run records the version it was created from, and the source is kept, so an
old run can always be shown as it was defined, and run as it was defined
once its file has changed: for that the version is signed with the
deployment's secret key (``versions.py``).
"""

from __future__ import annotations

import hashlib
import inspect
from datetime import datetime, timezone
from typing import Any

from daskflow.scheduler.versions import sign
from daskflow.store.records import DagRecord


def dag_record(dag: Any) -> DagRecord:
    schedule = dag.schedule_description()
    return DagRecord(
        dag_id=dag.dag_id, fileloc=str(dag.fileloc or ""), description=dag.description,
        schedule=None if schedule is None else str(schedule), tags=tuple(dag.tags),
        owner=dag.default_args.get("owner"), max_active_runs=dag.max_active_runs,
        is_paused=bool(dag.is_paused_upon_creation), last_parsed=datetime.now(timezone.utc),
    )


def dag_source(dag: Any) -> str:
    """The source of the DAG's file ('' when it has none, e.g. defined in a notebook)."""
    try:
        with open(dag.fileloc) as f:
            return f.read()
    except (OSError, TypeError):
        try:
            return inspect.getsource(inspect.getmodule(dag)) if inspect.getmodule(dag) else ""
        except (OSError, TypeError):
            return ""


def save_version(store: Any, dag: Any, source: str | None = None) -> str:
    """Store this DAG's current version (once, signed: ``versions.py``) and return its id."""
    source = dag_source(dag) if source is None else source
    structure = dag.structure()
    digest = hashlib.sha256(source.encode()
                            + dag.structure_hash(structure).encode()).hexdigest()[:16]
    fileloc = str(dag.fileloc or "")
    store.save_dag_version(digest, dag.dag_id, fileloc, source, structure,
                           signature=sign(digest, dag.dag_id, fileloc, source))
    return digest
