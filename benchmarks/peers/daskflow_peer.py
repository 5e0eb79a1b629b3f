"""The peer workloads on daskflow: ``dag.test`` on an embedded LocalCluster.

Runs in the environment of the daskflow checkout (``run_peers.py`` starts it
with ``PYTHONPATH`` at the repository root). One ``LocalCluster`` of 2
worker processes x 4 threads (8 threads, the peers' parallelism) serves
every run; starting it is timed once and reported as its own row.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def build(workload: str):
    """The workload as a daskflow DAG: Airflow's authoring API, daskflow's imports."""
    from daskflow import DAG
    from daskflow.operators.empty import EmptyOperator
    from daskflow.operators.python import PythonOperator

    with DAG("peer_" + workload.replace("-", "_"), schedule=None, start_date=START) as dag:
        if workload == "noop":
            EmptyOperator(task_id="noop")
        elif workload == "chain":
            previous = None
            for i in range(common.CHAIN):
                op = EmptyOperator(task_id=f"t{i}")
                if previous is not None:
                    previous >> op
                previous = op
        elif workload == "fan-out":
            root = EmptyOperator(task_id="root")
            root >> [EmptyOperator(task_id=f"t{i}") for i in range(common.FAN)]
        elif workload == "sleep":
            for i in range(common.SLEEPS):
                PythonOperator(task_id=f"sleep{i}", python_callable=common.nap)
        elif workload == "cpu":
            for i in range(common.CPUS):
                PythonOperator(task_id=f"cpu{i}", python_callable=common.spin)
        elif workload == "retry":
            PythonOperator(task_id="flaky", python_callable=common.flaky,
                           retries=common.RETRIES,
                           retry_delay=dt.timedelta(seconds=common.RETRY_DELAY_S))
    return dag


def main() -> None:
    import tempfile

    from distributed import Client, LocalCluster

    _, names, repeat = common.arguments()
    db = f"sqlite:///{tempfile.mkdtemp(prefix='daskflow-peer-')}/peer.db"
    days = iter(START + dt.timedelta(days=i) for i in range(1, 100_000))
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=4, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        started = time.perf_counter() - t0
        print(common.json.dumps({"peer": "daskflow", "mode": "dag.test", "workload": "start-up",
                                 "runs": [round(started, 4)], "ok": True,
                                 "note": "LocalCluster(2 processes x 4 threads), once"}),
              flush=True)
        for name in names:
            dag = build(name)
            common.measure("daskflow", "dag.test", name,
                           lambda d=dag: d.test(logical_date=next(days), cluster=client,
                                                db=db).succeeded, repeat,
                           note="on a running LocalCluster, 8 threads")


if __name__ == "__main__":
    main()
