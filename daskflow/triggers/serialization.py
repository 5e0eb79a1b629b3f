"""Trigger arguments and event payloads as plain JSON values, and back.

They cross Dask's event stream (msgpack) and rest in the store (JSON) while
the task waits, so datetimes and timedeltas, which neither carries, are
written as tagged objects. Anything else that JSON cannot hold is refused
when the task defers, naming the value, rather than failing later in the loop.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

_TAG = "__daskflow__"


class UnserializableValue(TypeError):
    """A trigger argument or event payload that cannot be stored."""


def encode(value: Any, where: str = "value") -> Any:
    """``value`` as JSON-safe data; raises :class:`UnserializableValue` naming ``where``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return {_TAG: "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {_TAG: "date", "value": value.isoformat()}
    if isinstance(value, timedelta):
        return {_TAG: "timedelta", "value": value.total_seconds()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else {_TAG: type(value).__name__,
                                                      "value": items}
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise UnserializableValue(f"{where}: dict keys must be strings, got {value!r}")
        return {k: encode(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise UnserializableValue(
        f"{where}: a {type(value).__name__} cannot be stored with a deferred task "
        "(use JSON values, datetimes or timedeltas)")


def decode(value: Any) -> Any:
    """The value :func:`encode` wrote (Dask's msgpack may hand its lists back as tuples)."""
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get(_TAG)
    if tag is None:
        return {k: decode(v) for k, v in value.items()}
    inner = value["value"]
    if tag == "datetime":
        return datetime.fromisoformat(inner)
    if tag == "date":
        return date.fromisoformat(inner)
    if tag == "timedelta":
        return timedelta(seconds=inner)
    items = [decode(v) for v in inner]
    return {"tuple": tuple, "set": set, "frozenset": frozenset}[tag](items)
