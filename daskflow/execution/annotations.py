"""Changing what a key's next run sees, from the client, before ``Client.retry``.

The loop tells a retried node its try number (or an outcome to return
without running) by updating the key's annotations on the Dask scheduler;
the worker receives annotations with the task, so the node reads them for
free. One call of daskflow's scheduler handler (``cluster_plugins.py``)
covers every key due at that moment, and writes nothing to the scheduler's
log, unlike ``Client.run_on_scheduler``.
"""

from __future__ import annotations

from typing import Any

#: Annotation whose presence means "return this outcome, run nothing" (``node.py``).
FORCED = "daskflow_outcome"


def _update_on_scheduler(dask_scheduler: Any, updates: dict[str, dict[str, Any]]) -> list[str]:
    """Runs inside the Dask scheduler: merge ``updates`` into the keys' annotations.

    A key given an outcome to return runs none of the task's code, so it may
    run on any worker: its worker and resource restrictions are lifted (a
    task that failed for want of such a worker could otherwise never end).
    """
    found = []
    for key, values in updates.items():
        state = dask_scheduler.tasks.get(key)
        if state is None:
            continue
        merged = dict(state.annotations or {})
        merged.update(values)
        state.annotations = merged
        if FORCED in values:
            state.resource_restrictions = None
            state.worker_restrictions = None
            state.host_restrictions = None
            state.loose_restrictions = False
        found.append(key)
    return found


def update_on_scheduler(dask_scheduler: Any, updates: dict[str, dict[str, Any]]) -> list[str]:
    """What daskflow's scheduler plugin runs for :func:`set_annotations`."""
    return _update_on_scheduler(dask_scheduler, updates)


def set_annotations(client: Any, updates: dict[str, dict[str, Any]]) -> list[str]:
    """Set annotations of several keys in one scheduler call; return the keys found.

    A scheduler without daskflow's plugin (it restarted and lost every key
    anyway) finds none.
    """
    if not updates:
        return []
    return client.sync(client.scheduler.daskflow_annotate, updates=updates) or []


class ByKey:
    """A per-key annotation value: the scheduler calls annotation callables with each key."""

    def __init__(self, values: dict[str, Any], default: Any) -> None:
        self.values = values
        self.default = default

    def __call__(self, key: str) -> Any:
        return self.values.get(key, self.default)
