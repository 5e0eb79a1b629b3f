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


def dashboard_store(url: str | None = None) -> Store:
    """The store at ``url`` (default: the configured one), shared by every page."""
    url = url or config.db_url()
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = Store(url)
        return store
