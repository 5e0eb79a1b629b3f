"""Where connections and variables are found, in one order for every caller.

``Connection.get``, ``Variable.get``, templates (``{{ conn.x.host }}``,
``{{ var.value.x }}``) and the CLI all come here. A conn_id or key is looked
up in:

1. the environment: ``DASKFLOW_CONN_<CONN_ID>`` (a URI, or a JSON object of
   fields) and ``DASKFLOW_VAR_<KEY>`` (the value), the name upper-cased;
2. the metadata store, decrypted with the Fernet key: in a task, the store of
   the scheduler or ``dags test`` running it; elsewhere the one of
   :func:`daskflow.config.db_url` (``DASKFLOW_DB`` or ``daskflow.db``).

The first place that has it wins. Tasks run on Dask workers: the LocalCluster
daskflow starts inherits the environment; workers of a remote cluster need
to reach the same store, the same Fernet key (``DASKFLOW_FERNET_KEY``), and
any ``DASKFLOW_CONN_*``/``DASKFLOW_VAR_*`` in their own environment.

Nothing found is an error naming the conn_id or key and what each place said.
"""

from __future__ import annotations

import os
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from daskflow.exceptions import ConnectionNotFound, VariableNotFound
from daskflow.secrets.connection import Connection
from daskflow.secrets.masking import register_connection, register_variable
from daskflow.secrets.sensitive import announce, variable_secret_values

if TYPE_CHECKING:
    from daskflow.store import Store

CONN_PREFIX = "DASKFLOW_CONN_"
VAR_PREFIX = "DASKFLOW_VAR_"

_stores: dict[str, Store] = {}
_stores_lock = threading.Lock()


def conn_env_name(conn_id: str) -> str:
    return CONN_PREFIX + conn_id.upper()


def var_env_name(key: str) -> str:
    return VAR_PREFIX + key.upper()


def connection_from_env(conn_id: str) -> Connection | None:
    """The connection defined by ``DASKFLOW_CONN_<CONN_ID>``, or ``None``."""
    value = os.environ.get(conn_env_name(conn_id))
    if value is None:
        return None
    text = value.strip()
    if text.startswith("{"):
        return Connection.from_json(text, conn_id=conn_id)
    return Connection.from_uri(text, conn_id=conn_id)


def store_or_none() -> tuple[Store | None, str]:
    """The metadata store (opened once per URL and process), or ``None`` and why not."""
    from daskflow import config
    from daskflow.store import Store, StoreError
    from daskflow.store.engine import mask_url, parse_url

    url = config.db_url()
    where = f"the metadata store {mask_url(url)!r}"
    with _stores_lock:
        if url in _stores:
            return _stores[url], where
        try:
            parsed = parse_url(url)
            database = parsed.database or ""
            if (parsed.get_backend_name() == "sqlite" and database not in ("", ":memory:")
                    and not database.startswith("file:")
                    and not Path(database).expanduser().exists()):
                return None, f"{where} (the file does not exist)"
            _stores[url] = Store(url)
        except StoreError as exc:
            return None, f"{where} (could not be opened: {exc})"
        return _stores[url], where


def using_store(url: str | None) -> AbstractContextManager[None]:
    """Look in the store at ``url`` (``None``: the configured one) inside the block.

    A task's node sets it to the store of the scheduler or ``dags test`` that
    runs it, which may have been given with ``--db`` rather than ``DASKFLOW_DB``;
    everything else a task reads of the store (``config.db_url``) follows too.
    """
    from daskflow import config

    return config.using_db(url)


def get_connection(conn_id: str, store: Store | None = None,
                   no_store: str | None = None) -> Connection:
    """The connection ``conn_id``: environment first, then the store (``store`` if given,
    else the configured one; ``no_store`` says why there is none and skips it)."""
    found = connection_from_env(conn_id)
    looked = [f"environment variable {conn_env_name(conn_id)} (not set)"]
    if found is None:
        record = _from_store(store, no_store, lambda s: s.get_connection(conn_id),
                             "connection", looked)
        if record is not None:
            found = Connection(
                conn_id=record.conn_id, conn_type=record.conn_type,
                description=record.description, host=record.host, schema=record.schema,
                login=record.login, password=record.password, port=record.port,
                extra=record.extra)
    if found is None:
        raise ConnectionNotFound(f"connection {conn_id!r} is not defined; looked in: "
                                 + "; ".join(looked))
    register_connection(found.password, found.extra)
    announce(found.secret_values())
    return found


def get_variable(key: str, store: Store | None = None, no_store: str | None = None) -> str:
    """The value of variable ``key`` as text: environment first, then the store (``store``
    if given, else the configured one; ``no_store`` says why there is none and skips it)."""
    value = os.environ.get(var_env_name(key))
    looked = [f"environment variable {var_env_name(key)} (not set)"]
    if value is None:
        record = _from_store(store, no_store, lambda s: s.get_variable(key), "variable", looked)
        if record is not None:
            value = record.val or ""
    if value is None:
        raise VariableNotFound(f"variable {key!r} is not defined; looked in: "
                               + "; ".join(looked))
    register_variable(key, value)
    announce(variable_secret_values(key, value))
    return value


def _from_store(store: Store | None, no_store: str | None, read: Any, what: str,
                looked: list[str]) -> Any:
    """The record ``read(store)`` finds in the chosen store, or None, noting in ``looked``
    why nothing was found there."""
    from daskflow.store import StoreError

    store, where = _chosen(store, no_store)
    if store is None:
        looked.append(where)
        return None
    try:
        record = read(store)
    except StoreError as exc:
        looked.append(f"{where} (could not be read: {exc})")
        return None
    if record is None:
        looked.append(f"{where} (no such {what})")
    return record


def _chosen(store: Store | None, no_store: str | None) -> tuple[Store | None, str]:
    from daskflow.store.engine import mask_url

    if no_store is not None:
        return None, no_store
    if store is None:
        return store_or_none()
    return store, f"the metadata store {mask_url(store.url)!r}"


def writable_store() -> Store:
    """The metadata store for ``Variable.set``/``delete``; it must have daskflow's tables."""
    from daskflow.store import StoreError

    store, where = store_or_none()
    if store is None:
        raise StoreError(f"cannot write variables: {where}; run `daskflow db init` first")
    return store


def forget_stores() -> None:
    """Close the stores opened for lookups (tests, or after changing ``DASKFLOW_DB``)."""
    with _stores_lock:
        for store in _stores.values():
            store.dispose()
        _stores.clear()
