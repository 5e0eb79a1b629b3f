"""The Dask scheduler restarts under a running loop: the loop resubmits what is unfinished."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timezone

import pytest
from distributed import Client

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store import Store


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _process(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_the_loop_resubmits_after_the_dask_scheduler_restarts(tmp_path, db_url):
    journal = tmp_path / "journal"
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "slow_chain.py").write_text(textwrap.dedent(f'''
        from daskflow import DAG
        from daskflow.operators import PythonOperator

        def step(name):
            import time
            time.sleep(0.5)
            with open({str(journal)!r}, "a") as f:
                f.write(name + "\\n")

        with DAG("slow_chain"):
            previous = None
            for i in range(8):
                task = PythonOperator(task_id=f"s{{i}}", python_callable=step,
                                      op_args=[f"s{{i}}"])
                if previous is not None:
                    previous >> task
                previous = task
    '''))
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler_args = ("distributed.cli.dask_scheduler", "--port", str(port),
                      "--dashboard-address", ":0")
    worker_args = ("distributed.cli.dask_worker", address, "--nthreads", "1",
                   "--dashboard-address", ":0")
    processes = [_process(*scheduler_args)]
    processes.append(_process(*worker_args))
    store = Store(db_url)
    store.init()
    client = Client(address, timeout=30)
    client.wait_for_workers(1, timeout=60)
    loop = SchedulerLoop(DagFolder(folder, store), store, client,
                         results_url=str(tmp_path / "results"), heartbeat_interval=0.5)
    try:
        loop.folder.refresh()
        now = datetime.now(timezone.utc)
        store.create_dag_run("slow_chain", "r1", now, now, now, "manual", {}, state="queued")
        deadline = time.monotonic() + 60
        while not (journal.exists() and len(journal.read_text().split()) >= 2):
            assert time.monotonic() < deadline
            loop.tick(utcnow())
            loop.step(0.1)
        processes[0].kill()
        processes[0].wait()
        time.sleep(1)
        processes.append(_process(*scheduler_args))
        processes.append(_process(*worker_args))
        deadline = time.monotonic() + 120
        while store.get_dag_run("slow_chain", "r1").state != "success":
            assert time.monotonic() < deadline, "the run did not finish after the restart"
            loop.tick(utcnow())
            loop.step(0.1)
    finally:
        loop.shutdown()
        client.close()
        for proc in processes:
            proc.kill()
            proc.wait()
    runs = Counter(journal.read_text().split())
    assert set(runs) == {f"s{i}" for i in range(8)}
    assert sum(n - 1 for n in runs.values()) <= 1  # only the task in flight may repeat
