"""``var`` and ``conn`` in the template context: lookups made only when used.

``{{ var.value.region }}``, ``{{ var.json.settings.retries }}`` and
``{{ conn.my_db.host }}`` look the name up (``lookup.py``) when the template
reads it, not when the context is built, so tasks that never mention them cost
nothing. ``var.value.get("k", "fallback")`` and ``conn.get("id")`` give a
default instead of failing. A missing one fails the task with the error that
names it and every place looked.

>>> import os
>>> os.environ["DASKFLOW_VAR_TEAM"] = '{"name": "data"}'
>>> lookups = template_lookups()
>>> lookups["var"].json.team["name"], lookups["var"].value.get("nope", "-")
('data', '-')
>>> del os.environ["DASKFLOW_VAR_TEAM"]
"""

from __future__ import annotations

from typing import Any

from daskflow.exceptions import ConnectionNotFound, VariableNotFound
from daskflow.secrets.connection import Connection
from daskflow.secrets.variable import Variable


class _Variables:
    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._json)

    __getitem__ = __getattr__

    def get(self, key: str, default_var: Any = None, default: Any = None) -> Any:
        """The variable, or the default (``default_var`` or ``default``) when it is missing."""
        try:
            return Variable.get(key, deserialize_json=self._json)
        except VariableNotFound:
            return default_var if default_var is not None else default

    def __repr__(self) -> str:
        return f"<variables ({'json' if self._json else 'value'})>"


class VariableAccessor:
    """``var`` in templates: ``var.value.<key>`` (text) and ``var.json.<key>`` (parsed)."""

    def __init__(self) -> None:
        self.value = _Variables(deserialize_json=False)
        self.json = _Variables(deserialize_json=True)

    def __getitem__(self, kind: str) -> _Variables:
        """``var["value"]`` and ``var["json"]``, as context code written for Airflow reads it."""
        if kind not in ("value", "json"):
            raise KeyError(f"var[{kind!r}]: use var['value'] or var['json']")
        return self.value if kind == "value" else self.json

    def __repr__(self) -> str:
        return "<var: use var.value.KEY or var.json.KEY>"


class ConnectionAccessor:
    """``conn`` in templates: ``conn.<conn_id>`` is that :class:`Connection`."""

    def __getattr__(self, conn_id: str) -> Connection:
        if conn_id.startswith("_"):
            raise AttributeError(conn_id)
        return Connection.get(conn_id)

    __getitem__ = __getattr__

    def get(self, conn_id: str, default_conn: Any = None) -> Any:
        try:
            return Connection.get(conn_id)
        except ConnectionNotFound:
            return default_conn

    def __repr__(self) -> str:
        return "<conn: use conn.CONN_ID.host, .login, ...>"


def template_lookups() -> dict[str, Any]:
    """The ``var`` and ``conn`` entries of a task's context."""
    return {"var": VariableAccessor(), "conn": ConnectionAccessor()}
