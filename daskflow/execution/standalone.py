"""Clusters started to outlive any one run: what ``daskflow cluster local|ssh`` run.

Unlike the embedded ``LocalCluster`` of one command, these are started once
and shared: ``daskflow scheduler``, ``daskflow dags test`` and Python code
reach them by address. Their schedulers load ``daskflow.dashboard`` as a
preload, so daskflow's pages are part of their Dask dashboard. Both are
plain Dask clusters (``LocalCluster``, ``SSHCluster``); nothing here talks
to workers itself.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from daskflow.exceptions import ClusterError

#: The scheduler preload that mounts daskflow's dashboard pages.
DASHBOARD_PRELOAD = "daskflow.dashboard"

#: Seconds the SSH cluster's started workers get to register with its scheduler.
REGISTER_TIMEOUT = 120


@dataclass(frozen=True)
class WorkerShape:
    """What each worker gets; ``None`` leaves the choice to Dask."""

    threads: int | None = None
    memory_limit: str | None = None

    def worker_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.threads is not None:
            options["nthreads"] = self.threads
        if self.memory_limit is not None:
            options["memory_limit"] = self.memory_limit
        return options


def local_cluster(*, workers: int | None = None, shape: WorkerShape = WorkerShape(),
                  processes: bool = True, host: str = "127.0.0.1", port: int = 8786,
                  dashboard_address: str = "127.0.0.1:8787") -> Any:
    """A ``LocalCluster`` on this machine whose scheduler serves daskflow's pages."""
    from distributed import LocalCluster

    try:
        # tcp even for threads: other processes (the loop, `dags test`) connect to it.
        return LocalCluster(
            n_workers=workers, threads_per_worker=shape.threads, processes=processes,
            protocol="tcp://", host=host, scheduler_port=port,
            dashboard_address=dashboard_address,
            scheduler_kwargs={"preload": [DASHBOARD_PRELOAD]},
            **({"memory_limit": shape.memory_limit} if shape.memory_limit else {}))
    except (OSError, RuntimeError) as exc:
        cause = root_cause(exc)
        raise ClusterError(f"cannot start a local Dask scheduler on {host}:{port} "
                           f"({type(cause).__name__}: {cause}); pick another --port, or "
                           "--port 0 for any free one") from None


def root_cause(exc: BaseException) -> BaseException:
    """The first error of a chain: Dask wraps a busy port in two "failed to start" errors."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


@dataclass(frozen=True)
class SshLogin:
    """How to log in to every host: asyncssh's ``connect_options``.

    ``known_hosts`` ``None`` keeps asyncssh's default (``~/.ssh/known_hosts``);
    the string ``"none"`` turns host key checking off.
    """

    username: str | None = None
    port: int | None = None
    key: str | None = None
    known_hosts: str | None = None

    def connect_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {}
        if self.username:
            options["username"] = self.username
        if self.port:
            options["port"] = self.port
        if self.key:
            options["client_keys"] = [self.key]
        if self.known_hosts is not None:
            options["known_hosts"] = None if self.known_hosts == "none" else self.known_hosts
        return options


def ssh_cluster(hosts: Sequence[str], *, login: SshLogin = SshLogin(),
                workers_per_host: int = 1, shape: WorkerShape = WorkerShape(),
                remote_python: str | None = None, port: int = 8786,
                dashboard_address: str = ":8787", interface: str | None = None) -> Any:
    """An ``SSHCluster``: the scheduler on ``hosts[0]``, workers on every other host.

    Name a host twice for two worker groups there; name the scheduler's
    host again to run workers beside it. ``remote_python`` is the Python of
    an environment on the hosts where daskflow is installed (default: the
    path of this one). ``interface`` (``eth0``, ``ib0``) is the network
    interface the scheduler and workers listen on (default: Dask's choice).
    """
    if len(hosts) < 2:
        raise ClusterError("daskflow cluster ssh needs at least two hosts: the first runs the "
                           "scheduler, the others workers (repeat a host to use it for both)")
    from distributed import SSHCluster

    try:
        import asyncssh  # noqa: F401  -- SSHCluster imports it only once connecting
    except ImportError:
        raise ClusterError("daskflow cluster ssh needs asyncssh: "
                           "pip install 'daskflow[ssh]'") from None
    listen = {"interface": interface} if interface else {}
    try:
        cluster = SSHCluster(
            list(hosts), connect_options=login.connect_options(),
            worker_options={"n_workers": workers_per_host, **shape.worker_options(), **listen},
            scheduler_options={"port": port, "dashboard_address": dashboard_address,
                               "preload": [DASHBOARD_PRELOAD], **listen},
            remote_python=session_bound(remote_python or sys.executable))
    except Exception as exc:  # asyncssh's, OSError, or "Worker failed to start"
        cause = root_cause(exc)
        raise ClusterError(f"cannot start a Dask scheduler and workers over SSH on "
                           f"{', '.join(hosts)} ({type(cause).__name__}: {cause}); check the "
                           "hosts, the ssh options, and that --remote-python has daskflow "
                           "installed") from None
    # SSHCluster returns once the worker processes say they started, which can be
    # before they have registered with the scheduler: wait, so "ready" means ready.
    expected = workers_per_host * (len(hosts) - 1)
    try:
        cluster.wait_for_workers(expected, timeout=REGISTER_TIMEOUT)
    except TimeoutError:
        cluster.close()
        raise ClusterError(
            f"the SSH cluster's {expected} workers did not all reach the scheduler on "
            f"{hosts[0]} within {REGISTER_TIMEOUT} s; check that the hosts reach each other "
            "(--interface picks the network)") from None
    return cluster


def session_bound(python: str) -> str:
    """What ``SSHCluster`` runs as the remote Python: ``python`` under
    ``daskflow.execution.ssh_session``, which stops the scheduler or worker
    when its SSH session ends, so that none outlives this command.

    >>> session_bound("/opt/venv/bin/python")
    '/opt/venv/bin/python -m daskflow.execution.ssh_session'
    """
    return f"{python} -m daskflow.execution.ssh_session"


def dashboard_link(cluster: Any) -> str | None:
    """The dashboard URL; for a scheduler in this process, built from its real port."""
    scheduler = getattr(cluster, "scheduler", None)
    server = getattr(scheduler, "http_server", None)
    if server is not None and getattr(server, "port", None):
        host = scheduler.address.split("://", 1)[-1].rsplit(":", 1)[0]
        return f"http://{host}:{server.port}/status"
    return getattr(cluster, "dashboard_link", None) or None
