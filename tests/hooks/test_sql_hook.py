"""DbApiHook and its PostgreSQL, MariaDB and SQLite subclasses against real servers."""

from __future__ import annotations

import os

import pytest
from sqlalchemy.engine import make_url

from daskflow.exceptions import ConnectionNotFound
from daskflow.hooks.base import BaseHook
from daskflow.hooks.sql import (
    DbApiHook,
    MySqlHook,
    PostgresHook,
    SqlHookError,
    SqliteHook,
    fetch_all_handler,
    split_sql_string,
)
from daskflow.secrets.connection import Connection


def _set_conn(monkeypatch, conn_id: str, **fields) -> None:
    monkeypatch.setenv(f"DASKFLOW_CONN_{conn_id.upper()}",
                       Connection(conn_id=conn_id, **fields).as_json())


@pytest.fixture
def sqlite_hook(monkeypatch, tmp_path):
    _set_conn(monkeypatch, "lite", conn_type="sqlite", host=str(tmp_path / "data.db"))
    return SqliteHook(sqlite_conn_id="lite")


@pytest.fixture
def pg_hook(pg_url, monkeypatch):
    url = make_url(pg_url)
    _set_conn(monkeypatch, "pg", conn_type="postgres", host=url.host, port=url.port,
              login=url.username, schema=url.database)
    hook = PostgresHook(postgres_conn_id="pg")
    # A schema of its own: the session's schema holds the metadata store tests' tables.
    schema = f"daskflow_sqlhook_{os.getpid()}"
    hook.run(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    hook.table_prefix = f'"{schema}".'
    yield hook
    hook.run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture
def mysql_hook(mysql_url, monkeypatch):
    url = make_url(mysql_url)
    _set_conn(monkeypatch, "maria", conn_type="mariadb", host=url.host, port=url.port,
              login=url.username, schema=url.database)
    hook = MySqlHook(mysql_conn_id="maria")
    hook.table_prefix = ""
    return hook


BACKENDS = [
    pytest.param("sqlite_hook", id="sqlite"),
    pytest.param("pg_hook", id="postgresql", marks=pytest.mark.postgresql),
    pytest.param("mysql_hook", id="mariadb", marks=pytest.mark.mysql),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_insert_and_read_back(backend, request) -> None:
    hook = request.getfixturevalue(backend)
    table = getattr(hook, "table_prefix", "") + "hook_items"
    hook.run(f"DROP TABLE IF EXISTS {table}")
    hook.run(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, name VARCHAR(20))")
    assert hook.insert_rows(table, [(1, "a"), (2, "b"), (3, "c")],
                            target_fields=["id", "name"], commit_every=2) == 3
    assert hook.get_records(f"SELECT id, name FROM {table} ORDER BY id") == [
        (1, "a"), (2, "b"), (3, "c")]
    mark = hook.placeholder
    assert hook.get_first(f"SELECT name FROM {table} WHERE id = {mark}", parameters=(2,)) \
        == ("b",)
    assert hook.get_first(f"SELECT name FROM {table} WHERE id = 99") is None
    # Several statements: one result per statement, or only the last.
    both = hook.run(f"SELECT COUNT(*) FROM {table}; SELECT MAX(id) FROM {table}",
                    split_statements=True, return_last=False, handler=fetch_all_handler)
    assert both == [[(3,)], [(3,)]]
    last = hook.run([f"DELETE FROM {table} WHERE id = 3", f"SELECT COUNT(*) FROM {table}"],
                    handler=fetch_all_handler)
    assert last == [None, [(2,)]]
    df = hook.get_pandas_df(f"SELECT id, name FROM {table} ORDER BY id")
    assert list(df.columns) == ["id", "name"] and df["name"].tolist() == ["a", "b"]
    assert hook.test_connection() == (True, "Connection successfully tested")
    hook.run(f"DROP TABLE {table}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_statement_rolls_the_run_back(backend, request) -> None:
    hook = request.getfixturevalue(backend)
    table = getattr(hook, "table_prefix", "") + "hook_tx"
    hook.run(f"DROP TABLE IF EXISTS {table}")
    hook.run(f"CREATE TABLE {table} (id INTEGER)")
    with pytest.raises(SqlHookError, match=r"statement failed.*\nSQL: SELECT nope"):
        hook.run([f"INSERT INTO {table} VALUES (1)", "SELECT nope FROM no_such_table"])
    assert hook.get_records(f"SELECT * FROM {table}") == []
    # With autocommit the first statement stays.
    with pytest.raises(SqlHookError):
        hook.run([f"INSERT INTO {table} VALUES (1)", "SELECT nope FROM no_such_table"],
                 autocommit=True)
    assert hook.get_records(f"SELECT * FROM {table}") == [(1,)]
    hook.run(f"DROP TABLE {table}")


@pytest.mark.postgresql
def test_wrong_password_names_the_conn_id_and_hides_the_password(pg_url, monkeypatch) -> None:
    url = make_url(pg_url)
    _set_conn(monkeypatch, "pg_bad", conn_type="postgresql", host=url.host, port=url.port,
              login="no_such_role_x", password="hunter2-secret", schema=url.database)
    hook = PostgresHook(postgres_conn_id="pg_bad")
    with pytest.raises(SqlHookError) as caught:
        hook.get_records("SELECT 1")
    message = str(caught.value)
    assert "connection 'pg_bad'" in message and "could not connect" in message
    assert "no_such_role_x" in message and "hunter2-secret" not in message
    ok, why = hook.test_connection()
    assert not ok and "pg_bad" in why


@pytest.mark.mysql
def test_unreachable_mariadb_host_fails_with_the_conn_id(mysql_url, monkeypatch) -> None:
    _set_conn(monkeypatch, "maria_down", conn_type="mysql", host="127.0.0.1", port=1,
              login="root", password="pw-never-shown")
    with pytest.raises(SqlHookError, match="connection 'maria_down'.*could not connect") as c:
        MySqlHook(mysql_conn_id="maria_down").get_first("SELECT 1")
    assert "pw-never-shown" not in str(c.value)


def test_urls_from_connections(monkeypatch, tmp_path) -> None:
    _set_conn(monkeypatch, "u_pg", conn_type="postgres", host="db", port=5433, login="me",
              password="p@ss", schema="sales")
    _set_conn(monkeypatch, "u_raw", conn_type="whatever",
              extra={"sqlalchemy_url": f"sqlite:///{tmp_path / 'x.db'}"})
    _set_conn(monkeypatch, "u_ftp", conn_type="ftp", host="files")
    assert DbApiHook("u_pg").get_uri() == "postgresql+psycopg://me:p%40ss@db:5433/sales"
    assert DbApiHook("u_pg", schema="other").sqlalchemy_url.database == "other"
    raw = DbApiHook(conn_id="u_raw")
    raw.run("CREATE TABLE t (x INTEGER)")
    assert raw.get_records("SELECT COUNT(*) FROM t") == [(0,)]
    with pytest.raises(SqlHookError, match="connection 'u_ftp'.*'ftp' is not a SQL database"):
        DbApiHook("u_ftp").get_records("SELECT 1")
    with pytest.raises(ConnectionNotFound, match="u_absent"):
        SqliteHook(sqlite_conn_id="u_absent").get_records("SELECT 1")


def test_get_hook_picks_the_class_by_conn_type(monkeypatch, tmp_path) -> None:
    _set_conn(monkeypatch, "by_type", conn_type="sqlite", host=str(tmp_path / "t.db"))
    _set_conn(monkeypatch, "by_type_pg", conn_type="postgresql", host="db")
    hook = BaseHook.get_hook("by_type")
    assert type(hook) is SqliteHook and hook.get_first("SELECT 7") == (7,)
    assert type(BaseHook.get_hook("by_type_pg")) is PostgresHook


def test_split_sql_string_keeps_quoted_semicolons() -> None:
    assert split_sql_string("INSERT INTO t VALUES ('a;b');\n-- only a comment;\n"
                            "SELECT 1;") == ["INSERT INTO t VALUES ('a;b')",
                                         "-- only a comment;\nSELECT 1"]
    assert split_sql_string("SELECT 1; -- trailing; note\n") == ["SELECT 1"]


@pytest.mark.mysql
def test_connections_test_knows_mariadb_like_the_hook(mysql_hook) -> None:
    # `daskflow connections test` and the hooks share one conn_type table.
    reached, message = mysql_hook.connection.test_connection()
    assert reached, message
    assert type(BaseHook.get_hook("maria")) is MySqlHook
