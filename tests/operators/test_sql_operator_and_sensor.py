"""SQLExecuteQueryOperator and SqlSensor in real runs (dag.test on a LocalCluster) against
SQLite, PostgreSQL and MariaDB; connections are looked up in the run's store."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from daskflow import DAG
from daskflow.operators import PythonOperator, SQLExecuteQueryOperator
from daskflow.sensors import SqlSensor
from daskflow.store import ConnectionRecord


def _sqlite(request, run_store, tmp_path):
    run_store.set_connection(ConnectionRecord(conn_id="db", conn_type="sqlite",
                                              host=str(tmp_path / "data.db")))
    return "", "?"


def _postgres(request, run_store, tmp_path):
    url = make_url(request.getfixturevalue("pg_url"))
    run_store.set_connection(ConnectionRecord(conn_id="db", conn_type="postgres",
                                              host=url.host, port=url.port,
                                              login=url.username, schema=url.database))
    # A schema of the test's own: the session's schema (pg_url's search_path) holds
    # the metadata store tests, which must find exactly daskflow's tables there.
    schema = f"daskflow_sql_{os.getpid()}"
    engine = create_engine(url.set(query={}))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    request.addfinalizer(drop)
    return f'"{schema}".', "%s"


def _mariadb(request, run_store, tmp_path):
    url = make_url(request.getfixturevalue("mysql_url"))
    run_store.set_connection(ConnectionRecord(conn_id="db", conn_type="mariadb",
                                              host=url.host, port=url.port,
                                              login=url.username, schema=url.database))
    return "", "%s"


@pytest.fixture(params=[
    pytest.param(_sqlite, id="sqlite"),
    pytest.param(_postgres, id="postgresql", marks=pytest.mark.postgresql),
    pytest.param(_mariadb, id="mariadb", marks=pytest.mark.mysql),
])
def database(request, run_store, tmp_path):
    """The connection ``db`` in the run's store: (table prefix, placeholder)."""
    return request.param(request, run_store, tmp_path)


def _save(rows, path):
    with open(path, "w") as out:
        json.dump(rows, out)


def test_create_load_wait_and_query(dask_client, db_url, run_store, database, tmp_path):
    prefix, mark = database
    table = f"{prefix}sql_orders"
    (tmp_path / "create.sql").write_text(
        "CREATE TABLE {{ params.table }} (id INTEGER PRIMARY KEY, name VARCHAR(20), "
        "amount DECIMAL(8, 2))")
    out = tmp_path / "rows.json"
    with DAG("sql_pipeline", start_date=datetime(2024, 1, 1),
             template_searchpath=str(tmp_path), params={"table": table}) as dag:
        drop = SQLExecuteQueryOperator(task_id="drop", conn_id="db",
                                       sql=f"DROP TABLE IF EXISTS {table}")
        create = SQLExecuteQueryOperator(task_id="create", conn_id="db", sql="create.sql")
        load = SQLExecuteQueryOperator(
            task_id="load", conn_id="db", split_statements=True,
            sql=f"INSERT INTO {table} VALUES (1, 'ann', 10.50);"
                f"INSERT INTO {table} VALUES (2, 'bob', 3);"
                f"INSERT INTO {table} VALUES (3, 'cy', 7.25)")
        wait = SqlSensor(task_id="wait", conn_id="db", poke_interval=0.2, timeout=60,
                         sql=f"SELECT COUNT(*) FROM {table}", success=lambda n: n >= 3)
        query = SQLExecuteQueryOperator(
            task_id="query", conn_id="db", show_return_value_in_logs=True,
            sql=f"SELECT id, name, amount FROM {table} WHERE amount > {mark} ORDER BY id",
            parameters=(5,))
        save = PythonOperator(task_id="save", python_callable=_save,
                              op_args=[query.output, str(out)])
        drop >> create >> load >> wait >> query >> save
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert {t: r.state for t, r in result.tasks.items()} == dict.fromkeys(
        ["drop", "create", "load", "wait", "query", "save"], "success"), \
        {t: r.error for t, r in result.tasks.items()}
    assert json.loads(out.read_text()) == [[1, "ann", 10.5], [3, "cy", 7.25]]
    log = run_store.get_log("sql_pipeline", result.run_id, "query")
    assert "[[1, 'ann', 10.5], [3, 'cy', 7.25]]" in log
    ti = run_store.get_task_instance("sql_pipeline", result.run_id, "create")
    assert json.loads(ti.rendered_fields["sql"]).startswith(f"CREATE TABLE {table} (id INT")


@pytest.mark.postgresql  # the wrong credentials are tried on the PostgreSQL server
def test_bad_sql_bad_credentials_and_missing_connections_fail_clearly(
        dask_client, db_url, run_store, tmp_path, pg_url):
    run_store.set_connection(ConnectionRecord(conn_id="lite", conn_type="sqlite",
                                              host=str(tmp_path / "x.db")))
    url = make_url(pg_url)
    run_store.set_connection(ConnectionRecord(
        conn_id="pg_wrong", conn_type="postgresql", host=url.host, port=url.port,
        login="nobody_here_x", password="pw-5ecret-91", schema=url.database))
    run_store.set_connection(ConnectionRecord(conn_id="not_sql", conn_type="ftp",
                                              host="files.local"))
    with DAG("sql_failures", start_date=datetime(2024, 1, 1)) as dag:
        SQLExecuteQueryOperator(task_id="bad_sql", conn_id="lite", retries=1, retry_delay=0,
                                sql="SELECT * FROM no_such_table")
        SQLExecuteQueryOperator(task_id="bad_login", conn_id="pg_wrong", sql="SELECT 1")
        SQLExecuteQueryOperator(task_id="no_conn", conn_id="absent_db", sql="SELECT 1")
        SQLExecuteQueryOperator(task_id="not_sql", conn_id="not_sql", sql="SELECT 1")
        SqlSensor(task_id="failure_met", conn_id="lite", sql="SELECT 5", poke_interval=0.1,
                  failure=lambda v: v > 3, timeout=30)
        SqlSensor(task_id="empty", conn_id="lite", poke_interval=0.1, timeout=30,
                  sql="SELECT 1 WHERE 1 = 0", fail_on_empty=True)
        SqlSensor(task_id="zero_times_out", conn_id="lite", poke_interval=0.1, timeout=1,
                  sql="SELECT 0")
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    tasks = result.tasks
    assert {t: r.state for t, r in tasks.items()} == dict.fromkeys(tasks, "failed")
    assert tasks["bad_sql"].try_number == 2
    assert "connection 'lite'" in tasks["bad_sql"].error
    assert "no such table: no_such_table" in tasks["bad_sql"].error
    bad_login = tasks["bad_login"].error
    assert "connection 'pg_wrong'" in bad_login and "could not connect" in bad_login
    assert "pw-5ecret-91" not in bad_login
    assert "pw-5ecret-91" not in run_store.get_log("sql_failures", result.run_id, "bad_login")
    assert "absent_db" in tasks["no_conn"].error
    assert "failure(5) is true" in tasks["failure_met"].error
    assert "returned no rows" in tasks["empty"].error
    assert tasks["zero_times_out"].error.startswith("SensorTimeout: sensor 'zero_times_out'")
    assert "connection 'not_sql'" in tasks["not_sql"].error
    assert "no hook knows conn_type 'ftp'" in tasks["not_sql"].error
