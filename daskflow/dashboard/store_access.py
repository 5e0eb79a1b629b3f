"""The metadata store the dashboard pages read, opened once per scheduler process.

The pages run in the Dask scheduler's process, which may be a separately
started ``dask scheduler``: the store is the one configured there
(``daskflow.db``, ``DASKFLOW_DB``), the same the loop writes to.
"""

from __future__ import annotations

import threading

from daskflow import config
from daskflow.store.store import Store

_lock = threading.Lock()
_stores: dict[str, Store] = {}
_shown: list[str] = []


def show_store(url: str) -> None:
    """Make the pages of this process read ``url`` rather than the configured store.

    For a process that records runs in a store of its own choosing, e.g.
    ``dag.test(db=...)`` with the embedded cluster: its dashboard then shows
    that store.
    """
    with _lock:
        _shown[:] = [url]


def shown_url() -> str:
    """The URL of the store the pages read: the one shown, else the configured one."""
    with _lock:
        return _shown[0] if _shown else config.db_url()


def dashboard_store(url: str | None = None) -> Store:
    """The store at ``url`` (default: the one shown, else the configured one), shared by
    every page."""
    url = url or (_shown[0] if _shown else None) or config.db_url()
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store
