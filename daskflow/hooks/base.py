"""``BaseHook``: what every hook shares (Airflow's ``airflow.sdk.BaseHook``).

A hook class names the keyword argument that carries its connection id in
``conn_name_attr`` and the id used when none is given in
``default_conn_name``; ``conn_type`` and ``hook_name`` describe it.
:meth:`BaseHook.get_connection` looks a connection up the way templates and
``Connection.get`` do, so a hook in a task reads its run's metadata store.
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from daskflow.secrets.connection import Connection


class BaseHook:
    """Base class for hooks to external systems.

    >>> class EchoHook(BaseHook):
    ...     conn_name_attr = "echo_conn_id"
    ...     default_conn_name = "echo_default"
    >>> EchoHook().get_conn_id()
    'echo_default'
    >>> EchoHook(echo_conn_id="other").get_conn_id()
    'other'
    """

    #: The keyword argument (and attribute) holding the connection id.
    conn_name_attr: ClassVar[str] = "conn_id"
    #: The connection id used when none is given.
    default_conn_name: ClassVar[str] = "default_conn_id"
    #: The connection type this hook serves, and a human name for it.
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""

    def __init__(self, logger_name: str | None = None, **kwargs: Any) -> None:
        self.log = logging.getLogger(logger_name or f"daskflow.hooks.{type(self).__name__}")
        attr = self.conn_name_attr
        if attr in kwargs:
            setattr(self, attr, kwargs.pop(attr))
        elif attr not in vars(self):
            # Not set by the subclass before calling us: the default connection.
            setattr(self, attr, self.default_conn_name)
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected keyword argument(s) "
                            f"{', '.join(sorted(kwargs))}")

    def get_conn_id(self) -> str:
        """The connection id this hook uses."""
        return getattr(self, self.conn_name_attr)

    @classmethod
    def get_connection(cls, conn_id: str) -> Connection:
        """The connection ``conn_id``: environment (``DASKFLOW_CONN_<ID>``), then the
        metadata store; its secrets are registered with the masker.

        Raises :class:`~daskflow.exceptions.ConnectionNotFound` when it is nowhere.
        """
        from daskflow.secrets.lookup import get_connection

        return get_connection(conn_id)

    @classmethod
    def get_hook(cls, conn_id: str, hook_params: dict[str, Any] | None = None) -> BaseHook:
        """A hook for ``conn_id``, chosen by its ``conn_type`` among the known hooks
        (subclasses of :class:`BaseHook` that set ``conn_type``)."""
        connection = cls.get_connection(conn_id)
        hook_cls = hook_class_for(connection.conn_type)
        if hook_cls is None:
            raise ValueError(f"connection {conn_id!r}: no hook knows conn_type "
                             f"{connection.conn_type!r}")
        return hook_cls(**{hook_cls.conn_name_attr: conn_id}, **(hook_params or {}))

    def get_conn(self) -> Any:
        """The underlying client or connection object; each hook implements it."""
        raise NotImplementedError(f"{type(self).__name__} does not implement get_conn()")

    def test_connection(self) -> tuple[bool, str]:
        """Try to reach the system: ``(reached, message)``."""
        return self.get_connection(self.get_conn_id()).test_connection()


#: daskflow's own hook modules, imported when a hook is chosen by conn_type.
BUILTIN_HOOK_MODULES = ("daskflow.hooks.sql", "daskflow.hooks.http", "daskflow.hooks.smtp",
                        "daskflow.hooks.webhook", "daskflow.hooks.filesystem")


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_subclasses(sub))
    return found


def hook_class_for(conn_type: str | None) -> type[BaseHook] | None:
    """The hook class serving ``conn_type`` (``-`` and ``_`` alike), among those imported
    plus daskflow's own; the most derived match wins."""
    import importlib

    for module in BUILTIN_HOOK_MODULES:
        try:
            importlib.import_module(module)
        except ImportError:  # not in this installation, or its client library is missing
            pass
    wanted = (conn_type or "").replace("-", "_").lower()
    if not wanted:
        return None
    for sub in reversed(_subclasses(BaseHook)):
        types = getattr(sub, "conn_types", None) or (sub.conn_type,)
        if wanted in {t.replace("-", "_").lower() for t in types if t}:
            return sub
    return None
