"""Tasks of a real run on Dask worker processes look connections and variables up in
the store of the run (here given to ``dag.test`` as ``db=``, not in ``DASKFLOW_DB``)."""

from __future__ import annotations

from datetime import datetime

import pytest

from daskflow import DAG, Variable
from daskflow.operators import BashOperator
from daskflow.store import ConnectionRecord, Store


@pytest.fixture
def run_store(db_url, monkeypatch, tmp_path):
    # The workers were started before this test: nothing here reaches their environment.
    monkeypatch.setenv("DASKFLOW_DB", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    monkeypatch.delenv("DASKFLOW_FERNET_KEY", raising=False)
    store = Store(db_url)
    store.init()
    yield store
    store.dispose()


def test_templates_on_workers_read_the_run_store(dask_client, db_url, run_store) -> None:
    run_store.set_connection(ConnectionRecord(conn_id="warehouse", conn_type="postgres",
                                              host="wh.local", port=5439))
    run_store.set_variable("region", "eu-west-1")
    with DAG("uses_secrets", start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="show", bash_command="echo {{ var.value.region }} "
                                                  "{{ conn.warehouse.host }}:"
                                                  "{{ conn.warehouse.port }}")
        BashOperator(task_id="missing", bash_command="echo {{ var.value.absent }}")
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert result.tasks["show"].state == "success", result.tasks["show"].error
    ti = run_store.get_task_instance("uses_secrets", result.run_id, "show")
    assert ti.rendered_fields["bash_command"] == '"echo eu-west-1 wh.local:5439"'
    error = result.tasks["missing"].error
    assert result.tasks["missing"].state == "failed"
    assert "variable 'absent' is not defined" in error and "DASKFLOW_VAR_ABSENT" in error


def test_callbacks_read_the_run_store_too(dask_client, db_url, run_store, tmp_path) -> None:
    run_store.set_variable("alert_channel", "#data-alerts")
    seen = tmp_path / "seen.txt"

    def on_failure(context):
        seen.write_text(context["var"].value.alert_channel + " " +
                        Variable.get("alert_channel"))

    with DAG("callback_secrets", start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="fails", bash_command="exit 1", on_failure_callback=on_failure)
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert result.tasks["fails"].state == "failed"
    assert seen.read_text() == "#data-alerts #data-alerts"


def test_a_connection_read_in_a_task_is_masked_in_its_log_and_rendering(
        dask_client, db_url, run_store) -> None:
    password = "s3cr3t-warehouse-pw-71"
    run_store.set_connection(ConnectionRecord(conn_id="masked_wh", conn_type="postgres",
                                              host="wh.local", login="etl",
                                              password=password))
    with DAG("masked_conn", start_date=datetime(2024, 1, 1)) as dag:
        BashOperator(task_id="leak", bash_command="echo pw={{ conn.masked_wh.password }}")
    result = dag.test(logical_date="2024-01-02", cluster=dask_client, db=db_url)
    assert result.tasks["leak"].state == "success", result.tasks["leak"].error
    log = run_store.get_log("masked_conn", result.run_id, "leak")
    ti = run_store.get_task_instance("masked_conn", result.run_id, "leak")
    assert "pw=***" in log and password not in log
    assert password not in str(ti.rendered_fields)
