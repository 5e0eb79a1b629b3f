"""Worker deaths on a separately started cluster (`dask scheduler` + `dask worker`).

Two workers with different Dask resources pin tasks to them, so a test can
kill exactly the worker that holds a result or runs a task.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest
from distributed import Client

from daskflow import DAG
from daskflow.operators import PythonOperator
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.fixture(scope="module")
def two_worker_cluster(tmp_path_factory):
    """A scheduler and two nanny-managed workers: one offers resource A, one B.

    A killed worker is restarted by its nanny with the same resources.
    """
    scheduler_file = tmp_path_factory.mktemp("cluster") / "scheduler.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", "0",
         "--dashboard-address", ":0", "--scheduler-file", str(scheduler_file)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    _wait_for(scheduler_file.exists)
    for resource in ("A", "B"):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
             str(scheduler_file), "--nthreads", "1", "--resources", f"{resource}=1",
             "--name", resource, "--dashboard-address", ":0"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    client = Client(scheduler_file=str(scheduler_file), timeout=30)
    client.wait_for_workers(2, timeout=60)
    yield client
    client.close()
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_for(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def _count_and_return(counter: str) -> list[int]:
    with open(counter, "a") as f:
        f.write("x")
    return list(range(1000))


def _kill_worker_a(pid_file: str) -> str:
    # Runs on worker B once `produce` finished on A: give the loop time to record
    # that success (it marks recorded successes twice a second), then kill A.
    time.sleep(1.5)
    os.kill(int(Path(pid_file).read_text()), signal.SIGKILL)
    return "killed"


def _length(values) -> int:
    return len(values)


@pytest.mark.slow
def test_a_recorded_success_is_not_run_again_when_dask_recomputes_it(
        two_worker_cluster, tmp_path, monkeypatch):
    monkeypatch.setenv("DASKFLOW_RESULTS_URL", str(tmp_path / "results"))
    client = two_worker_cluster
    pid_file, counter = str(tmp_path / "pid_a"), str(tmp_path / "counter")
    workers = client.scheduler_info()["workers"]
    by_name = {info["name"]: addr for addr, info in workers.items()}
    Path(pid_file).write_text(str(client.run(os.getpid, workers=[by_name["A"]])[by_name["A"]]))

    with DAG("lost_result") as dag:
        produce = PythonOperator(task_id="produce", python_callable=_count_and_return,
                                 op_args=[counter], resources={"A": 1})
        killer = PythonOperator(task_id="killer", python_callable=_kill_worker_a,
                                op_args=[pid_file], resources={"B": 1})
        consume = PythonOperator(task_id="consume", python_callable=_length,
                                 op_args=[produce.output], resources={"B": 1})
        produce >> killer >> consume

    result = dag.test(cluster=client, db=f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert result.state == "success"
    assert {n: t.state for n, t in result.tasks.items()} == {
        "produce": "success", "killer": "success", "consume": "success"}
    # Dask had to compute `produce` again (its result died with worker A), but the
    # node replayed the stored outcome instead of running the user's code twice.
    assert Path(counter).read_text() == "x"


def _slow_on_a(marker: str) -> str:
    with open(marker, "a") as f:
        f.write("started\n")
    time.sleep(3)
    return "done"


def _kill_a_soon(pid_file: str, marker: str) -> str:
    while not os.path.exists(marker):
        time.sleep(0.05)
    # Past daskflow.start-report-delay: the try has been reported started (a worker dying
    # before that reruns the task in the same try, docs/reliability.md).
    time.sleep(0.6)
    os.kill(int(Path(pid_file).read_text()), signal.SIGKILL)
    return "killed"


@pytest.mark.slow
def test_a_task_on_a_killed_worker_fails_that_try_and_its_retry_completes_the_run(
        two_worker_cluster, tmp_path):
    client = two_worker_cluster
    client.wait_for_workers(2, timeout=60)
    workers = client.scheduler_info()["workers"]
    by_name = {info["name"]: addr for addr, info in workers.items()}
    pid_file, marker = str(tmp_path / "pid_a"), str(tmp_path / "marker")
    Path(pid_file).write_text(str(client.run(os.getpid, workers=[by_name["A"]])[by_name["A"]]))

    with DAG("killed_mid_task") as dag:
        slow = PythonOperator(task_id="slow", python_callable=_slow_on_a, op_args=[marker],
                              resources={"A": 1}, retries=1, retry_delay=0)
        PythonOperator(task_id="killer", python_callable=_kill_a_soon,
                       op_args=[pid_file, marker], resources={"B": 1})
        slow >> PythonOperator(task_id="after", python_callable=_length, op_args=["ab"])

    result = dag.test(cluster=client, db=f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert result.state == "success"
    assert result.tasks["slow"].state == "success" and result.tasks["after"].state == "success"
    # The attempt on the killed worker was try 1; Airflow's retry ran it on A's successor.
    assert result.tasks["slow"].try_number == 2
    assert Path(marker).read_text().count("started") == 2
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    first, second = store.list_attempts("killed_mid_task", result.run_id, "slow")
    assert first.state == "up_for_retry" and second.state == "success"
    assert first.error.startswith("KilledWorker: the worker running the task died")
    assert "killed by signal 9 (SIGKILL)" in first.error
    log = store.get_log("killed_mid_task", result.run_id, "slow", try_number=1)
    assert "killed by signal 9 (SIGKILL)" in log


def _hog_memory(marker: str) -> int:
    with open(marker, "a") as f:
        f.write("started\n")
    # Some work first: a worker dying in the very first instant of a task, before
    # its start report reached the scheduler, may run it again (docs/reliability.md).
    time.sleep(0.5)
    block = bytearray(900 * 2**20)
    for i in range(0, len(block), 4096):
        block[i] = 1
    time.sleep(30)
    return len(block)


@pytest.mark.slow
def test_a_task_killed_for_memory_fails_once_and_its_downstream_is_upstream_failed(tmp_path):
    from distributed import LocalCluster

    marker = str(tmp_path / "marker")
    with DAG("memory") as dag:
        hog = PythonOperator(task_id="hog", python_callable=_hog_memory, op_args=[marker])
        hog >> PythonOperator(task_id="after", python_callable=_length, op_args=["ab"])

    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="300MiB",
                      dashboard_address=":0", silence_logs=50) as cluster, \
            Client(cluster) as client:
        result = dag.test(cluster=client, db=f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert result.tasks["hog"].state == "failed"
    assert result.tasks["after"].state == "upstream_failed"
    assert Path(marker).read_text().count("started") == 1  # once per try, not four times
    error = result.tasks["hog"].error
    assert error.startswith("KilledWorker: the worker running the task died")
    assert "memory limit" in error


def _quick(marker: str, name: str) -> str:
    with open(marker, "a") as f:
        f.write(f"{name}\n")
    return name


@pytest.mark.slow
def test_tasks_only_queued_on_a_worker_killed_for_memory_run_elsewhere(tmp_path):
    from distributed import LocalCluster

    marker = str(tmp_path / "marker")
    with DAG("queued_behind") as dag:
        PythonOperator(task_id="hog", python_callable=_hog_memory, op_args=[marker],
                       priority_weight=100)
        for i in range(4):
            PythonOperator(task_id=f"small{i}", python_callable=_quick,
                           op_args=[marker, f"small{i}"])

    # One worker, one thread: the small tasks wait queued on the worker the hog kills.
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit="300MiB",
                      dashboard_address=":0", silence_logs=50) as cluster, \
            Client(cluster) as client:
        result = dag.test(cluster=client, db=f"sqlite:///{tmp_path / 'db.sqlite'}")

    states = {name: t.state for name, t in result.tasks.items()}
    assert states == {"hog": "failed", **{f"small{i}": "success" for i in range(4)}}
    assert all(result.tasks[f"small{i}"].try_number == 1 for i in range(4))


def _exit_worker(marker: str, name: str) -> None:
    with open(marker, "a") as f:
        f.write(f"{name}\n")
    time.sleep(0.5)  # past the first instant (see _hog_memory)
    os._exit(3)


@pytest.mark.slow
def test_a_task_re_run_below_a_crashed_upstream_that_crashes_too_is_heard(tmp_path):
    from distributed import LocalCluster

    marker = str(tmp_path / "marker")
    with DAG("crash_below_crash") as dag:
        first = PythonOperator(task_id="first", python_callable=_exit_worker,
                               op_args=[marker, "first"])
        second = PythonOperator(task_id="second", python_callable=_exit_worker,
                                op_args=[marker, "second"], trigger_rule="all_done")
        third = PythonOperator(task_id="third", python_callable=_quick,
                               op_args=[marker, "third"], trigger_rule="all_done")
        first >> second >> third

    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                      silence_logs=50) as cluster, Client(cluster) as client:
        result = dag.test(cluster=client, db=db)

    states = {name: t.state for name, t in result.tasks.items()}
    assert states == {"first": "failed", "second": "failed", "third": "success"}
    assert Path(marker).read_text().split() == ["first", "second", "third"]
    store = Store(db)
    for task_id in ("first", "second"):
        [attempt] = store.list_attempts("crash_below_crash", result.run_id, task_id)
        assert attempt.state == "failed"
        assert "exited with status 3" in attempt.error, attempt.error
    [attempt] = store.list_attempts("crash_below_crash", result.run_id, "third")
    assert attempt.state == "success"
