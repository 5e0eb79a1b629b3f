"""The whole suite: each workload at each cluster size, and one JSON document of it all.

One process drives everything: for each size it starts an embedded
``LocalCluster`` (or, with ``cluster``, uses an existing one once), warms
it up, runs the workloads on it, and closes it. The I/O workload gets a
cluster of its own with ``io_threads`` threads in all, since what it
measures is how many sleeps can overlap. The store and the result store
live in the work folder, never in the user's ``~/daskflow``.

Speed-up is only defined across sizes, so it is added here, after the
last size: ``T(smallest size) / T(size)`` for each side, and parallel
efficiency as that speed-up over the growth in workers.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from daskflow.bench import shapes, tasks
from daskflow.bench.machine import describe_machine, load_average
from daskflow.bench.timing import logical_dates, run_daskflow, run_raw
from daskflow.bench.workloads import FULL, QUICK, WORKLOADS, Bench

#: Names the layout of the JSON document; change it when a field changes meaning.
SCHEMA = "daskflow-bench/1"
#: Workloads whose time should fall as workers are added.
SCALING = ("cpu", "io")


@dataclass(frozen=True)
class Settings:
    """What ``daskflow bench`` was asked to do."""

    sizes: tuple[int, ...] = (1, 2, 4)
    threads_per_worker: int = 1
    processes: bool = True
    cluster: str | None = None
    quick: bool = False
    repeat: int = 3
    workloads: tuple[str, ...] = tuple(WORKLOADS)
    command: list[str] = field(default_factory=lambda: list(sys.argv))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.workloads) - set(WORKLOADS))
        if unknown:
            raise ValueError(f"unknown workloads {unknown}; choose from {sorted(WORKLOADS)}")
        if not self.sizes or min(self.sizes) < 1 or self.repeat < 1:
            raise ValueError("sizes and repeat must be positive")

    @property
    def scale(self) -> Any:
        return QUICK if self.quick else FULL

    def cluster_sizes(self) -> list[int | None]:
        """The worker counts to start; ``[None]`` means the existing cluster, as it is."""
        return [None] if self.cluster else list(self.sizes)


def total_steps(settings: Settings) -> int:
    """How many measured runs the suite makes, for a progress bar."""
    per_size = sum(WORKLOADS[name].steps_per_repeat for name in settings.workloads)
    return per_size * settings.repeat * len(settings.cluster_sizes())


def run_suite(settings: Settings, workdir: Path,
              progress: Callable[[str], None] = lambda label: None,
              checkpoint: Callable[[list[dict[str, Any]]], None] = lambda records: None
              ) -> dict[str, Any]:
    """Run every chosen workload at every size; the report as a JSON-ready dict.

    ``workdir`` holds the runs' SQLite store and result store: scratch space,
    which the caller removes (``daskflow bench`` uses a temporary folder).
    ``checkpoint`` gets every record so far after each workload, so a long
    suite that is interrupted still leaves what it measured.
    """
    import dask

    from daskflow import config

    workdir.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.timezone.utc)
    machine = describe_machine()
    scale = settings.scale
    spin_loops = tasks.calibrate_spin(scale.cpu_seconds)
    db = f"sqlite:///{workdir / 'bench.db'}"
    records: list[dict[str, Any]] = []
    dates = logical_dates()
    with dask.config.set({"daskflow.results-url": str(workdir / "results")}):
        url = config.results_url()
        results_dir = None if "://" in url else Path(url)
        for size in settings.cluster_sizes():
            def bench_on(client: Any) -> Bench:
                workers, threads = cluster_shape(client)
                return Bench(client=client, db=db, results_dir=results_dir, workers=workers,
                             threads=threads, repeat=settings.repeat, scale=scale,
                             spin_loops=spin_loops, dates=dates, tick=progress)

            main = [n for n in settings.workloads if not WORKLOADS[n].io_cluster]
            io = [n for n in settings.workloads if WORKLOADS[n].io_cluster]
            if main:
                with _client(settings, size, settings.threads_per_worker) as client:
                    bench = bench_on(client)
                    warm_up(bench)
                    for name in main:
                        records += _run_workload(name, bench)
                        checkpoint(records)
            if io:
                threads = max(1, scale.io_threads // (size or 1))
                with _client(settings, size, threads) as client:
                    bench = bench_on(client)
                    warm_up(bench)
                    for name in io:
                        records += _run_workload(name, bench)
                        checkpoint(records)
    add_scaling(records)
    machine["load_average_after"] = load_average()
    return {"schema": SCHEMA, "started": started.isoformat(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(),
            "machine": machine, "settings": {**asdict(settings), "scale": asdict(scale),
                                              "spin_loops": spin_loops},
            "results": records}


def _run_workload(name: str, bench: Bench) -> list[dict[str, Any]]:
    """The workload's records, or one record saying why it failed, so the suite goes on.

    A run can fail for reasons that are findings in themselves (on an
    overloaded machine a run's lease may expire); losing every other figure
    of a long suite to one of them would help nobody.
    """
    load = load_average()
    try:
        return WORKLOADS[name].run(bench)
    except RuntimeError as exc:
        return [{"workload": name, "case": "failed", "workers": bench.workers,
                 "threads": bench.threads, "tasks": 0, "repeat": bench.repeat,
                 "load_before": load, "load_after": load_average(), "error": str(exc)}]


def failures(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The records of workloads that failed instead of giving figures."""
    return [r for r in report["results"] if "error" in r]


def _client(settings: Settings, workers: int | None, threads_per_worker: int) -> Any:
    from daskflow.execution.cluster import connect

    if workers is None:
        return connect(settings.cluster)
    return connect(None, workers=workers, threads_per_worker=threads_per_worker,
                   processes=settings.processes)


def cluster_shape(client: Any) -> tuple[int, int]:
    """Workers and threads in all, as the scheduler sees them now."""
    info = client.scheduler_info(n_workers=-1)["workers"]
    return len(info), sum(w["nthreads"] for w in info.values())


def warm_up(bench: Bench) -> None:
    """One small run of each kind, so no measured run pays first imports on new workers."""
    run_raw(bench.client, shapes.raw_chain(4, f"warm{id(bench)}", tasks.noop))
    run_daskflow(bench.client, shapes.daskflow_chain(4, "bench_warm_up"), bench.db,
                 next(bench.dates))


def add_scaling(records: list[dict[str, Any]]) -> None:
    """Speed-up and parallel efficiency of each side against the smallest size measured."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rec in records:
        if rec["workload"] in SCALING and "error" not in rec:
            groups.setdefault((rec["workload"], rec["case"]), []).append(rec)
    for group in groups.values():
        base = min(group, key=lambda r: r["workers"])
        for rec in group:
            growth = rec["workers"] / base["workers"]
            rec["speedup_against_workers"] = base["workers"]
            for side in ("dask", "daskflow"):
                speedup = base[f"{side}_s"]["median"] / rec[f"{side}_s"]["median"]
                rec[f"{side}_speedup"] = speedup
                rec[f"{side}_efficiency"] = speedup / growth
