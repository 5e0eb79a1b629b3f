"""Connections, variables, and the secrets daskflow never shows.

``Connection`` and ``Variable`` are Airflow's names. Both are looked up first
in the environment (``DASKFLOW_CONN_<ID>``, ``DASKFLOW_VAR_<KEY>``), then in
the metadata store, where passwords, extras and variable values are encrypted
with Fernet when a key is set (``lookup.py``, ``store/fernet.py``). What they
hold secret, and whatever ``mask_secret`` registers, is replaced by ``***``
wherever daskflow shows text (``masking.py``, docs/secrets.md).
"""

from __future__ import annotations

from daskflow.secrets.connection import Connection
from daskflow.secrets.masking import (
    MASK,
    MIN_SECRET_LENGTH,
    is_sensitive_name,
    mask_secret,
    redact,
    redact_value,
    register_connection,
    register_variable,
)
from daskflow.secrets.sensitive import add_secret_listener
from daskflow.secrets.variable import Variable

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "Connection",
    "Variable",
    "add_secret_listener",
    "is_sensitive_name",
    "mask_secret",
    "redact",
    "redact_value",
    "register_connection",
    "register_variable",
]
