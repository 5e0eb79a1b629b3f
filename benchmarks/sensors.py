"""Sensors in reschedule mode: how soon they notice, and what their waiting costs others.

Two measurements on a LocalCluster of 2 worker processes x 1 thread, through
``dag.test`` on SQLite (so the run is driven by the same runner as a loop's):

- **latency**: ``--pairs`` FileSensors (``mode="reschedule"``,
  ``poke_interval=1``), each followed by a task that journals when it starts.
  Once every sensor is waiting, the script creates their files one by one,
  ``--gap`` seconds apart, in random order. Latency = downstream start - file
  created. Target: the median within ``poke_interval`` + 0.5 s.
- **crowd**: ``--sensors`` reschedule-mode sensors wait (``poke_interval``
  ``--crowd-interval``) for a file that appears only after ``--tasks``
  ordinary tasks (``--work`` s each) have all finished. The time those tasks
  take is compared with the same tasks alone. Target: the sensors delay them
  by no more than the tasks' own run time (ratio <= 2).

Each figure is the median of ``--repeat`` runs, printed with its spread and
the load average. Nothing is written.

    PYTHONPATH=. python benchmarks/sensors.py [--quick] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cloudpickle
from distributed import Client, LocalCluster

from daskflow import DAG
from daskflow.operators import PythonOperator
from daskflow.sensors import FileSensor, PythonSensor
from daskflow.store import Store, StoreError

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def journal_start(journal: str, name: str, work: float = 0.0) -> None:
    with open(journal, "a") as f:
        f.write(f"{name} {time.time()}\n")
    if work:
        time.sleep(work)


def exists(path: str) -> bool:
    return os.path.exists(path)


def _starts(journal: Path) -> dict[str, float]:
    return {name: float(at) for name, at in
            (line.split() for line in journal.read_text().splitlines())}


def _wait_until_waiting(db: str, dag_id: str, count: int, timeout: float = 300) -> None:
    store = Store(db)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            runs = store.list_dag_runs(dag_id)
        except StoreError:  # dag.test has not created the tables yet
            runs = []
        if runs:
            waiting = [t for t in store.list_task_instances(dag_id, runs[0].run_id)
                       if t.state == "up_for_reschedule"]
            if len(waiting) >= count:
                return
        time.sleep(0.2)
    raise RuntimeError(f"only some of the {count} sensors of {dag_id} started waiting")


def latency(client: Client, pairs: int, gap: float, seed: int) -> list[float]:
    with tempfile.TemporaryDirectory() as tmp:
        root, db = Path(tmp), f"sqlite:///{tmp}/bench.db"
        journal = root / "journal"
        with DAG("sensor_latency") as dag:
            for i in range(pairs):
                FileSensor(task_id=f"wait{i}", filepath=str(root / f"file{i}"),
                           mode="reschedule", poke_interval=1, timeout=600) >> PythonOperator(
                    task_id=f"after{i}", python_callable=journal_start,
                    op_args=[str(journal), f"after{i}"])
        created: dict[str, float] = {}

        def create_files() -> None:
            _wait_until_waiting(db, "sensor_latency", pairs)
            order = list(range(pairs))
            random.Random(seed).shuffle(order)
            for i in order:
                time.sleep(gap)
                (root / f"file{i}").write_text("")
                created[f"after{i}"] = time.time()

        maker = threading.Thread(target=create_files, daemon=True)
        maker.start()
        result = dag.test(cluster=client, db=db)
        maker.join()
        if result.state != "success":
            raise RuntimeError(f"the latency run ended {result.state}")
        started = _starts(journal)
        return [started[name] - at for name, at in created.items()]


def crowd(client: Client, sensors: int, tasks: int, work: float, interval: float
          ) -> tuple[float, float]:
    """Seconds the ordinary tasks take alone, and with the sensors waiting beside them."""
    def run(with_sensors: bool) -> float:
        with tempfile.TemporaryDirectory() as tmp:
            root, db = Path(tmp), f"sqlite:///{tmp}/bench.db"
            journal, release = root / "journal", root / "release"
            dag_id = "crowd" if with_sensors else "alone"
            with DAG(dag_id) as dag:
                for i in range(tasks):
                    PythonOperator(task_id=f"work{i}", python_callable=journal_start,
                                   op_args=[str(journal), f"work{i}", work])
                for i in range(sensors if with_sensors else 0):
                    PythonSensor(task_id=f"sensor{i}", python_callable=exists,
                                 op_args=[str(release)], mode="reschedule",
                                 poke_interval=interval, timeout=600, priority_weight=100)
            timing: dict[str, float] = {}

            def release_after_work() -> None:
                deadline = time.monotonic() + 600
                while time.monotonic() < deadline:
                    if journal.exists() and len(journal.read_text().splitlines()) >= tasks:
                        break
                    time.sleep(0.05)
                time.sleep(work)  # the last task's own work
                timing["work_done"] = time.time()
                release.write_text("")

            watcher = threading.Thread(target=release_after_work, daemon=True)
            watcher.start()
            timing["start"] = time.time()
            result = dag.test(cluster=client, db=db)
            watcher.join()
            if result.state != "success":
                raise RuntimeError(f"the crowd run ended {result.state}")
            first = min(_starts(journal).values())
            return timing["work_done"] - min(first, timing["start"])

    return run(False), run(True)


def _spread(values: list[float]) -> str:
    return (f"{statistics.median(values):.2f} (min {min(values):.2f}, "
            f"max {max(values):.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a small run that checks it works")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=50)
    parser.add_argument("--gap", type=float, default=0.3)
    parser.add_argument("--sensors", type=int, default=500)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--work", type=float, default=0.1)
    parser.add_argument("--crowd-interval", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.quick:
        args.repeat, args.pairs, args.sensors, args.tasks = 1, 5, 20, 10
    load_before = "/".join(f"{x:.1f}" for x in os.getloadavg())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        latencies, medians = [], []
        for r in range(args.repeat):
            found = latency(client, args.pairs, args.gap, args.seed + r)
            latencies.extend(found)
            medians.append(statistics.median(found))
        alone, together = [], []
        for _ in range(args.repeat):
            a, t = crowd(client, args.sensors, args.tasks, args.work, args.crowd_interval)
            alone.append(a)
            together.append(t)
    load_after = "/".join(f"{x:.1f}" for x in os.getloadavg())
    ratios = [t / a for a, t in zip(alone, together, strict=True)]
    print(f"Load average before / after: {load_before} ; {load_after}")
    print(f"Cluster: LocalCluster(2 workers x 1 thread); {args.repeat} runs per figure.\n")
    print("| figure | median of runs (spread) | target | met? |")
    print("|---|---|---|---|")
    latency_median = statistics.median(medians)
    print(f"| FileSensor (reschedule, poke_interval=1): file created -> downstream starts, "
          f"median of {args.pairs} per run (s) | {_spread(medians)} | <= 1.5 | "
          f"{'yes' if latency_median <= 1.5 else 'no'} |")
    print(f"| the same, p90 over all {len(latencies)} (s) | "
          f"{sorted(latencies)[int(0.9 * (len(latencies) - 1))]:.2f} | - | - |")
    print(f"| {args.tasks} tasks of {args.work:g} s alone (s) | {_spread(alone)} | - | - |")
    print(f"| the same with {args.sensors} reschedule-mode sensors waiting (s) | "
          f"{_spread(together)} | - | - |")
    print(f"| ratio with / alone | {_spread(ratios)} | <= 2 | "
          f"{'yes' if statistics.median(ratios) <= 2 else 'no'} |")


if __name__ == "__main__":
    main()
