"""Looking connections and variables up: the environment first, then the metadata store
(real SQLite and PostgreSQL), and ``var``/``conn`` in a task's templates."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dask.config
import pytest
from cryptography.fernet import Fernet

from daskflow import DAG
from daskflow.exceptions import ConnectionNotFound, DaskflowError, VariableNotFound
from daskflow.execution.node import run_attempt
from daskflow.models.context import DagRunInfo
from daskflow.operators import BashOperator, PythonOperator
from daskflow.secrets import Connection, Variable, add_secret_listener, lookup
from daskflow.secrets.sensitive import remove_secret_listener
from daskflow.store import ConnectionRecord, Store

KEY = Fernet.generate_key().decode()
DAY = datetime(2024, 5, 6, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store(request, tmp_path, monkeypatch):
    """The store tasks see: DASKFLOW_DB points at it, a Fernet key is set."""
    url = (request.getfixturevalue("pg_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'daskflow.db'}")
    for name in ("DASKFLOW_CONN_SALES", "DASKFLOW_VAR_REGION", "DASKFLOW_VAR_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DASKFLOW_DB", url)
    monkeypatch.setenv("DASKFLOW_FERNET_KEY", KEY)
    opened = Store(url)
    opened.reset()
    yield opened
    opened.dispose()
    lookup.forget_stores()


def test_a_connection_comes_from_the_store_decrypted(store) -> None:
    store.set_connection(ConnectionRecord(conn_id="sales", conn_type="postgres", host="db",
                                          login="me", password="pw", port=5432,
                                          extra='{"sslmode": "require"}'))
    c = Connection.get("sales")
    assert (c.host, c.login, c.password, c.port) == ("db", "me", "pw", 5432)
    assert c.extra_dejson == {"sslmode": "require"}


@pytest.mark.parametrize("value", [
    "mysql://env:pw@env-host:3306/x",
    json.dumps({"conn_type": "mysql", "host": "env-host", "login": "env", "port": 3306}),
])
def test_the_environment_wins_over_the_store(store, monkeypatch, value) -> None:
    store.set_connection(ConnectionRecord(conn_id="sales", conn_type="postgres", host="db"))
    monkeypatch.setenv("DASKFLOW_CONN_SALES", value)
    c = Connection.get("sales")
    assert (c.conn_type, c.host, c.login, c.port) == ("mysql", "env-host", "env", 3306)


def test_an_unknown_conn_id_names_every_place_looked(store) -> None:
    with pytest.raises(ConnectionNotFound) as info:
        Connection.get("nowhere")
    message = str(info.value)
    assert "connection 'nowhere' is not defined" in message
    assert "environment variable DASKFLOW_CONN_NOWHERE (not set)" in message
    assert "the metadata store" in message and "(no such connection)" in message


def test_a_missing_sqlite_store_is_said_and_not_created(tmp_path, monkeypatch) -> None:
    missing = tmp_path / "none.db"
    monkeypatch.setenv("DASKFLOW_DB", f"sqlite:///{missing}")
    with pytest.raises(VariableNotFound, match="the file does not exist"):
        Variable.get("region")
    assert not missing.exists()


def test_a_malformed_env_uri_names_the_conn_id(store, monkeypatch) -> None:
    monkeypatch.setenv("DASKFLOW_CONN_SALES", "postgres://u:pw@h:port/db")
    with pytest.raises(DaskflowError, match="connection 'sales': URI .* is not valid"):
        Connection.get("sales")


def test_variables_set_get_json_default_and_delete(store, monkeypatch) -> None:
    Variable.set("settings", {"retries": 3, "tags": ["a"]}, serialize_json=True,
                 description="job settings")
    Variable.set("region", "eu")
    assert Variable.get("settings", deserialize_json=True) == {"retries": 3, "tags": ["a"]}
    assert store.get_variable("settings").description == "job settings"
    assert store.get_variable("region").is_encrypted
    assert Variable.get("region") == "eu"
    monkeypatch.setenv("DASKFLOW_VAR_REGION", "us")  # the environment wins
    assert Variable.get("region") == "us"
    Variable.delete("settings")
    Variable.delete("settings")  # deleting what is not there is not an error
    assert Variable.get("settings", default_var={"d": 1}) == {"d": 1}
    with pytest.raises(KeyError) as info:
        Variable.get("settings")
    assert "variable 'settings' is not defined" in str(info.value)
    assert "DASKFLOW_VAR_SETTINGS (not set)" in str(info.value)


def test_a_variable_that_is_not_json_says_so(store) -> None:
    Variable.set("region", "eu")
    with pytest.raises(DaskflowError, match="variable 'region' is not valid JSON"):
        Variable.get("region", deserialize_json=True)


def test_listeners_hear_the_secrets_of_what_is_fetched(store) -> None:
    heard: list[str] = []
    add_secret_listener(heard.extend)
    try:
        store.set_connection(ConnectionRecord(conn_id="sales", conn_type="http",
                                              password="pw", extra='{"token": "tk"}'))
        Variable.set("api_token", "secret-1")
        Variable.set("region", "eu")
        Connection.get("sales")
        Variable.get("api_token")
        Variable.get("region")
    finally:
        remove_secret_listener(heard.extend)
    assert heard == ["pw", "tk", "secret-1"]


def _attempt(task):
    run = DagRunInfo(dag_id=task.dag_id, run_id="manual__1", logical_date=DAY,
                     data_interval_start=DAY, data_interval_end=DAY)
    return run_attempt(task, run, 1, -1, {}, show_traceback=False)


def test_templates_read_var_value_var_json_and_conn(store) -> None:
    store.set_connection(ConnectionRecord(conn_id="sales", conn_type="postgres", host="db",
                                          port=5432, login="me"))
    Variable.set("region", "eu")
    Variable.set("settings", {"retries": 3}, serialize_json=True)
    with DAG("templated"):
        task = BashOperator(task_id="t", bash_command=(
            "echo {{ var.value.region }} {{ var.json.settings.retries }} "
            "{{ conn.sales.host }}:{{ conn.sales.port }} {{ var.value.get('nope', 'dflt') }}"))
    attempt = _attempt(task)
    assert attempt.state == "success", attempt.error
    assert attempt.rendered["bash_command"] == "echo eu 3 db:5432 dflt"


def test_a_task_with_a_missing_variable_in_a_template_fails_naming_it(store) -> None:
    with DAG("templated"):
        task = BashOperator(task_id="t", bash_command="echo {{ conn.absent.host }}")
    attempt = _attempt(task)
    assert attempt.state == "failed"
    assert "template field 'bash_command'" in attempt.error
    assert "connection 'absent' is not defined" in attempt.error
    assert "DASKFLOW_CONN_ABSENT" in attempt.error


def test_lookups_are_lazy_and_callables_can_use_the_api(store, monkeypatch) -> None:
    monkeypatch.setenv("DASKFLOW_DB", "sqlite:////nonexistent/folder/x.db")
    lookup.forget_stores()

    def read_env_var():
        return Variable.get("region")

    monkeypatch.setenv("DASKFLOW_VAR_REGION", "from-env")
    with DAG("lazy"):
        plain = BashOperator(task_id="plain", bash_command="echo {{ ds }}")
        api = PythonOperator(task_id="api", python_callable=read_env_var)
    assert _attempt(plain).state == "success"  # no store needed when no template uses one
    attempt = _attempt(api)
    assert (attempt.state, attempt.value) == ("success", "from-env")


def test_an_env_value_can_be_read_with_a_fernet_key_set_but_no_store(monkeypatch) -> None:
    monkeypatch.setenv("DASKFLOW_CONN_API", "https://api.example.com")
    with dask.config.set({"daskflow.fernet-key": ""}):
        assert Connection.get("api").conn_type == "https"


def test_airflow_3_spellings_default_and_var_subscripts(store) -> None:
    Variable.set("region", "eu")
    assert Variable.get("absent", default=None) is None
    assert Variable.get("absent", default="x") == "x"
    with pytest.raises(DaskflowError, match="give default or default_var, not both"):
        Variable.get("absent", default_var=1, default=2)

    def reads_context(**context):
        var = context["var"]
        return var["value"].get("region"), var["json"].get("absent", default={"d": 1})

    with DAG("context_var"):
        task = PythonOperator(task_id="p", python_callable=reads_context)
    attempt = _attempt(task)
    assert (attempt.state, attempt.value) == ("success", ("eu", {"d": 1}))
