"""Fewer full garbage collections in a process that drives runs.

Python's collector runs a *full* collection, one that walks every object
the process holds, after ten collections of the middle generation (and once
enough new objects have survived). A process driving a run holds a great
many objects: the loop's state, the Dask client's futures and, with the
embedded LocalCluster, the Dask scheduler's own task states. A wide run
allocates long-lived objects quickly (a future, a report, a record per
task), so full collections came often, 80 ms and more each, and with the
embedded cluster they stop the Dask scheduler's thread as well: on a
1,000-task fan-out they cost about a fifth of the run (docs/performance.md).

Once a :class:`~daskflow.execution.runner.Runner` starts in a process, the
process makes a full collection after :data:`FULL_EVERY` collections of the
middle generation instead of ten. The young generations are collected as
often as before, so short-lived cycles are freed as soon as ever; only
garbage cycles among old objects wait longer. The setting stays when the
runner ends: put back at once, it would make the next allocation pay for
the full collection the run put off (measured: 0.15 s at the end of every
``dag.test`` of 1,000 tasks). ``daskflow.gc-full-every`` sets the number
(``0`` leaves Python's setting alone).
"""

from __future__ import annotations

import gc
import threading

#: Collections of the middle generation between two full collections while runs are driven.
FULL_EVERY = 1000

_lock = threading.Lock()


def pace(full_every: int = FULL_EVERY) -> None:
    """Collect the oldest generation after ``full_every`` middle-generation collections
    (never more often than Python already does)."""
    if full_every <= 0:
        return
    with _lock:
        young, middle, old = gc.get_threshold()
        if old < full_every:
            gc.set_threshold(young, middle, full_every)
