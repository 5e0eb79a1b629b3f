"""Getting a Dask client: the embedded LocalCluster, or any existing cluster.

No address starts an in-process ``LocalCluster`` sized to the machine (one
worker process per core, threads split between them, as Dask does); an
address connects to a running scheduler; a ``Client`` is used as it is and
never closed by daskflow, and a cluster object (``LocalCluster``,
``SSHCluster``, ...) gets a client of its own but is left running. A
:class:`~daskflow.execution.cluster_class.ClusterSpec` is started, sized and
closed here. With no ``cluster`` the settings decide: ``daskflow.cluster``
(an address), else ``daskflow.cluster-class`` (a spec), else the
``LocalCluster`` (docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.util import find_spec
from typing import Any

from daskflow import config
from daskflow.exceptions import ClusterError
from daskflow.execution.cluster_class import ClusterSpec, spec_from_config, start_cluster


@contextmanager
def connect(cluster: Any = None, *, workers: int | None = None,
            threads_per_worker: int | None = None, processes: bool = True,
            dashboard_address: str | None = None, timeout: float = 10) -> Iterator[Any]:
    """Yield a ``distributed.Client`` for ``cluster``; close only what was opened here.

    A started ``LocalCluster`` listens on 127.0.0.1 only, its dashboard too
    (``daskflow.local-cluster.dashboard-address``), unless configured otherwise.
    """
    from distributed import Client
    from distributed.deploy import Cluster

    if cluster is None:
        cluster = config.get("cluster", None) or spec_from_config(workers)
    if isinstance(cluster, Client):
        yield cluster
        return
    if isinstance(cluster, (Cluster, ClusterSpec)):
        with _client_of(cluster, timeout) as client:
            yield client
        return
    if cluster:
        client = _connect_address(str(cluster), timeout)
        try:
            yield client
        finally:
            client.close()
        return
    from distributed import LocalCluster

    from daskflow.dashboard.metrics import install_metrics, uninstall
    from daskflow.dashboard.mounting import add_navigation, register_before_start

    register_before_start()  # the dashboard is built with the scheduler: pages first
    if dashboard_address is None:
        dashboard_address = config.get("local-cluster.dashboard-address", "127.0.0.1:0")
    local = LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                         processes=processes, dashboard_address=dashboard_address,
                         silence_logs=40)
    add_navigation(local.scheduler)
    install_metrics(local.scheduler)
    client = Client(local)
    try:
        yield client
    finally:
        uninstall(local.scheduler)
        client.close()
        local.close()


@contextmanager
def _client_of(cluster: Any, timeout: float) -> Iterator[Any]:
    """A client of a cluster object, or of the cluster a spec starts (closed after it)."""
    from distributed import Client

    started = start_cluster(cluster) if isinstance(cluster, ClusterSpec) else None
    try:
        client = Client(started or cluster, timeout=timeout)
        try:
            require_daskflow_on(client, client.scheduler.address)
            yield client
        finally:
            client.close()
    finally:
        if started is not None:
            started.close()


def _connect_address(address: str, timeout: float) -> Any:
    from distributed import Client

    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address!r} ({type(exc).__name__}: {exc}); "
            "check the address (e.g. tcp://HOST:8786) and that `dask scheduler` runs there"
        ) from None
    try:
        require_daskflow_on(client, address)
    except BaseException:
        client.close()
        raise
    return client


def require_daskflow_on(client: Any, address: str) -> None:
    """Fail with a :class:`ClusterError` unless the scheduler and every worker have daskflow.

    Tasks run daskflow's node code and the loop runs functions on the
    scheduler; without daskflow there a run would crash half-way or wait
    forever, so an existing cluster is checked before anything is recorded.
    """
    missing = []
    if client.run_on_scheduler(find_spec, "daskflow") is None:
        missing.append("the scheduler")
    workers = client.run(find_spec, "daskflow")
    without = sorted(worker for worker, spec in workers.items() if spec is None)
    if without:
        missing.append(f"{len(without)} of {len(workers)} workers ({', '.join(without)})")
    if missing:
        raise ClusterError(
            f"daskflow cannot be imported on {' and '.join(missing)} of the Dask cluster at "
            f"{address!r}; install daskflow (this version) in the cluster's Python environment"
        )


def dashboard_url(client: Any) -> str | None:
    """The dashboard URL, built from the port the server really listens on."""
    base = dashboard_base(client)
    return None if base is None else f"{base}/status"


def dashboard_base(client: Any) -> str | None:
    """``http://HOST:PORT`` of the cluster's dashboard (None: it has none).

    An in-process LocalCluster's link may name the host's address while the
    server listens on 127.0.0.1 only, so its URL is built from the port the
    server really listens on.
    """
    scheduler = getattr(getattr(client, "cluster", None), "scheduler", None)
    server = getattr(scheduler, "http_server", None)
    if server is not None and getattr(server, "port", None):
        return f"http://127.0.0.1:{server.port}"
    link = getattr(client, "dashboard_link", None)
    if not link:
        return None
    return link[:-len("/status")] if link.endswith("/status") else link.rstrip("/")


def local_dashboard_port(client: Any) -> int | None:
    """The port an in-process LocalCluster's dashboard listens on (None: not one)."""
    scheduler = getattr(getattr(client, "cluster", None), "scheduler", None)
    return getattr(getattr(scheduler, "http_server", None), "port", None)
