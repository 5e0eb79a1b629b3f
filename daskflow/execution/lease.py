"""A node runs the user's code only while its loop still holds the run's lease.

The graph of a run, once submitted, drives itself: Dask starts each task as
soon as its inputs exist, whether or not the loop that submitted it is still
alive. If that loop stalls (a paused process, a long pause of the machine)
and another loop adopts the run, the stalled loop's cluster would go on
starting tasks that the adopting loop starts too. So each key carries its
run's lease, ``(lease_id, until)``, in its Dask annotations; the loop renews
the lease on the scheduler on every heartbeat that proves it still owns the
run (``execution/ownership.py``, ``execution/cluster_plugins.py``). A node
checks it before running the user's code: while the annotated ``until``
lies ahead it costs nothing; past it, the node asks the scheduler once for
the renewed end and remembers it for the other nodes of the worker. A lease
that has run out ends the node with :class:`LeaseExpired`, before any of the
user's code ran; the loop re-runs such keys once it holds the lease again, or
forgets them if it lost the run.
"""

from __future__ import annotations

import time
from typing import Any

#: Per worker process: lease id -> until (epoch seconds), as last heard from the scheduler.
_renewed: dict[str, float] = {}


class LeaseExpired(Exception):
    """The loop that submitted this key no longer proves it owns the run: not started."""

    def __init__(self, lease_id: str, task: str) -> None:
        super().__init__(f"task {task!r} was not started: the lease {lease_id} of the scheduler "
                         "loop driving its run has expired (the loop stalled, or another loop "
                         "took the run over)")
        self.lease_id = lease_id
        self.task = task

    def __reduce__(self) -> tuple:
        return (LeaseExpired, (self.lease_id, self.task))


def check(annotation: Any, worker: Any, task: str, now: float | None = None) -> None:
    """Raise :class:`LeaseExpired` unless the lease in ``annotation`` still runs."""
    if annotation is None:
        return
    lease_id, until = annotation
    now = time.time() if now is None else now
    if until > now or _renewed.get(lease_id, 0.0) > now:
        return
    renewed = _ask(worker, lease_id)
    _renewed[lease_id] = renewed
    if renewed <= now:
        raise LeaseExpired(lease_id, task)


def _ask(worker: Any, lease_id: str) -> float:
    """The lease's end as the scheduler has it; 0 if it cannot say."""
    if worker is None:
        return 0.0
    from distributed.utils import sync

    try:
        return float(sync(worker.loop, worker.scheduler.daskflow_lease, lease_id=lease_id) or 0)
    except Exception:  # no scheduler, or one without daskflow's plugin: not proven, not run
        return 0.0
