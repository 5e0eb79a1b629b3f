"""Opening the database: one engine per store, set up for how daskflow uses it.

SQLite is the zero-setup default, so it is tuned to behave like a server:

* ``journal_mode=WAL`` lets the dashboard read while the scheduler writes;
* ``busy_timeout`` makes a second writer wait instead of failing at once;
* ``foreign_keys=ON`` makes the cascades in ``schema.py`` real;
* SQLAlchemy, not the ``sqlite3`` module, emits ``BEGIN``: the module would
  otherwise commit before every DDL statement (migrations would not be atomic),
  and write transactions begin ``IMMEDIATE`` so two writers queue on the lock
  instead of failing with "database is locked" when a read turns into a write.

Every database error leaves the store as a :class:`StoreError` naming the URL
with its password masked (:func:`translate_errors`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, StatementError

from daskflow.store.errors import ConstraintError, StoreError, StoreUnavailable

SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
WRITE_OPTION = "daskflow_write"
SUPPORTED = ("sqlite", "postgresql")

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")


def mask_url(url: str | URL) -> str:
    """``url`` as text with its password replaced by ``***``, even if it does not parse."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return _PASSWORD.sub(r"\1***@", url)


def parse_url(url: str) -> URL:
    """Parse ``url``; raise :class:`StoreError` if it is malformed or not supported."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"metadata store URL {mask_url(url)!r} is not valid: {exc}") from exc
    if parsed.get_backend_name() not in SUPPORTED:
        raise StoreError(
            f"metadata store URL {mask_url(parsed)!r}: backend "
            f"{parsed.get_backend_name()!r} is not supported; use sqlite or postgresql"
        )
    return parsed


def make_engine(url: URL) -> Engine:
    """The engine for ``url``; SQLite files get their folder and the settings above."""
    try:
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True, connect_args=_pg_connect_args(url))
    except ArgumentError as exc:  # unknown driver, bad options
        raise StoreError(f"cannot open metadata store {mask_url(url)!r}: {exc}") from exc


def _pg_connect_args(url: URL) -> dict[str, Any]:
    """A connect timeout, and a name that tells an operator whose sessions these are."""
    args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        args["application_name"] = f"daskflow-{os.getpid()}"
    return args


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url)
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


#: PostgreSQL error classes and codes a later attempt may not meet: connection
#: exceptions, the server shutting down or starting, too many connections,
#: serialization failures and deadlocks.
_TRANSIENT_SQLSTATE_CLASSES = ("08", "57P")
_TRANSIENT_SQLSTATES = {"40001", "40P01", "53300", "55P03"}
_SQLITE_TRANSIENT = ("database is locked", "database table is locked", "database is busy")


def is_transient(exc: DBAPIError) -> bool:
    """Whether a database error may go away by itself (locked, disconnected, failed over)."""
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        return sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith(
            _TRANSIENT_SQLSTATE_CLASSES)
    module = type(orig).__module__
    if module.startswith("sqlite3"):
        return any(text in str(orig).lower() for text in _SQLITE_TRANSIENT)
    # psycopg raises connection failures (refused, reset, closed) without a SQLSTATE.
    return module.startswith("psycopg") and type(orig).__name__ == "OperationalError"


@contextmanager
def translate_errors(url: URL, doing: str = "use") -> Iterator[None]:
    """Turn database errors into :class:`StoreError`; a naive datetime stays a ValueError.

    ``doing`` completes "cannot ... metadata store <url>" in the message.
    """
    where = f"metadata store {mask_url(url)!r}"
    try:
        yield
    except IntegrityError as exc:
        raise ConstraintError(f"{where} refused a write: {exc.orig}") from exc
    except DBAPIError as exc:
        kind = StoreUnavailable if is_transient(exc) else StoreError
        raise kind(f"cannot {doing} {where}: {exc.orig}") from exc
    except StatementError as exc:
        if isinstance(exc.orig, ValueError | TypeError):
            raise exc.orig from exc
        raise StoreError(f"cannot {doing} {where}: {exc}") from exc
