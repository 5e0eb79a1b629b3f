"""The workloads of ``daskflow bench``: each runs on one client and returns result records.

Every workload alternates plain Dask and daskflow within each repeat, so a
busy moment on the machine hits both sides, and returns one record per case
with the figures of both and, where there is a pair, their ratio. A record
is a plain dict (it goes straight into the JSON file); its common fields are
made by :func:`record`. Speed-up across cluster sizes is added afterwards by
``suite.py``, which alone sees every size.

- ``overhead``: no-op tasks in a chain, a fan-out/in and independent, so the
  time is all orchestration: per-task cost of each side and the ratio;
- ``lag``: from an upstream task's end to its downstream's start along a
  chain, from the store's recorded times (daskflow) and the tasks' own clocks
  (Dask);
- ``cpu``: pure-Python tasks that only more worker processes speed up;
- ``io``: sleeping tasks that only more threads speed up, on a cluster with
  ``io_threads`` threads in all;
- ``handoff``: an array passed along a chain, with the metadata database's
  size and its largest XCom copy before and after, to show the data never
  went there;
- ``memory``: the resident memory of this process (the loop, and the Dask
  scheduler of an embedded cluster) while a wide run goes on.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from daskflow.bench import shapes, tasks
from daskflow.bench.machine import load_average
from daskflow.bench.timing import percentile, run_daskflow, run_raw, summarize


@dataclass(frozen=True)
class Scale:
    """How big each workload is; ``FULL`` is the issue's suite, ``QUICK`` a smoke test."""

    chain: int
    fan: int
    independent: int
    lag_chain: int
    cpu_tasks: int
    cpu_seconds: float
    io_tasks: int
    io_seconds: float
    io_threads: int
    handoff_megabytes: float
    handoff_hops: int
    memory_tasks: int


FULL = Scale(chain=200, fan=1000, independent=5000, lag_chain=200, cpu_tasks=32,
             cpu_seconds=0.5, io_tasks=256, io_seconds=0.2, io_threads=64,
             handoff_megabytes=100, handoff_hops=2, memory_tasks=5000)
QUICK = Scale(chain=20, fan=50, independent=100, lag_chain=20, cpu_tasks=4, cpu_seconds=0.05,
              io_tasks=16, io_seconds=0.05, io_threads=8, handoff_megabytes=2, handoff_hops=1,
              memory_tasks=200)


@dataclass
class Bench:
    """What a workload runs with: one client, the store, the size and the scale."""

    client: Any
    db: str
    results_dir: Path | None
    workers: int
    threads: int
    repeat: int
    scale: Scale
    spin_loops: int
    dates: Iterator[Any]
    tick: Callable[[str], None]


def record(bench: Bench, workload: str, case: str, tasks_run: int, load_before: list[float],
           **figures: Any) -> dict[str, Any]:
    """The fields every result carries, then the workload's own figures."""
    return {"workload": workload, "case": case, "workers": bench.workers,
            "threads": bench.threads, "tasks": tasks_run, "repeat": bench.repeat,
            "load_before": load_before, "load_after": load_average(), **figures}


def _pair(bench: Bench, label: str, raw: Callable[[str], Any], flow: Callable[[], Any]
          ) -> tuple[list[float], list[float], list[Any]]:
    """``repeat`` rounds of one raw run then one daskflow run; their seconds, and results."""
    dask_s, flow_s, results = [], [], []
    for i in range(bench.repeat):
        seconds, futures = run_raw(bench.client, raw(f"r{i}x{time.time_ns()}"))
        dask_s.append(seconds)
        del futures
        bench.tick(f"{label} dask")
        seconds, result = flow()
        flow_s.append(seconds)
        results.append(result)
        bench.tick(f"{label} daskflow")
    return dask_s, flow_s, results


def _flow(bench: Bench, dag: Any) -> Callable[[], Any]:
    return lambda: run_daskflow(bench.client, dag, bench.db, next(bench.dates))


def _compared(dask_s: list[float], flow_s: list[float], count: int) -> dict[str, Any]:
    dask, flow = summarize(dask_s), summarize(flow_s)
    return {"dask_s": dask, "daskflow_s": flow, "ratio": flow["median"] / dask["median"],
            "dask_per_task_us": dask["median"] / count * 1e6,
            "daskflow_per_task_us": flow["median"] / count * 1e6,
            "overhead_per_task_us": (flow["median"] - dask["median"]) / count * 1e6}


# -- the workloads -----------------------------------------------------------------------
def overhead(bench: Bench) -> list[dict[str, Any]]:
    s = bench.scale
    cases = {
        "chain": (s.chain, lambda t: shapes.raw_chain(s.chain, t, tasks.noop),
                  shapes.daskflow_chain(s.chain, "bench_chain")),
        "fan-out/in": (s.fan + 2, lambda t: shapes.raw_fan(s.fan, t),
                       shapes.daskflow_fan(s.fan, "bench_fan")),
        "independent": (s.independent, lambda t: shapes.raw_independent(s.independent, t),
                        shapes.daskflow_independent(s.independent, "bench_independent")),
    }
    out = []
    for case, (count, raw, dag) in cases.items():
        load = load_average()
        dask_s, flow_s, _ = _pair(bench, case, raw, _flow(bench, dag))
        out.append(record(bench, "overhead", case, count, load,
                          **_compared(dask_s, flow_s, count)))
    return out


def lag(bench: Bench) -> list[dict[str, Any]]:
    from daskflow.store import Store

    length = bench.scale.lag_chain
    dag = shapes.daskflow_chain(length, "bench_lag")
    load = load_average()
    dask_lags: list[float] = []
    flow_lags: list[float] = []
    for i in range(bench.repeat):
        _, futures = run_raw(bench.client, shapes.raw_chain(length, f"l{i}x{time.time_ns()}",
                                                            tasks.stamped))
        stamps = bench.client.gather(futures)
        dask_lags += [stamps[j + 1][0] - stamps[j][1] for j in range(length - 1)]
        bench.tick("lag dask")
        _, result = run_daskflow(bench.client, dag, bench.db, next(bench.dates))
        with Store(bench.db) as store:
            times = {ti.task_id: (ti.start_date, ti.end_date)
                     for ti in store.list_task_instances(dag.dag_id, result.run_id)}
        hops = [(times.get(f"t{j}", (None, None))[1], times.get(f"t{j + 1}", (None, None))[0])
                for j in range(length - 1)]
        if any(end is None or start is None for end, start in hops):
            raise RuntimeError(f"run {result.run_id} of {dag.dag_id}: the store lacks a start "
                               "or end time of a chain task, so its lag cannot be measured")
        flow_lags += [(start - end).total_seconds() for end, start in hops]
        bench.tick("lag daskflow")
    return [record(bench, "lag", "chain", length, load,
                   dask_lag_ms=_lag_summary(dask_lags), daskflow_lag_ms=_lag_summary(flow_lags),
                   source="daskflow: start/end times in the store; dask: the tasks' clocks")]


def _lag_summary(seconds: list[float]) -> dict[str, float]:
    ms = [x * 1000 for x in seconds]
    return {"median": percentile(ms, 50), "p99": percentile(ms, 99), "max": max(ms),
            "n": len(ms)}


def cpu(bench: Bench) -> list[dict[str, Any]]:
    s = bench.scale
    dag = shapes.daskflow_independent(s.cpu_tasks, "bench_cpu", tasks.spin, bench.spin_loops)
    load = load_average()
    dask_s, flow_s, _ = _pair(
        bench, "cpu", lambda t: shapes.raw_independent(s.cpu_tasks, t, tasks.spin,
                                                       bench.spin_loops), _flow(bench, dag))
    return [record(bench, "cpu", f"{s.cpu_tasks} x {s.cpu_seconds:g} s", s.cpu_tasks, load,
                   work_s=s.cpu_tasks * s.cpu_seconds, spin_loops=bench.spin_loops,
                   **_compared(dask_s, flow_s, s.cpu_tasks))]


def io(bench: Bench) -> list[dict[str, Any]]:
    s = bench.scale
    dag = shapes.daskflow_independent(s.io_tasks, "bench_io", tasks.nap, s.io_seconds)
    load = load_average()
    dask_s, flow_s, _ = _pair(
        bench, "io", lambda t: shapes.raw_independent(s.io_tasks, t, tasks.nap, s.io_seconds),
        _flow(bench, dag))
    ideal = s.io_tasks * s.io_seconds / bench.threads
    return [record(bench, "io", f"{s.io_tasks} x sleep {s.io_seconds:g} s", s.io_tasks, load,
                   ideal_s=ideal, **_compared(dask_s, flow_s, s.io_tasks))]


def handoff(bench: Bench) -> list[dict[str, Any]]:
    from daskflow.store import Store

    if find_spec("numpy") is None:
        raise RuntimeError("the handoff workload passes a numpy array: install numpy "
                           "(pip install 'daskflow[bench]') or leave it out with --only")
    s = bench.scale
    dag = shapes.daskflow_handoff(s.handoff_hops, s.handoff_megabytes, "bench_handoff")
    db_before, results_before = _db_bytes(bench.db), _folder_bytes(bench.results_dir)
    load = load_average()
    dask_s, flow_s, results = _pair(
        bench, "handoff",
        lambda t: shapes.raw_handoff(s.handoff_hops, s.handoff_megabytes, t), _flow(bench, dag))
    xcom_sizes = []
    with Store(bench.db) as store:
        for result in results:
            xcom_sizes += [len(json.dumps(x.value, default=str))
                           for x in store.list_xcoms(dag.dag_id, result.run_id)]
    count = s.handoff_hops + 2
    array_bytes = int(s.handoff_megabytes * 2**20) // 8 * 8
    db_after, results_after = _db_bytes(bench.db), _folder_bytes(bench.results_dir)
    proof = {"array_bytes": array_bytes, "runs": bench.repeat,
             "db_bytes_before": db_before, "db_bytes_after": db_after,
             "db_growth_bytes": db_after - db_before,
             "xcom_rows": len(xcom_sizes), "largest_xcom_bytes": max(xcom_sizes, default=0),
             "result_store_growth_bytes": (None if results_before is None
                                           else results_after - results_before),
             "array_in_db": (db_after - db_before) >= array_bytes
             or max(xcom_sizes, default=0) >= array_bytes}
    return [record(bench, "handoff", f"{s.handoff_megabytes:g} MiB along {count} tasks",
                   count, load, database=proof, **_compared(dask_s, flow_s, count))]


def _db_bytes(url: str) -> int | None:
    """Size of a SQLite store with its WAL and journal; ``None`` for a server database."""
    if not url.startswith("sqlite:///"):
        return None
    path = Path(url.removeprefix("sqlite:///"))
    files = [path, Path(f"{path}-wal"), Path(f"{path}-journal")]
    return sum(p.stat().st_size for p in files if p.exists())


def _folder_bytes(folder: Path | None) -> int | None:
    if folder is None:
        return None
    if not folder.exists():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def memory(bench: Bench) -> list[dict[str, Any]]:
    count = bench.scale.memory_tasks
    dag = shapes.daskflow_independent(count, "bench_memory")
    load = load_average()
    baselines, peaks, seconds = [], [], []
    for _ in range(bench.repeat):
        with RssSampler() as sampler:
            elapsed, _ = run_daskflow(bench.client, dag, bench.db, next(bench.dates))
        baselines.append(sampler.baseline / 2**20)
        peaks.append(sampler.peak / 2**20)
        seconds.append(elapsed)
        bench.tick("memory daskflow")
    growth = [p - b for p, b in zip(peaks, baselines, strict=True)]
    return [record(bench, "memory", f"{count} independent", count, load,
                   baseline_mib=summarize(baselines), peak_mib=summarize(peaks),
                   growth_mib=summarize(growth), daskflow_s=summarize(seconds),
                   process="this process: the run's driver and, on an embedded cluster, "
                           "the Dask scheduler (workers too with --threads)")]


class RssSampler:
    """Samples this process's resident memory every ``interval`` s in a thread; keeps the peak."""

    def __init__(self, interval: float = 0.01) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True,
                                        name="daskflow-bench-rss")

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


@dataclass(frozen=True)
class Workload:
    """A workload's name, its function, how many progress steps it takes, and its cluster."""

    name: str
    run: Callable[[Bench], list[dict[str, Any]]]
    steps_per_repeat: int
    io_cluster: bool = False


WORKLOADS = {w.name: w for w in (
    Workload("overhead", overhead, 6),
    Workload("lag", lag, 2),
    Workload("cpu", cpu, 2),
    Workload("io", io, 2, io_cluster=True),
    Workload("handoff", handoff, 2),
    Workload("memory", memory, 1),
)}
