"""The work the workloads do, as plain functions that both daskflow and raw Dask run.

They import nothing from daskflow, so the raw Dask graphs measure Dask
alone, and they live in an importable module so worker processes (and the
workers of an existing cluster with daskflow installed) can unpickle them.
"""

from __future__ import annotations

import time
from typing import Any


def noop(*upstream: Any) -> None:
    """Nothing: the cost of a task that does no work is all orchestration."""
    return None


def spin(loops: int) -> int:
    """Pure-Python arithmetic holding the GIL for a while: work only more processes speed up."""
    total = 0
    for i in range(loops):
        total += i * i
    return total


def calibrate_spin(seconds: float, probe_loops: int = 200_000) -> int:
    """How many ``spin`` loops take about ``seconds`` on this machine, now.

    >>> calibrate_spin(0.001) >= 1
    True
    """
    t0 = time.perf_counter()
    spin(probe_loops)
    per_loop = (time.perf_counter() - t0) / probe_loops
    return max(1, round(seconds / per_loop))


def nap(seconds: float) -> float:
    """Wait without using the CPU, as a task blocked on I/O does."""
    time.sleep(seconds)
    return seconds


def stamped(*upstream: Any) -> tuple[float, float]:
    """``(start, end)`` wall-clock times of this task, for the lag between linked tasks."""
    start = time.time()
    return start, time.time()


def make_array(megabytes: float) -> Any:
    """A float64 array of ``megabytes`` MiB: the data a hand-off moves."""
    import numpy as np

    return np.ones(int(megabytes * 2**20) // 8)


def pass_on(array: Any) -> Any:
    """A new array of the same size, so each hop of the chain hands over fresh data."""
    return array + 1


def checksum(array: Any) -> float:
    """A small value that depends on every element: proof the array arrived whole."""
    return float(array.sum())
