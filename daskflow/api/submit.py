"""``dag.submit()``: hand a run to this process's background driver, return a handle."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from daskflow.api.handles import RunHandle
from daskflow.execution.submitter import submitter_for


def submit_run(dag: Any, logical_date: datetime | date | str | None = None,
               conf: dict[str, Any] | None = None, cluster: Any = None,
               db: str | None = None) -> RunHandle:
    """Start a run of ``dag`` on ``cluster`` recorded in ``db``; see ``DAG.submit``."""
    live = submitter_for(cluster, db).submit(dag, logical_date=logical_date, conf=conf)
    return RunHandle(live, db)
