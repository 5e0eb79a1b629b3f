"""Deferrable sensors: what a thousand waiting triggers cost the loop, and how soon they wake.

One run of a DAG with ``--sensors`` ``DateTimeSensorAsync`` sensors, each
followed by a task that journals when it starts, driven by ``dag.test`` on
SQLite against a cluster of separate processes (``dask scheduler`` and
``dask worker`` with 2 workers x 1 thread), so that this process is the
loop alone: the runner, its Dask client and the triggerer's event loop.

- **idle CPU**: once every sensor is ``deferred`` (each one's moment is still
  ahead), this process's CPU time over ``--idle`` seconds of wall time.
  Target: under 5% of one core.
- **wake-up latency**: the moments are spread over ``--spread`` seconds
  (60: 33 task starts a second; 10 saturates 2 worker threads with 200);
  latency = the downstream task's start - its sensor's moment (the instant
  its condition became true). Target: p99 under 1 s.

Each figure is the median of ``--repeat`` runs with its spread and the load
average. Nothing is written.

    PYTHONPATH=. python benchmarks/deferrable.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cloudpickle
from distributed import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._loopbench import ExternalCluster, percentile  # noqa: E402
from daskflow import DAG  # noqa: E402
from daskflow.operators import PythonOperator  # noqa: E402
from daskflow.sensors import DateTimeSensorAsync  # noqa: E402
from daskflow.store import Store, StoreError  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def journal_start(journal: str, name: str) -> None:
    with open(journal, "a") as f:
        f.write(f"{name} {time.time()}\n")


def _count_deferred(db: str, dag_id: str) -> int:
    try:
        runs = Store(db).list_dag_runs(dag_id)
    except StoreError:  # dag.test has not created the tables yet
        return 0
    if not runs:
        return 0
    return sum(t.state == "deferred" for t in Store(db).list_task_instances(dag_id,
                                                                            runs[0].run_id))


def one_run(address: str, sensors: int, idle: float, spread: float, lead: float
            ) -> tuple[float, list[float]]:
    """(idle CPU share of this process, latencies in seconds) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        db, journal = f"sqlite:///{tmp}/bench.db", f"{tmp}/journal"
        first = datetime.now(timezone.utc) + timedelta(seconds=lead)
        moments = {f"s{i:04d}": first + timedelta(seconds=spread * i / sensors)
                   for i in range(sensors)}
        with DAG("deferrable_bench", schedule=None) as dag:
            for name, moment in moments.items():
                DateTimeSensorAsync(task_id=name, target_time=moment) >> PythonOperator(
                    task_id=f"after_{name}", python_callable=journal_start,
                    op_args=[journal, name])
        cpu: list[float] = []

        def measure_idle() -> None:
            deadline = time.monotonic() + lead
            while _count_deferred(db, "deferrable_bench") < sensors:
                if time.monotonic() > deadline:
                    raise RuntimeError("the sensors did not all defer before their moments; "
                                       "raise --lead")
                time.sleep(0.5)
            left = (first - datetime.now(timezone.utc)).total_seconds()
            if left < idle + 0.5:
                raise RuntimeError(f"only {left:.1f}s left before the first moment; "
                                   "raise --lead")
            before = resource.getrusage(resource.RUSAGE_SELF)
            started = time.monotonic()
            time.sleep(idle)
            after = resource.getrusage(resource.RUSAGE_SELF)
            used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            cpu.append(used / (time.monotonic() - started))

        watcher = threading.Thread(target=measure_idle, daemon=True)
        with Client(address) as client:
            watcher.start()
            result = dag.test(cluster=client, db=db)
        watcher.join()
        if result.state != "success" or not cpu:
            raise RuntimeError(f"the run ended {result.state}; idle measured: {bool(cpu)}")
        starts = {name: float(at) for name, at in
                  (line.split() for line in Path(journal).read_text().splitlines())}
        return cpu[0], [starts[name] - moments[name].timestamp() for name in moments]


def _spread(values: list[float], digits: int = 2) -> str:
    return (f"{statistics.median(values):.{digits}f} (min {min(values):.{digits}f}, "
            f"max {max(values):.{digits}f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run that checks it works")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sensors", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=10.0,
                        help="seconds of wall time over which idle CPU is measured")
    parser.add_argument("--spread", type=float, default=60.0,
                        help="seconds over which the sensors' moments are spread")
    parser.add_argument("--lead", type=float, default=90.0,
                        help="seconds from the run's start to the first moment")
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.sensors, args.idle, args.spread, args.lead = 1, 20, 1.0, 1.0, 20.0
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory() as folder, ExternalCluster(Path(folder)) as cluster:
        cpus, p50s, p99s, everything = [], [], [], []
        for _ in range(args.repeat):
            cpu, latencies = one_run(cluster.address, args.sensors, args.idle, args.spread,
                                     args.lead)
            cpus.append(100 * cpu)
            p50s.append(statistics.median(latencies))
            p99s.append(percentile(latencies, 99))
            everything.extend(latencies)
    load_after = "/".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Load average before / after: {load_before} ; {load_after}")
    print(f"Cluster: dask scheduler + dask worker (2 workers x 1 thread), separate processes; "
          f"{args.sensors} DateTimeSensorAsync sensors per run; {args.repeat} runs.\n")
    print("| figure | median of runs (spread) | target | met? |")
    print("|---|---|---|---|")
    cpu = statistics.median(cpus)
    print(f"| loop process CPU while all {args.sensors} wait, % of one core | "
          f"{_spread(cpus, 1)} | < 5 | {'yes' if cpu < 5 else 'no'} |")
    print(f"| moment -> downstream start, median (s) | {_spread(p50s)} | - | - |")
    p99 = statistics.median(p99s)
    print(f"| moment -> downstream start, p99 (s) | {_spread(p99s)} | < 1 | "
          f"{'yes' if p99 < 1 else 'no'} |")
    print(f"| the same, max over all {len(everything)} (s) | {max(everything):.2f} | - | - |")


if __name__ == "__main__":
    main()
