"""``daskflow cluster ssh`` against a real sshd on 127.0.0.1, with real workers.

The scheduler and the workers run as the sshd's session processes, started
by distributed's ``SSHCluster`` over asyncssh; a DAG run on the cluster runs
its task in one of those workers; Ctrl-C closes every remote process, and so
does the command's end in any other way, even while it starts: each remote
process ends with its SSH session. After every test, no process started
through the test's sshd may be left running.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil
import pytest
from cli_processes import Background, daskflow, wait_for
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
    assert server.leftovers == [], "processes started through sshd outlived the test"


@pytest.fixture
def start_cluster(env, tmp_path, sshd):
    """Start ``daskflow cluster ssh`` on the test's sshd; killed at the end if still running
    (before the sshd stops: a client still connected keeps its sessions alive)."""
    commands: list[Background] = []

    def start() -> Background:
        command = Background(env, tmp_path / "cluster.err", "cluster", "ssh", "127.0.0.1",
                             "127.0.0.1", "--workers-per-host", 2, "--threads-per-worker", 1,
                             "--remote-python", sys.executable, *sshd.login_options(),
                             "--interface", "lo", "--port", 0,
                             "--dashboard-address", "127.0.0.1:0", out=tmp_path / "cluster.out")
        commands.append(command)
        return command

    yield start
    for command in commands:
        command.stop(signal.SIGKILL, group=True)  # no signal if it already exited


def remote_dask_processes(sshd) -> list[psutil.Process]:
    """The ``distributed.cli.dask_spec`` processes (scheduler, workers) under ``sshd``."""
    found = []
    for process in descendants(sshd.process.pid):
        try:
            if "distributed.cli.dask_spec" in process.cmdline():
                found.append(process)
        except psutil.NoSuchProcess:
            pass
    return found


def left_running(processes: list[psutil.Process]) -> list[str]:
    """``still_running(processes)``, each of them then killed: a failed test leaves none."""
    survivors = still_running(processes)
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    return survivors


def test_an_ssh_cluster_runs_dag_tasks_in_its_remote_workers(env, tmp_path, sshd, start_cluster):
    command = start_cluster()
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
    assert left_running(started) == []


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


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_command_ended_while_starting_leaves_no_remote_process(tmp_path, sshd, start_cluster,
                                                                 sig):
    command = start_cluster()
    # The scheduler runs: the command is past its first login but still starting,
    # the workers not yet all up (it prints "Scheduler:" once they have registered).
    wait_for(lambda: remote_dask_processes(sshd), "the remote scheduler")
    started = descendants(sshd.process.pid)
    assert command.stop(sig, group=True) == -sig
    assert "Scheduler:" not in command.stdout
    # Nothing closed the cluster: the remote processes end because their sessions did.
    assert left_running(started) == []
