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

import pytest
from cli_processes import Background, daskflow, runs, wait_for
from cluster_commands import (
    descendants,
    environment_with_pid_dag,
    printed,
    run_pid_dag,
    still_running,
)
from distributed import Client

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment_with_pid_dag(tmp_path)


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


def trigger_pid_run(env: dict[str, str], out: Path) -> dict:
    """Queue a run of ``pids`` for a running scheduler and wait for it to end."""
    triggered = daskflow(env, "dags", "trigger", "pids", "--conf", json.dumps({"out": str(out)}))
    assert triggered.returncode == 0, triggered.stderr
    run_id = triggered.stdout.strip()

    def ended() -> list[dict]:
        return [r for r in runs(env, "--dag-id", "pids")
                if r["run_id"] == run_id and r["state"] in ("success", "failed")]

    [run] = wait_for(ended, "the triggered run to end")
    return run


def test_a_scheduler_runs_on_the_cluster_the_settings_name_and_leaves_it_running(env, tmp_path):
    cluster = Background(env, tmp_path / "cluster.err", "cluster", "local", "--threads",
                         "--workers", 1, "--port", 0, "--dashboard-address", ":0",
                         out=tmp_path / "cluster.out")
    address = printed(cluster, "Scheduler")
    configured = {**env, "DASK_DASKFLOW__CLUSTER": address}
    scheduler = Background(configured, tmp_path / "scheduler.err", "scheduler")
    try:
        scheduler.wait_until_logged("Scheduler running")
        run = trigger_pid_run(configured, tmp_path / "pid")
    finally:
        assert scheduler.stop(signal.SIGINT) == 0, scheduler.stderr
    assert run["state"] == "success"
    assert int((tmp_path / "pid").read_text()) == cluster.process.pid  # ran in its thread
    assert cluster.process.poll() is None  # a loop stopping leaves the cluster running
    assert cluster.stop(signal.SIGINT) == 0


def test_a_scheduler_starts_the_configured_class_and_closes_it(env, tmp_path):
    kwargs = {"processes": True, "n_workers": 0, "threads_per_worker": 1,
              "dashboard_address": ":0"}
    configured = {**env, "DASK_DASKFLOW__CLUSTER_CLASS": "distributed.LocalCluster",
                  "DASK_DASKFLOW__CLUSTER_KWARGS": repr(kwargs)}
    scheduler = Background(configured, tmp_path / "scheduler.err", "scheduler", "--workers", 1)
    try:
        scheduler.wait_until_logged("Scheduler running")
        started = descendants(scheduler.process.pid)
        run = trigger_pid_run(configured, tmp_path / "pid")
        workers = {p.pid for p in descendants(scheduler.process.pid)}
    finally:
        assert scheduler.stop(signal.SIGINT, group=True) == 0, scheduler.stderr
    assert run["state"] == "success"
    assert int((tmp_path / "pid").read_text()) in workers  # the class's worker process
    assert still_running(started) == []


def test_serving_a_cluster_only_this_process_can_reach_is_refused(env):
    kwargs = {"processes": False, "n_workers": 1, "dashboard_address": ":0"}
    done = daskflow(env, "cluster", "class", "distributed.LocalCluster",
                    "--kwargs", json.dumps(kwargs))
    assert done.returncode == 2
    assert "can only be reached from inside this process" in done.stderr
    assert '"protocol": "tcp://"' in done.stderr
    assert done.stdout == ""
