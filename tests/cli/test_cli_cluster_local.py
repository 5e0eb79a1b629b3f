"""``daskflow cluster local`` and ``daskflow cluster class`` as a user runs them.

Each starts the command in a terminal-like session of its own, reads the
address it prints, runs a DAG on the cluster from another command, and stops
it with Ctrl-C (SIGINT to the whole process group) or SIGTERM: the command
exits 0 and no process it started outlives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import urllib.request
from pathlib import Path

import psutil
import pytest
from cli_processes import Background, daskflow, environment, wait_for
from distributed import Client

pytestmark = pytest.mark.slow

#: A DAG whose one task writes the process id of the worker that ran it.
PID_DAG = '''
import os

from daskflow import DAG, task

with DAG("pids") as dag:
    @task
    def write_pid(params=None):
        with open(params["out"], "w") as f:
            f.write(str(os.getpid()))

    write_pid()
'''


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "pids.py").write_text(PID_DAG)
    return environment(tmp_path / "home", folder)


def printed(command: Background, label: str) -> str:
    """The value of a ``Label: value`` line of the command's stdout, once printed."""
    def line() -> str | None:
        assert command.process.poll() is None, f"the command exited early:\n{command.stderr}"
        found = [row.split(": ", 1)[1] for row in command.stdout.splitlines()
                 if row.startswith(f"{label}: ")]
        return found[0] if found else None

    return wait_for(line, f"a {label!r} line on stdout")


def descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def still_running(processes: list[psutil.Process]) -> list[str]:
    """Those of ``processes`` alive once given a generous while to finish exiting."""
    _, alive = psutil.wait_procs(processes, timeout=60)
    return [f"{p.pid} {p.cmdline()}" for p in alive if p.status() != psutil.STATUS_ZOMBIE]


def run_pid_dag(env: dict[str, str], address: str, out: Path) -> int:
    done = daskflow(env, "dags", "test", "pids", "--cluster", address,
                    "--conf", json.dumps({"out": str(out)}), "--output", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "success"
    return int(out.read_text())


def test_a_local_cluster_runs_dags_then_stops_on_ctrl_c_with_its_workers(env, tmp_path):
    command = Background(env, tmp_path / "cluster.err", "cluster", "local", "--workers", 2,
                         "--threads-per-worker", 1, "--memory-limit", "1GiB", "--port", 0,
                         "--dashboard-address", "127.0.0.1:0", out=tmp_path / "cluster.out")
    address = printed(command, "Scheduler")
    dashboard = printed(command, "Dashboard")
    assert address.startswith("tcp://127.0.0.1:")
    with urllib.request.urlopen(dashboard, timeout=30) as page:
        assert page.status == 200
    with Client(address, timeout=30) as client:
        workers = client.run(os.getpid)
        assert len(workers) == 2
        assert {w["memory_limit"] for w in client.scheduler_info()["workers"].values()} == {
            2**30}
        preloads = client.run_on_scheduler(
            lambda dask_scheduler: [p.name for p in dask_scheduler.preloads])
    assert preloads == ["daskflow.dashboard"]

    assert run_pid_dag(env, address, tmp_path / "pid") in workers.values()

    started = descendants(command.process.pid)
    assert set(workers.values()) <= {p.pid for p in started}
    assert command.stop(signal.SIGINT, group=True) == 0
    assert "Cluster stopped on SIGINT" in command.stderr
    assert still_running(started) == []


def test_sigterm_stops_a_threaded_local_cluster(env, tmp_path):
    command = Background(env, tmp_path / "cluster.err", "cluster", "local", "--threads",
                         "--workers", 1, "--port", 0, "--dashboard-address", ":0",
                         out=tmp_path / "cluster.out")
    address = printed(command, "Scheduler")
    assert run_pid_dag(env, address, tmp_path / "pid") == command.process.pid
    assert command.stop(signal.SIGTERM) == 0
    assert "Cluster stopped on SIGTERM" in command.stderr


def test_a_cluster_class_by_path_is_served_until_sigint(env, tmp_path):
    kwargs = {"processes": True, "n_workers": 0, "threads_per_worker": 1,
              "scheduler_port": 0, "dashboard_address": ":0"}
    command = Background(env, tmp_path / "cluster.err", "cluster", "class",
                         "distributed.LocalCluster", "--kwargs", json.dumps(kwargs),
                         "--workers", 2, out=tmp_path / "cluster.out")
    address = printed(command, "Scheduler")
    with Client(address, timeout=30) as client:
        client.wait_for_workers(2)
        workers = client.run(os.getpid)
    assert run_pid_dag(env, address, tmp_path / "pid") in workers.values()
    started = descendants(command.process.pid)
    assert command.stop(signal.SIGINT, group=True) == 0
    assert still_running(started) == []


def test_a_bad_cluster_class_setting_is_one_error_naming_it(env):
    env = {**env, "DASK_DASKFLOW__CLUSTER_CLASS": "nowhere.Cluster"}
    for args in (["dags", "test", "pids"], ["cluster", "class"]):
        done = daskflow(env, *args)
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("Error: daskflow.cluster-class 'nowhere.Cluster' "
                                      "cannot be imported"), done.stderr
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1


def test_dags_test_starts_and_closes_the_configured_class(env, tmp_path):
    kwargs = {"processes": False, "n_workers": 0, "dashboard_address": ":0"}
    env = {**env, "DASK_DASKFLOW__CLUSTER_CLASS": "distributed.LocalCluster",
           "DASK_DASKFLOW__CLUSTER_KWARGS": repr(kwargs)}
    done = daskflow(env, "dags", "test", "pids", "--workers", 1,
                    "--conf", json.dumps({"out": str(tmp_path / "pid")}))
    assert done.returncode == 0, done.stderr
    assert "success" in done.stdout


def test_a_busy_port_is_one_error_naming_it(env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = daskflow(env, "cluster", "local", "--threads", "--workers", 1, "--port", port)
    assert done.returncode == 2
    assert f"Error: cannot start a local Dask scheduler on 127.0.0.1:{port} (OSError: " \
        in done.stderr
    assert "Traceback" not in done.stderr
