"""The clusters daskflow starts itself."""

from __future__ import annotations

import dask

from daskflow.execution.cluster import connect


def _listening(client) -> set[str]:
    server = client.cluster.scheduler.http_server
    return {sock.getsockname()[0] for sock in server._sockets.values()}


def test_a_started_cluster_and_its_dashboard_listen_on_localhost_only():
    with connect(workers=1, threads_per_worker=1, processes=False) as client:
        assert _listening(client) == {"127.0.0.1"}


def test_the_dashboard_address_is_configurable():
    with dask.config.set({"daskflow.local-cluster.dashboard-address": "0.0.0.0:0"}), \
            connect(workers=1, threads_per_worker=1, processes=False) as client:
        assert _listening(client) == {"0.0.0.0"}
