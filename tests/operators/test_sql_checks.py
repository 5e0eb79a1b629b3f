"""The SQL check operators, BranchSQLOperator and GenericTransfer in real runs (dag.test on
a LocalCluster) against SQLite, PostgreSQL and MariaDB. Each check runs once on data it
accepts and once on data it refuses; connections are kept in the run's store."""

from __future__ import annotations

import os
import re
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from daskflow import DAG
from daskflow.exceptions import DagDefinitionError
from daskflow.operators import (
    BranchSQLOperator,
    EmptyOperator,
    GenericTransfer,
    SQLCheckOperator,
    SQLColumnCheckOperator,
    SQLExecuteQueryOperator,
    SQLIntervalCheckOperator,
    SQLTableCheckOperator,
    SQLThresholdCheckOperator,
    SQLValueCheckOperator,
)
from daskflow.store import ConnectionRecord


def _pg_connection(request, store, conn_id):
    """A PostgreSQL connection and a schema of the test's own (the session's schema
    holds the store tests' tables): returns the table prefix."""
    url = make_url(request.getfixturevalue("pg_url"))
    store.set_connection(ConnectionRecord(conn_id=conn_id, conn_type="postgres",
                                          host=url.host, port=url.port, login=url.username,
                                          schema=url.database))
    schema = f"daskflow_checks_{os.getpid()}"
    engine = create_engine(url.set(query={}))
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))

    def drop() -> None:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    request.addfinalizer(drop)
    return f'"{schema}".'


def _mariadb_connection(request, store, conn_id):
    url = make_url(request.getfixturevalue("mysql_url"))
    store.set_connection(ConnectionRecord(conn_id=conn_id, conn_type="mariadb",
                                          host=url.host, port=url.port, login=url.username,
                                          schema=url.database))
    return ""


def _sqlite_connection(request, store, conn_id):
    tmp_path = request.getfixturevalue("tmp_path")
    store.set_connection(ConnectionRecord(conn_id=conn_id, conn_type="sqlite",
                                          host=str(tmp_path / f"{conn_id}.db")))
    return ""


@pytest.fixture(params=[
    pytest.param(_sqlite_connection, id="sqlite"),
    pytest.param(_pg_connection, id="postgresql", marks=pytest.mark.postgresql),
    pytest.param(_mariadb_connection, id="mariadb", marks=pytest.mark.mysql),
])
def database(request, run_store):
    """The connection ``db`` in the run's store; returns the table prefix."""
    return request.param(request, run_store, "db")


#: Four orders on the run's day, three a week before.
ROWS = [("2024-01-02", 1, 40, "a"), ("2024-01-02", 2, 25, "b"), ("2024-01-02", 3, 20, None),
        ("2024-01-02", 4, 15, "d"), ("2023-12-26", 5, 30, "e"), ("2023-12-26", 6, 30, "f"),
        ("2023-12-26", 7, 20, "g")]


def _setup_sql(table: str) -> str:
    values = ", ".join(f"('{ds}', {i}, {amount}, {'NULL' if note is None else repr(note)})"
                       for ds, i, amount, note in ROWS)
    return (f"DROP TABLE IF EXISTS {table};"
            f"CREATE TABLE {table} (ds VARCHAR(10), id INTEGER, amount DECIMAL(8, 2), "
            f"note VARCHAR(10));"
            f"INSERT INTO {table} VALUES {values}")


@pytest.mark.slow  # 19 tasks, two of them retried: 4 to 20 s
def test_checks_accept_good_data_and_fail_bad_data_naming_query_and_values(
        dask_client, db_url, run_store, database):
    table = f"{database}orders"
    today = f"FROM {table} WHERE ds = '{{{{ ds }}}}'"
    with DAG("sql_checks", start_date=datetime(2024, 1, 1)) as dag:
        setup = SQLExecuteQueryOperator(task_id="setup", conn_id="db", split_statements=True,
                                        sql=_setup_sql(table))
        checks = [
            SQLCheckOperator(task_id="check_ok", conn_id="db",
                             sql=f"SELECT COUNT(*), SUM(amount) {today}"),
            SQLCheckOperator(task_id="check_bad", conn_id="db",
                             sql=f"SELECT COUNT(*) FROM {table} WHERE amount > 100"),
            SQLValueCheckOperator(task_id="value_ok", conn_id="db", pass_value=4,
                                  sql=f"SELECT COUNT(*) {today}"),
            SQLValueCheckOperator(task_id="value_tolerance_ok", conn_id="db",
                                  pass_value=95, tolerance=0.1, sql=f"SELECT SUM(amount) {today}"),
            SQLValueCheckOperator(task_id="value_bad", conn_id="db", pass_value=80,
                                  tolerance=0.1, sql=f"SELECT SUM(amount) {today}"),
            SQLValueCheckOperator(task_id="value_text_bad", conn_id="db", pass_value="z",
                                  sql=f"SELECT MAX(note) {today}"),
            SQLThresholdCheckOperator(task_id="threshold_ok", conn_id="db", min_threshold=1,
                                      max_threshold=f"SELECT COUNT(*) FROM {table}",
                                      sql=f"SELECT COUNT(*) {today}"),
            SQLThresholdCheckOperator(task_id="threshold_bad", conn_id="db", min_threshold=50,
                                      max_threshold=60, sql=f"SELECT SUM(amount) {today}"),
            SQLIntervalCheckOperator(task_id="interval_ok", conn_id="db", table=table,
                                     metrics_thresholds={"COUNT(*)": 1.5}),
            SQLIntervalCheckOperator(task_id="interval_bad", conn_id="db", table=table,
                                     days_back=7, ratio_formula="relative_diff",
                                     metrics_thresholds={"COUNT(*)": 0.5, "MAX(amount)": 0.1}),
            SQLColumnCheckOperator(
                task_id="columns_ok", conn_id="db", table=table,
                partition_clause="ds = '{{ ds }}'",
                column_mapping={"id": {"null_check": {"equal_to": 0},
                                       "unique_check": {"equal_to": 0},
                                       "distinct_check": {"geq_to": 4}},
                                "amount": {"min": {"greater_than": 0},
                                           "max": {"leq_to": 38, "tolerance": 0.1}},
                                "note": {"null_check": {"equal_to": 1}}}),
            SQLColumnCheckOperator(
                task_id="columns_bad", conn_id="db", table=table,
                column_mapping={"amount": {"max": {"less_than": 40}},
                                "note": {"null_check": {"equal_to": 0,
                                                        "partition_clause": "id < 10"}}}),
            SQLTableCheckOperator(task_id="table_ok", conn_id="db", table=table,
                                  partition_clause="ds = '{{ ds }}'",
                                  checks={"row_count": {"check_statement": "COUNT(*) = 4"},
                                          "positive": {"check_statement": "amount > 0"}}),
            SQLTableCheckOperator(
                task_id="table_bad", conn_id="db", table=table,
                checks={"small": {"check_statement": "amount < 35"},
                        "old_small": {"check_statement": "amount < 35",
                                      "partition_clause": "ds < '2024-01-01'"}}),
            SQLCheckOperator(task_id="no_retry", conn_id="db", retries=2, retry_delay=0,
                             retry_on_failure=False, sql=f"SELECT COUNT(*) {today} AND id > 99"),
            SQLCheckOperator(task_id="retried", conn_id="db", retries=1, retry_delay=0,
                             sql=f"SELECT id {today} AND id > 99"),
        ]
        branch = BranchSQLOperator(task_id="branch", conn_id="db",
                                   sql=f"SELECT COUNT(*) > 3 {today}",
                                   follow_task_ids_if_true="big_day",
                                   follow_task_ids_if_false=["small_day"])
        setup >> checks
        setup >> branch >> [EmptyOperator(task_id="big_day"), EmptyOperator(task_id="small_day")]
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    tasks = result.tasks
    states = {t: r.state for t, r in tasks.items()}
    good = [t for t in states if t.endswith("_ok")] + ["setup", "branch", "big_day"]
    assert {t: states[t] for t in good} == dict.fromkeys(good, "success"), \
        {t: tasks[t].error for t in good}
    assert states["small_day"] == "skipped"
    bad = [t for t in states if t.endswith("_bad")] + ["no_retry", "retried"]
    assert {t: states[t] for t in bad} == dict.fromkeys(bad, "failed")

    def error(task_id):
        return tasks[task_id].error

    assert error("check_bad").startswith("SQLCheckError: Test failed.")
    assert f"SELECT COUNT(*) FROM {table} WHERE amount > 100" in error("check_bad")
    assert "(0,)" in error("check_bad")
    assert "Pass value:80.0" in error("value_bad") and "Tolerance:10.0%" in error("value_bad")
    assert "SELECT SUM(amount) FROM" in error("value_bad") and "100" in error("value_bad")
    assert "Pass value:z" in error("value_text_bad") and "'d'" in error("value_text_bad")
    assert "Result: 100" in error("threshold_bad")
    assert "is not within thresholds 50.0 and 60.0" in error("threshold_bad")
    interval = error("interval_bad")
    assert "MAX(amount)" in interval and "'threshold': 0.1" in interval
    assert "COUNT(*)" not in interval.split("Queries:")[0]  # 4 vs 3: a ratio of 1/3 < 0.5
    assert "WHERE ds='2023-12-26'" in interval
    columns = error("columns_bad")
    assert "Column: amount" in columns and "'less_than': 40" in columns
    assert "Column: note" in columns
    # One NULL note: the result is 1 (a Decimal where the UNION makes the column numeric)
    assert re.search(r"'id < 10', 'result': (1|Decimal\('1(\.00)?'\)),", columns), columns
    assert "UNION ALL" in columns  # the query is shown
    table_error = error("table_bad")
    assert "Check: small," in table_error and "Check: old_small" not in table_error
    assert "'result': '0'" in table_error
    assert tasks["no_retry"].try_number == 1
    assert error("no_retry").startswith("SQLCheckFailedNoRetry: Test failed.")
    assert tasks["retried"].try_number == 2
    assert "returned zero rows" in error("retried")


def test_bad_definitions_name_the_task_and_the_option():
    with pytest.raises(DagDefinitionError, match="'i'.*ratio_formula.*'ratio'"):
        SQLIntervalCheckOperator(task_id="i", table="t", ratio_formula="ratio",
                                 metrics_thresholds={"COUNT(*)": 2})
    with pytest.raises(DagDefinitionError, match=r"'c'.*\['id'\]\['mean'\]: unknown check"):
        SQLColumnCheckOperator(task_id="c", table="t", column_mapping={"id": {"mean": {}}})
    with pytest.raises(DagDefinitionError, match="only one of greater_than and geq_to"):
        SQLColumnCheckOperator(task_id="c", table="t", column_mapping={
            "id": {"min": {"greater_than": 1, "geq_to": 1}}})
    with pytest.raises(DagDefinitionError, match="leave no value"):
        SQLColumnCheckOperator(task_id="c", table="t", column_mapping={
            "id": {"min": {"greater_than": 5, "less_than": 5}}})
    with pytest.raises(DagDefinitionError, match="'t'.*partition_clause.*';'"):
        SQLTableCheckOperator(task_id="t", table="t", partition_clause="1=1; DROP TABLE t",
                              checks={"c": {"check_statement": "1 = 1"}})
    with pytest.raises(DagDefinitionError, match="check_statement"):
        SQLTableCheckOperator(task_id="t", table="t", checks={"c": {}})
    with pytest.raises(DagDefinitionError, match="'b'.*follow_task_ids_if_true"):
        BranchSQLOperator(task_id="b", sql="SELECT 1", follow_task_ids_if_true=3,
                          follow_task_ids_if_false="x")


def test_branch_reads_words_and_refuses_other_answers(dask_client, db_url, run_store,
                                                      tmp_path):
    run_store.set_connection(ConnectionRecord(conn_id="lite", conn_type="sqlite",
                                              host=str(tmp_path / "b.db")))
    with DAG("sql_branch_words", start_date=datetime(2024, 1, 1)) as dag:
        word = BranchSQLOperator(task_id="word", conn_id="lite", sql="SELECT 'No'",
                                 follow_task_ids_if_true="yes_path",
                                 follow_task_ids_if_false="no_path")
        odd = BranchSQLOperator(task_id="odd", conn_id="lite", sql="SELECT 'maybe'",
                                follow_task_ids_if_true="a", follow_task_ids_if_false="b")
        empty = BranchSQLOperator(task_id="empty", conn_id="lite",
                                  sql="SELECT 1 WHERE 1 = 0",
                                  follow_task_ids_if_true="c", follow_task_ids_if_false="d")
        word >> [EmptyOperator(task_id="yes_path"), EmptyOperator(task_id="no_path")]
        odd >> [EmptyOperator(task_id="a"), EmptyOperator(task_id="b")]
        empty >> [EmptyOperator(task_id="c"), EmptyOperator(task_id="d")]
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    states = {t: r.state for t, r in result.tasks.items()}
    assert states == {"word": "success", "yes_path": "skipped", "no_path": "success",
                      "odd": "failed", "a": "upstream_failed", "b": "upstream_failed",
                      "empty": "failed", "c": "upstream_failed", "d": "upstream_failed"}
    assert "Unexpected query return result 'maybe'" in result.tasks["odd"].error
    assert "No rows returned" in result.tasks["empty"].error


def _double(rows, **context):
    return [(i, name, amount * 2, context["ds"]) for i, name, amount in rows]


def _transfer_dag(source_table: str, destination_table: str) -> DAG:
    with DAG("generic_transfer", start_date=datetime(2024, 1, 1)) as dag:
        GenericTransfer(
            task_id="copy", source_conn_id="source", destination_conn_id="destination",
            sql=f"SELECT id, name, amount FROM {source_table} ORDER BY id",
            destination_table=destination_table, page_size=2, rows_processor=_double,
            preoperator=[f"DROP TABLE IF EXISTS {destination_table}",
                         f"CREATE TABLE {destination_table} (id INTEGER, name VARCHAR(10), "
                         "amount DECIMAL(8, 2), ds VARCHAR(10))"],
            insert_args={"target_fields": ["id", "name", "amount", "ds"],
                         "commit_every": "{{ params.commit_every }}"},
            params={"commit_every": 2})
    return dag


def _fill_source(url: str, table: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(text(f"CREATE TABLE {table} (id INTEGER, name VARCHAR(10), "
                          "amount DECIMAL(8, 2))"))
        for i in range(1, 6):
            conn.execute(text(f"INSERT INTO {table} VALUES ({i}, 'n{i}', {i}.25)"))
    engine.dispose()


def _read(url: str, table: str) -> list[tuple]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT id, name, amount, ds FROM {table} ORDER BY id"))
        found = [(i, name, float(amount), ds) for i, name, amount, ds in rows]
    engine.dispose()
    return found


EXPECTED_TRANSFER = [(i, f"n{i}", (i + 0.25) * 2, "2024-01-02") for i in range(1, 6)]


def test_generic_transfer_pages_between_sqlite_files(dask_client, db_url, run_store,
                                                     tmp_path):
    source_url = f"sqlite:///{tmp_path / 'source.db'}"
    _fill_source(source_url, "sales")
    run_store.set_connection(ConnectionRecord(conn_id="source", conn_type="sqlite",
                                              host=str(tmp_path / "source.db")))
    run_store.set_connection(ConnectionRecord(conn_id="destination", conn_type="sqlite",
                                              host=str(tmp_path / "destination.db")))
    result = _transfer_dag("sales", "sales_copy").test(logical_date="2024-01-02",
                                                       cluster=dask_client, db=db_url)
    assert result.tasks["copy"].state == "success", result.tasks["copy"].error
    assert _read(f"sqlite:///{tmp_path / 'destination.db'}", "sales_copy") == EXPECTED_TRANSFER
    log = run_store.get_log("generic_transfer", result.run_id, "copy")
    assert "Transferred 5 row(s)" in log


@pytest.mark.postgresql
@pytest.mark.mysql
def test_generic_transfer_from_postgresql_to_mariadb(dask_client, db_url, run_store, request):
    prefix = _pg_connection(request, run_store, "source")
    _mariadb_connection(request, run_store, "destination")
    pg = make_url(request.getfixturevalue("pg_url")).set(query={})
    _fill_source(pg.render_as_string(hide_password=False), f"{prefix}sales")
    result = _transfer_dag(f"{prefix}sales", "sales_copy").test(
        logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert result.tasks["copy"].state == "success", result.tasks["copy"].error
    assert _read(request.getfixturevalue("mysql_url"), "sales_copy") == EXPECTED_TRANSFER


def test_generic_transfer_to_a_connection_that_is_no_database(dask_client, db_url, run_store,
                                                              tmp_path):
    run_store.set_connection(ConnectionRecord(conn_id="source", conn_type="sqlite",
                                              host=str(tmp_path / "s.db")))
    run_store.set_connection(ConnectionRecord(conn_id="destination", conn_type="http",
                                              host="example.com", password="http-pw-41"))
    result = _transfer_dag("sales", "sales_copy").test(logical_date="2024-01-02",
                                                       cluster=dask_client, db=db_url)
    error = result.tasks["copy"].error
    assert "task 'copy'" in error and "connection 'destination'" in error
    assert "not a SQL hook" in error and "http-pw-41" not in error


def test_generic_transfer_refuses_unknown_insert_args(run_store, tmp_path, monkeypatch):
    for conn_id in ("source", "destination"):
        monkeypatch.setenv(f"DASKFLOW_CONN_{conn_id.upper()}",
                           f"sqlite:///{tmp_path / conn_id}.db")
    transfer = GenericTransfer(task_id="copy", source_conn_id="source",
                               destination_conn_id="destination", sql="SELECT 1",
                               destination_table="t", insert_args={"executemany": True})
    with pytest.raises(ValueError, match=r"'copy': insert_args \['executemany'\].*commit_every"):
        transfer.execute({})
