"""``Variable``: small named settings DAGs read at run time (Airflow's API).

>>> import os
>>> os.environ["DASKFLOW_VAR_REGION"] = "eu-west-1"
>>> Variable.get("region")
'eu-west-1'
>>> Variable.get("missing_with_default", default_var=None) is None
True
>>> del os.environ["DASKFLOW_VAR_REGION"]
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from daskflow.exceptions import DaskflowError, VariableNotFound
from daskflow.secrets import lookup

logger = logging.getLogger("daskflow.secrets")

_NOTSET: Any = object()


class Variable:
    """Get, set and delete variables; values are text, or JSON with the flags below."""

    @classmethod
    def get(cls, key: str, default_var: Any = _NOTSET, deserialize_json: bool = False, *,
            default: Any = _NOTSET) -> Any:
        """The value of ``key`` (environment ``DASKFLOW_VAR_<KEY>`` first, then the store).

        Missing: the default if given (``default=``, Airflow 3's name, or
        ``default_var=``, Airflow 2's), else :class:`~daskflow.exceptions.
        VariableNotFound` (a ``KeyError``) naming the key and where it looked.
        ``deserialize_json`` parses the value as JSON.
        """
        if default is not _NOTSET:
            if default_var is not _NOTSET:
                raise DaskflowError(f"variable {key!r}: give default or default_var, not both")
            default_var = default
        try:
            value = lookup.get_variable(key)
        except VariableNotFound:
            if default_var is not _NOTSET:
                return default_var
            raise
        if not deserialize_json:
            return value
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise DaskflowError(f"variable {key!r} is not valid JSON ({exc.msg} at position "
                                f"{exc.pos}); read it without deserialize_json") from None

    @classmethod
    def set(cls, key: str, value: Any, description: str | None = None,
            serialize_json: bool = False) -> None:
        """Store ``value`` under ``key`` (as JSON with ``serialize_json``, else as text)."""
        if not isinstance(key, str) or not key.strip():
            raise DaskflowError(f"a variable needs a non-empty key, got {key!r}")
        if serialize_json:
            try:
                text = json.dumps(value, indent=2)
            except TypeError as exc:
                raise DaskflowError(f"variable {key!r}: value cannot be written as JSON: "
                                    f"{exc}") from None
        else:
            text = str(value)
        if lookup.var_env_name(key) in os.environ:
            logger.warning("variable %r is also set by %s, which wins when it is read",
                           key, lookup.var_env_name(key))
        lookup.writable_store().set_variable(key, text, description)

    @classmethod
    def delete(cls, key: str) -> None:
        """Delete ``key`` from the store (nothing happens if it is not there)."""
        from daskflow.store import NotFoundError

        try:
            lookup.writable_store().delete_variable(key)
        except NotFoundError:
            pass
