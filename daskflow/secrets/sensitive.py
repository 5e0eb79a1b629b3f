"""Which values are secrets, and who wants to hear about them.

Every connection and variable fetched through ``lookup.py`` is announced to
the listeners registered with :func:`add_secret_listener`, with the values
that must not appear in logs or output: a connection's password and text
extras (:meth:`Connection.secret_values`), and a variable's value when its
key looks sensitive (``masking.is_sensitive_name``). The lookup registers
them with the masker itself; listeners are for anyone else who must know.

>>> is_sensitive_name("db_password"), is_sensitive_name("API_KEY"), is_sensitive_name("region")
(True, True, False)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from daskflow.secrets.masking import is_sensitive_name

logger = logging.getLogger("daskflow.secrets")

Listener = Callable[[list[str]], None]
_listeners: list[Listener] = []
_lock = threading.Lock()


def variable_secret_values(key: str, value: str | None) -> list[str]:
    """The values of variable ``key`` to hide: its value when the key looks sensitive."""
    return [value] if value and is_sensitive_name(key) else []


def add_secret_listener(listener: Listener) -> None:
    """Call ``listener(values)`` with the secret values of every connection and variable
    fetched from now on in this process (values may repeat)."""
    with _lock:
        if listener not in _listeners:
            _listeners.append(listener)


def remove_secret_listener(listener: Listener) -> None:
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)


def announce(values: Iterable[str]) -> None:
    """Tell every listener about ``values`` (nothing when there are none)."""
    found = [v for v in values if v]
    if not found:
        return
    with _lock:
        listeners = list(_listeners)
    for listener in listeners:
        try:
            listener(found)
        except Exception:  # a broken listener must not fail the lookup
            logger.exception("secret listener %r failed", listener)
