"""SQL hooks: ``DbApiHook`` and thin per-database subclasses.

Airflow's ``airflow.providers.common.sql`` names and defaults, over SQLAlchemy:
the connection becomes a SQLAlchemy URL (``postgres``/``postgresql`` ->
``postgresql+psycopg``, ``mysql``/``mariadb`` -> ``mysql+pymysql``, ``mssql`` ->
``mssql+pymssql``, ``sqlite`` -> the file in ``host`` or ``schema``), unless its extra holds a
``sqlalchemy_url``, which is used as given. Statements run on the driver's own
DB-API cursor, so ``parameters`` use the driver's paramstyle (``%s`` for
psycopg and PyMySQL, ``?`` for SQLite) and a ``handler`` receives that cursor.

Failures to connect or to run a statement raise :class:`SqlHookError` naming
the conn_id and the URL with its password hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import closing, contextmanager
from typing import Any

from daskflow.exceptions import DaskflowError
from daskflow.hooks.base import BaseHook
from daskflow.secrets.connection import Connection
from daskflow.secrets.probe import SQL_DRIVERS

log = logging.getLogger(__name__)

#: conn_type -> SQLAlchemy drivername (the table ``connections test`` uses too).
DRIVERS = SQL_DRIVERS


class SqlHookError(DaskflowError):
    """A SQL connection could not be made or a statement failed."""


def fetch_all_handler(cursor: Any) -> list[tuple] | None:
    """Every row of the result, or ``None`` for a statement that returns no rows."""
    return list(cursor.fetchall()) if cursor.description is not None else None


def fetch_one_handler(cursor: Any) -> tuple | None:
    """The first row of the result, or ``None`` for a statement that returns no rows."""
    return cursor.fetchone() if cursor.description is not None else None


def return_single_query_results(sql: str | Iterable[str], return_last: bool,
                                split_statements: bool | None) -> bool:
    """Whether ``run`` returns one statement's result rather than a list of them:
    true for a single string that is not split, or split with ``return_last``."""
    return isinstance(sql, str) and (return_last or not split_statements)


def split_sql_string(sql: str) -> list[str]:
    """``sql`` cut at the semicolons outside quotes and comments, each part stripped,
    the empty ones dropped.

    >>> split_sql_string("select 1; select ';' -- a; comment\\n; ")
    ['select 1', "select ';' -- a; comment"]
    """
    parts, current, i, quote = [], [], 0, None
    while i < len(sql):
        char = sql[i]
        if quote:
            current.append(char)
            if char == quote:
                quote = None
        elif char in ("'", '"', "`"):
            quote = char
            current.append(char)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = len(sql) if end == -1 else end
            current.append(sql[i:end])
            i = end
            continue
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = len(sql) if end == -1 else end + 2
            current.append(sql[i:end])
            i = end
            continue
        elif char == ";":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return [part.strip() for part in parts if _has_code(part)]


def _has_code(part: str) -> bool:
    lines = [line.split("--", 1)[0] for line in part.splitlines()]
    return bool("".join(lines).replace("/*", "").replace("*/", "").strip())


def sqlalchemy_url_for(connection: Connection) -> Any:
    """The SQLAlchemy URL of ``connection`` (see the module docstring)."""
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    conn_id = connection.conn_id
    explicit = connection.extra_dejson.get("sqlalchemy_url")
    if explicit:
        try:
            return make_url(explicit)
        except ArgumentError as exc:
            raise SqlHookError(f"connection {conn_id!r}: extra 'sqlalchemy_url' is not a "
                               f"SQLAlchemy URL ({exc})") from None
    conn_type = (connection.conn_type or "").replace("-", "_").lower()
    driver = DRIVERS.get(conn_type)
    if driver is None:
        raise SqlHookError(
            f"connection {conn_id!r}: conn_type {connection.conn_type!r} is not a SQL "
            f"database daskflow knows ({', '.join(sorted(DRIVERS))}); set extra "
            f"'sqlalchemy_url' to use another")
    if driver == "sqlite":
        path = connection.host or connection.schema or ""
        return URL.create("sqlite", database=path or None)
    if not connection.host:
        raise SqlHookError(f"connection {conn_id!r}: a {conn_type} connection needs a host")
    return URL.create(driver, username=connection.login or None,
                      password=connection.password or None, host=connection.host,
                      port=connection.port, database=connection.schema or None)


class DbApiHook(BaseHook):
    """Runs SQL on the database of a connection (Airflow's ``DbApiHook``).

    ``conn_id`` may also be given as ``<conn_name_attr>=``; ``schema`` overrides
    the connection's database; ``engine_kwargs`` go to ``create_engine``.
    """

    conn_name_attr = "conn_id"
    default_conn_name = "default_conn_id"
    conn_types: tuple[str, ...] = ()
    #: Whether the driver can switch autocommit on (all three here can).
    supports_autocommit = True

    def __init__(self, *args: Any, schema: str | None = None, log_sql: bool = True,
                 engine_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if args:
            kwargs.setdefault(self.conn_name_attr, args[0])
        if "conn_id" in kwargs and self.conn_name_attr != "conn_id":
            kwargs.setdefault(self.conn_name_attr, kwargs.pop("conn_id"))
        super().__init__(**kwargs)
        self.schema = schema
        self.log_sql = log_sql
        self.engine_kwargs = dict(engine_kwargs or {})
        self.descriptions: list[Any] = []
        self._connection: Connection | None = None
        self._engine: Any = None

    # -- the connection --------------------------------------------------------------
    @property
    def connection(self) -> Connection:
        if self._connection is None:
            self._connection = self.get_connection(self.get_conn_id())
        return self._connection

    @property
    def sqlalchemy_url(self) -> Any:
        url = sqlalchemy_url_for(self.connection)
        if self.schema and url.get_backend_name() != "sqlite":
            url = url.set(database=self.schema)
        return url

    def get_uri(self) -> str:
        """The SQLAlchemy URL as text, password included."""
        return self.sqlalchemy_url.render_as_string(hide_password=False)

    def _where(self) -> str:
        try:
            shown = self.sqlalchemy_url.render_as_string(hide_password=True)
        except SqlHookError:
            shown = "?"
        return f"connection {self.get_conn_id()!r} ({shown})"

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> Any:
        """A SQLAlchemy engine for the connection (no pool: a task's connections close
        when it is done with them)."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if self._engine is not None and engine_kwargs is None:
            return self._engine
        kwargs = {"poolclass": NullPool, **self.engine_kwargs, **(engine_kwargs or {})}
        try:
            engine = create_engine(self.sqlalchemy_url, **kwargs)
        except (ImportError, ModuleNotFoundError) as exc:
            raise SqlHookError(f"{self._where()}: the database driver is not installed "
                               f"({exc})") from None
        if engine_kwargs is None:
            self._engine = engine
        return engine

    def get_conn(self) -> Any:
        """A new DB-API connection (close it when done): SQLAlchemy's proxy of the
        driver's connection, whose ``driver_connection`` is the driver's own."""
        engine = self.get_sqlalchemy_engine()
        try:
            return engine.raw_connection()
        except Exception as exc:
            raise SqlHookError(f"{self._where()}: could not connect: "
                               f"{_first_line(exc)}") from None

    def set_autocommit(self, conn: Any, autocommit: bool) -> None:
        """Switch the driver connection's autocommit on or off."""
        conn = getattr(conn, "driver_connection", conn)
        module = type(conn).__module__
        if module.startswith("sqlite3"):
            conn.isolation_level = None if autocommit else ""
        elif module.startswith("pymysql"):
            conn.autocommit(autocommit)
        else:
            conn.autocommit = autocommit

    def get_autocommit(self, conn: Any) -> bool:
        conn = getattr(conn, "driver_connection", conn)
        module = type(conn).__module__
        if module.startswith("sqlite3"):
            return conn.isolation_level is None
        if module.startswith("pymysql"):
            return bool(conn.get_autocommit())
        return bool(getattr(conn, "autocommit", False))

    @contextmanager
    def _connected(self, autocommit: bool):
        with closing(self.get_conn()) as conn:
            if self.supports_autocommit:
                self.set_autocommit(conn, autocommit)
            yield conn

    # -- running SQL -----------------------------------------------------------------
    def run(self, sql: str | Iterable[str], autocommit: bool = False,
            parameters: Sequence[Any] | Mapping[str, Any] | None = None,
            handler: Callable[[Any], Any] | None = None, split_statements: bool = False,
            return_last: bool = True) -> Any:
        """Run ``sql`` (one string, split at semicolons if ``split_statements``, or a
        list of statements), all in one transaction committed at the end unless
        ``autocommit``. Without a ``handler`` the result is ``None``; with one, the
        handler's result for the last statement when ``sql`` is one string and
        ``return_last`` (or it is not split), else a list with one per statement."""
        if isinstance(sql, str):
            statements = split_sql_string(sql) if split_statements else [sql]
        else:
            statements = list(sql)
        if not statements or not all(isinstance(s, str) and s.strip() for s in statements):
            raise ValueError(f"{self._where()}: no SQL to run (got {sql!r})")
        results, self.descriptions = [], []
        with self._connected(autocommit) as conn:
            for statement in statements:
                with closing(conn.cursor()) as cursor:
                    self._run_command(cursor, statement, parameters)
                    if handler is not None:
                        results.append(handler(cursor))
                    self.descriptions.append(cursor.description)
            if not self.get_autocommit(conn):
                try:
                    conn.commit()
                except Exception as exc:
                    raise SqlHookError(f"{self._where()}: commit failed: "
                                       f"{_first_line(exc)}") from None
        if handler is None:
            return None
        if return_single_query_results(sql, return_last, split_statements):
            self.descriptions = self.descriptions[-1:]
            return results[-1]
        return results

    def _run_command(self, cursor: Any, statement: str, parameters: Any) -> None:
        if self.log_sql:
            log.info("Running statement: %s, parameters: %s", statement, parameters)
        try:
            if parameters is None:
                cursor.execute(statement)
            else:
                cursor.execute(statement, parameters)
        except Exception as exc:
            raise SqlHookError(f"{self._where()}: statement failed: {_first_line(exc)}\n"
                               f"SQL: {statement}") from None
        if getattr(cursor, "rowcount", -1) >= 0:
            log.info("Rows affected: %s", cursor.rowcount)

    def get_records(self, sql: str | list[str],
                    parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """Every row of the query's result (a list of tuples)."""
        return self.run(sql, parameters=parameters, handler=fetch_all_handler)

    def get_first(self, sql: str | list[str],
                  parameters: Sequence[Any] | Mapping[str, Any] | None = None) -> Any:
        """The first row of the query's result, or ``None``."""
        return self.run(sql, parameters=parameters, handler=fetch_one_handler)

    def get_df(self, sql: str, parameters: Sequence[Any] | Mapping[str, Any] | None = None,
               **kwargs: Any) -> Any:
        """The query's result as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise SqlHookError("get_df needs pandas: pip install pandas") from None
        with self._connected(False) as conn, closing(conn.cursor()) as cursor:
            self._run_command(cursor, sql, parameters)
            columns = [d[0] for d in cursor.description or ()]
            return pd.DataFrame.from_records(list(cursor.fetchall()), columns=columns,
                                             **kwargs)

    get_pandas_df = get_df

    def insert_rows(self, table: str, rows: Iterable[Sequence[Any]],
                    target_fields: Sequence[str] | None = None, commit_every: int = 1000,
                    replace: bool = False) -> int:
        """Insert ``rows`` into ``table``, committing every ``commit_every`` rows
        (0: once at the end); returns how many rows were inserted."""
        placeholder = self.placeholder
        fields = f" ({', '.join(target_fields)})" if target_fields else ""
        verb = "REPLACE INTO" if replace else "INSERT INTO"
        count = 0
        with self._connected(False) as conn, closing(conn.cursor()) as cursor:
            for row in rows:
                row = list(row)
                marks = ", ".join([placeholder] * len(row))
                self._run_quiet(cursor, f"{verb} {table}{fields} VALUES ({marks})", row)
                count += 1
                if commit_every and count % commit_every == 0:
                    conn.commit()
                    log.info("Loaded %s rows into %s so far", count, table)
            conn.commit()
        log.info("Done loading: %s rows into %s", count, table)
        return count

    def _run_quiet(self, cursor: Any, statement: str, parameters: Any) -> None:
        try:
            cursor.execute(statement, parameters)
        except Exception as exc:
            raise SqlHookError(f"{self._where()}: statement failed: {_first_line(exc)}\n"
                               f"SQL: {statement}") from None

    @property
    def placeholder(self) -> str:
        """The driver's positional parameter marker."""
        return "?" if self.sqlalchemy_url.get_backend_name() == "sqlite" else "%s"

    def test_connection(self) -> tuple[bool, str]:
        """Connect and run ``SELECT 1``: ``(True, message)`` or ``(False, why)``."""
        try:
            self.get_first("SELECT 1")
        except Exception as exc:
            return False, str(exc)
        return True, "Connection successfully tested"


class PostgresHook(DbApiHook):
    """A :class:`DbApiHook` for PostgreSQL (psycopg 3)."""

    conn_name_attr = "postgres_conn_id"
    default_conn_name = "postgres_default"
    conn_type = "postgres"
    conn_types = ("postgres", "postgresql")
    hook_name = "Postgres"


class MySqlHook(DbApiHook):
    """A :class:`DbApiHook` for MySQL and MariaDB (PyMySQL)."""

    conn_name_attr = "mysql_conn_id"
    default_conn_name = "mysql_default"
    conn_type = "mysql"
    conn_types = ("mysql", "mariadb")
    hook_name = "MySQL"


class SqliteHook(DbApiHook):
    """A :class:`DbApiHook` for SQLite (the file in the connection's host)."""

    conn_name_attr = "sqlite_conn_id"
    default_conn_name = "sqlite_default"
    conn_type = "sqlite"
    hook_name = "Sqlite"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(getattr(exc, 'orig', None) or exc).__name__}: {first}"
