"""Retry delays hold no worker thread: 50 tasks fail once, retry after 2 s, on 2 threads.

If each delay held a thread, 50 delays of 2 s on 2 threads would take about
50 s. daskflow waits them out in the loop (docs/concepts.md), so the run
takes about one delay plus the work.

    python benchmarks/retry_delay.py [--tasks 50] [--delay 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta

import cloudpickle
from distributed import Client, LocalCluster

from daskflow import DAG
from daskflow.operators import PythonOperator

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def fail_once(flag_dir: str, name: str) -> str:
    flag = os.path.join(flag_dir, name)
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("first attempt fails")
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--delay", type=float, default=2.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, Client(cluster) as client:
        with DAG("retry_delay_bench") as dag:
            for i in range(args.tasks):
                PythonOperator(task_id=f"t{i}", python_callable=fail_once, op_args=[tmp, f"t{i}"],
                               retries=1, retry_delay=timedelta(seconds=args.delay))
        started = time.perf_counter()
        result = dag.test(cluster=client, db=f"sqlite:///{tmp}/bench.db")
        elapsed = time.perf_counter() - started
    tries = sorted({t.try_number for t in result.tasks.values()})
    print("| tasks | threads | retry_delay (s) | run state | try numbers | wall time (s) | "
          "if delays held threads (s) |")
    print("|---:|---:|---:|---|---|---:|---:|")
    print(f"| {args.tasks} | 2 | {args.delay:g} | {result.state} | {tries} | {elapsed:.2f} | "
          f"~{args.tasks * args.delay / 2:.0f} |")


if __name__ == "__main__":
    main()
