"""``daskflow connections test``: try to reach what a connection points at.

SQL types open a SQLAlchemy connection and run ``SELECT 1``; ``http`` and
``https`` make a GET; other types cannot be tested and say so.
"""

from __future__ import annotations

import urllib.error
import urllib.request

from daskflow.secrets.connection import Connection

#: conn_type -> SQLAlchemy dialect+driver.
#: The SQL hooks (``daskflow/hooks/sql.py``) use the same table.
SQL_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg",
               "mysql": "mysql+pymysql", "mariadb": "mysql+pymysql",
               "mssql": "mssql+pymssql", "sqlite": "sqlite"}
TIMEOUT_S = 10


def sqlalchemy_url(conn: Connection) -> str:
    """The SQLAlchemy URL of a SQL connection (a sqlite connection's host is its file)."""
    from sqlalchemy.engine import URL

    driver = SQL_DRIVERS[conn.conn_type or ""]
    if driver == "sqlite":
        return f"sqlite:///{conn.host or conn.schema or ''}"
    return URL.create(driver, username=conn.login, password=conn.password, host=conn.host,
                      port=conn.port, database=conn.schema).render_as_string(
                          hide_password=False)


def http_url(conn: Connection) -> str:
    """The URL an http connection points at (``schema`` is the protocol, as in Airflow)."""
    host = conn.host or ""
    if "://" in host:
        return host
    scheme = conn.schema or ("https" if conn.conn_type == "https" else "http")
    port = f":{conn.port}" if conn.port else ""
    return f"{scheme}://{host}{port}/"


def probe(conn: Connection) -> tuple[bool, str]:
    """``(reached, what happened)`` for ``conn``."""
    if conn.conn_type in SQL_DRIVERS:
        return _probe_sql(conn)
    if conn.conn_type in ("http", "https"):
        return _probe_http(conn)
    return False, (f"connection {conn.conn_id!r}: daskflow cannot test connections of type "
                   f"{conn.conn_type!r} (it tests {', '.join(sorted(SQL_DRIVERS))}, http, https)")


def _probe_sql(conn: Connection) -> tuple[bool, str]:
    from sqlalchemy import create_engine, text

    if conn.conn_type == "sqlite" and not (conn.host or conn.schema):
        return False, f"connection {conn.conn_id!r}: a sqlite connection needs the file as host"
    try:
        engine = create_engine(sqlalchemy_url(conn))
    except Exception as exc:  # unknown driver, missing DBAPI module
        return False, f"connection {conn.conn_id!r}: cannot open a {conn.conn_type} engine: {exc}"
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        return False, f"connection {conn.conn_id!r}: cannot connect: {cause}".strip()
    finally:
        engine.dispose()
    return True, f"connection {conn.conn_id!r}: connected ({conn.conn_type})"


def _probe_http(conn: Connection) -> tuple[bool, str]:
    url = http_url(conn)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, f"connection {conn.conn_id!r}: GET {url} answered {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"connection {conn.conn_id!r}: GET {url} failed: {reason}"
    return True, f"connection {conn.conn_id!r}: GET {url} answered {status}"
