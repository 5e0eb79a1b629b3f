"""Connections and variables: what tasks use to reach other systems.

``Connection`` and ``Variable`` are Airflow's names. Both are looked up first
in the environment (``DASKFLOW_CONN_<ID>``, ``DASKFLOW_VAR_<KEY>``), then in
the metadata store, where passwords, extras and variable values are encrypted
with Fernet when a key is set (``lookup.py``, ``store/fernet.py``).
"""

from __future__ import annotations

from daskflow.secrets.connection import Connection

__all__ = ["Connection"]
