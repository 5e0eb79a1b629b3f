"""The task that makes a sensor's condition true once the sensor waits without its thread."""

from __future__ import annotations

import time
from pathlib import Path

from daskflow.store import Store


def make_marker_once_waiting(db: str, dag_id: str, state: str, marker: str, seen: str) -> None:
    """Write ``marker`` once the run's ``marker`` sensor shows ``state`` (or after 60 s),
    noting the state it saw in ``seen``."""
    store = Store(db)
    found = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ti = store.get_task_instance(dag_id, store.list_dag_runs(dag_id)[0].run_id, "marker")
        found = ti.state if ti is not None else None
        if found == state:
            break
        time.sleep(0.1)
    Path(seen).write_text(str(found))
    Path(marker).write_text("done")
