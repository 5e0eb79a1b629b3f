"""Connections and variables: what tasks use to reach other systems.

``Connection`` and ``Variable`` are Airflow's names. Both are looked up first
in the environment (``DASKFLOW_CONN_<ID>``, ``DASKFLOW_VAR_<KEY>``), then in
the metadata store, where passwords, extras and variable values are encrypted
with Fernet when a key is set (``lookup.py``, ``store/fernet.py``).
"""

from __future__ import annotations

from daskflow.secrets.connection import Connection
from daskflow.secrets.sensitive import add_secret_listener, is_sensitive_name
from daskflow.secrets.variable import Variable

__all__ = ["Connection", "Variable", "add_secret_listener", "is_sensitive_name"]
