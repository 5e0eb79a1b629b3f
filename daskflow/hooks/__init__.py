"""Hooks: Python interfaces to external systems, built from a connection.

A hook takes a ``conn_id`` and reads the connection through
:func:`daskflow.secrets.lookup.get_connection` (environment first, then the
metadata store of the run), so its password is registered with the secret
masker before anything can print it. Every hook subclasses
:class:`daskflow.hooks.base.BaseHook`.
"""

from daskflow.hooks.base import BaseHook

__all__ = ["BaseHook"]
