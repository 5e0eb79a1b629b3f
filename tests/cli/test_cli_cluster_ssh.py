"""``daskflow cluster ssh`` against a real sshd on 127.0.0.1, with real workers.

The scheduler and the workers run as the sshd's session processes, started
by distributed's ``SSHCluster`` over asyncssh; a DAG run on the cluster runs
its task in one of those workers; Ctrl-C closes every remote process.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from cli_processes import Background, daskflow
from cluster_commands import (
    descendants,
    environment_with_pid_dag,
    printed,
    run_pid_dag,
    still_running,
)
from distributed import Client
from ssh_server import local_sshd, new_key

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return environment_with_pid_dag(tmp_path)


@pytest.fixture
def sshd(tmp_path: Path):
    with local_sshd(tmp_path / "sshd") as server:
        yield server


def test_an_ssh_cluster_runs_dag_tasks_in_its_remote_workers(env, tmp_path, sshd):
    command = Background(env, tmp_path / "cluster.err", "cluster", "ssh", "127.0.0.1",
                         "127.0.0.1", "--workers-per-host", 2, "--threads-per-worker", 1,
                         "--remote-python", sys.executable, *sshd.login_options(),
                         "--interface", "lo", "--port", 0,
                         "--dashboard-address", "127.0.0.1:0", out=tmp_path / "cluster.out")
    address = printed(command, "Scheduler")
    assert address.startswith("tcp://127.0.0.1:")
    with Client(address, timeout=30) as client:
        workers = client.run(os.getpid)
        scheduler = client.run_on_scheduler(os.getpid)
        preloads = client.run_on_scheduler(
            lambda dask_scheduler: [p.name for p in dask_scheduler.preloads])
    assert len(workers) == 2
    assert preloads == ["daskflow.dashboard"]
    remote = {p.pid for p in descendants(sshd.process.pid)}
    assert set(workers.values()) | {scheduler} <= remote  # all started through sshd

    assert run_pid_dag(env, address, tmp_path / "pid") in workers.values()

    started = descendants(sshd.process.pid)
    assert command.stop(signal.SIGINT, group=True) == 0
    assert "Cluster stopped on SIGINT" in command.stderr
    assert still_running(started) == []


def test_a_key_the_host_refuses_is_one_error(env, tmp_path, sshd):
    stranger = new_key(tmp_path / "stranger_key")
    options = sshd.login_options()
    options[options.index("--ssh-key") + 1] = str(stranger)
    done = daskflow(env, "cluster", "ssh", "127.0.0.1", "127.0.0.1", *options, "--port", 0)
    assert done.returncode == 2
    error = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(error) == 1, done.stderr
    assert error[0].startswith("Error: cannot start a Dask scheduler and workers over SSH on "
                               "127.0.0.1, 127.0.0.1 (PermissionDenied")
    assert "Traceback" not in done.stderr
