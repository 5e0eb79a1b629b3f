"""Deleting the outcomes a finished run no longer needs (``daskflow.results-retention``).

Outcomes are kept in the result store (``execution/results.py``) so that a
loop that restarts, or a user who clears a task, can continue a run without
running finished tasks again. Once a run has finished, they matter only for
``daskflow tasks clear``; after the retention period the loop deletes them,
a bounded number of runs at a time, from a thread that is not the tick's.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from daskflow.execution.results import delete_run_outcomes

logger = logging.getLogger("daskflow.retention")
#: Runs purged per sweep, so that one sweep stays short.
BATCH = 100


def purge_results(store: Any, results_url: str, now: datetime, retention: float) -> int:
    """Delete the kept outcomes of runs that finished more than ``retention`` s ago."""
    runs = store.runs_with_kept_results(now - timedelta(seconds=retention), BATCH)
    purged = []
    for dag_id, run_id in runs:
        try:
            delete_run_outcomes(results_url, dag_id, run_id)
        except Exception as exc:  # a file system error: try again at the next sweep
            logger.warning("could not delete the kept outcomes of run %s of DAG %r: %s",
                           run_id, dag_id, exc)
            continue
        purged.append((dag_id, run_id))
    if purged:
        store.mark_results_purged(purged, now)
    return len(purged)
