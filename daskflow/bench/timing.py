"""One timed run, raw Dask or daskflow, and the summary of several.

A figure is the median of its runs with their range kept beside it, never
the best run: on a shared machine the best run measures luck.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
import time
from collections.abc import Iterator, Sequence
from typing import Any

from daskflow.bench.shapes import START


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), interpolated linearly as numpy's default is.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and every run, so a reader sees the spread.

    >>> summarize([3.0, 1.0, 2.0])["median"]
    2.0
    """
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "runs": [round(v, 6) for v in values]}


def logical_dates() -> Iterator[dt.datetime]:
    """Distinct logical dates, one day apart, so no test run replaces another."""
    day = START
    while True:
        day += dt.timedelta(days=1)
        yield day


def run_raw(client: Any, graph: dict[str, Any]) -> tuple[float, list[Any]]:
    """Submit ``graph`` holding a future per key, as daskflow does; seconds until all finish.

    The futures are returned (finished) for workloads that read results.
    """
    from distributed import wait

    keys = list(graph)
    t0 = time.perf_counter()
    futures = client.get(graph, keys, sync=False)
    wait(futures)
    elapsed = time.perf_counter() - t0
    failed = [f.key for f in futures if f.status != "finished"]
    if failed:
        raise RuntimeError(f"raw Dask graph: {len(failed)} of {len(keys)} keys did not finish, "
                           f"e.g. {failed[0]!r}")
    return elapsed, futures


def run_daskflow(client: Any, dag: Any, db: str, logical_date: dt.datetime
                 ) -> tuple[float, Any]:
    """One ``dag.test`` on ``client`` recorded in ``db``: seconds, and its ``RunResult``."""
    t0 = time.perf_counter()
    result = dag.test(logical_date=logical_date, cluster=client, db=db)
    elapsed = time.perf_counter() - t0
    if not result.succeeded:
        failed = sorted(name for name, t in result.tasks.items() if t.state != "success")
        raise RuntimeError(f"benchmark DAG {dag.dag_id} ended {result.state}; "
                           f"tasks not successful: {failed[:5]}")
    return elapsed, result
