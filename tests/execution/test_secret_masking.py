"""Secrets registered inside tasks never reach the store: runs on a real LocalCluster.

A task fetches a secret, registers it with ``mask_secret`` and then does
everything that could leak it: prints it (whole and in pieces), logs it,
pushes and returns it. Downstream tasks, possibly on the other worker
process, render it into templated fields, print it and fail with it in the
message. The store's API and the raw bytes of the SQLite file must show
``***`` where the secret was, never the secret.

The secret is assembled inside the task, so the DAG's stored code and
params never hold it whole.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import cloudpickle

from daskflow import DAG, mask_secret
from daskflow.execution.node import NodeSpec, _rendered_display, _xcom_display, run_node
from daskflow.execution.outcome import Outcome
from daskflow.execution.report import Report
from daskflow.models.context import DagRunInfo, get_current_context
from daskflow.models.state import TaskInstanceState
from daskflow.operators import BashOperator, EmptyOperator, PythonOperator
from daskflow.secrets import redact
from daskflow.store import Store

cloudpickle.register_pickle_by_value(sys.modules[__name__])

SECRET = "hunter2" + "-secret"
PULL = "{{ ti.xcom_pull(task_ids='fetch')['pw'] }}"


def _fetch() -> dict:
    secret = "".join(["hunt", "er2", "-sec", "ret"])
    mask_secret(secret)
    print("fetched", secret)
    print(secret[:4], end="")
    print(secret[4:])
    logging.getLogger("user.code").warning("logged %s", secret)
    get_current_context()["ti"].xcom_push(key="pw", value=secret)
    return {"user": "ada", "pw": secret}


def _use(pw: str) -> None:
    print("using", pw)
    raise ValueError(f"login refused for {pw}")


def _dag() -> DAG:
    with DAG("masked") as dag:
        fetch = PythonOperator(task_id="fetch", python_callable=_fetch)
        use = PythonOperator(task_id="use", python_callable=_use, op_kwargs={"pw": PULL})
        say = BashOperator(task_id="say", bash_command=f"echo token={PULL}")
        fetch >> [use, say]
    return dag


def _sqlite_path(db_url: str) -> Path:
    return Path(db_url.removeprefix("sqlite:///"))


def _all_text(db_url: str) -> str:
    """Every value of every table of the SQLite file, as text."""
    with sqlite3.connect(_sqlite_path(db_url)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for t in tables for row in conn.execute(f'SELECT * FROM "{t}"')]
    return "\n".join(rows)


def test_a_registered_secret_never_reaches_the_store(dask_client, db_url):
    result = _dag().test(cluster=dask_client, db=db_url)

    assert {n: t.state for n, t in result.tasks.items()} == {
        "fetch": "success", "use": "failed", "say": "success"}
    assert result.tasks["use"].error == "ValueError: login refused for ***"

    store = Store(db_url)
    run_id = result.run_id
    logs = {a.task_id: store.get_log("masked", run_id, a.task_id, a.map_index, a.try_number)
            for a in store.list_run_attempts("masked", run_id)}
    assert "fetched ***" in logs["fetch"] and "logged ***" in logs["fetch"]
    assert "\n***\n" in logs["fetch"]  # printed in two pieces, hidden whole
    assert "using ***" in logs["use"] and "ValueError: login refused for ***" in logs["use"]
    assert "token=***" in logs["say"]
    errors = {a.task_id: a.error for a in store.list_run_attempts("masked", run_id)}
    assert errors["use"] == "ValueError: login refused for ***"
    rendered = {ti.task_id: ti.rendered_fields for ti in store.list_task_instances("masked",
                                                                                 run_id)}
    assert rendered["say"]["bash_command"] == '"echo token=***"'
    assert "***" in rendered["use"]["op_kwargs"]
    xcoms = {x.key: x.value for x in store.list_xcoms("masked", run_id, "fetch")}
    assert xcoms["pw"] == '"***"'
    assert xcoms["return_value"] == '{"user": "ada", "pw": "***"}'

    assert SECRET not in _all_text(db_url)
    for path in _sqlite_path(db_url).parent.glob(_sqlite_path(db_url).name + "*"):
        assert SECRET.encode() not in path.read_bytes(), path


def _echo(pw: str) -> int:
    print("received", pw)
    return len(pw)


def test_secrets_travel_with_an_outcome_to_a_node_on_another_worker(dask_client):
    """A worker that never registered a secret hides it once an upstream outcome carries it."""
    secret = f"travel-{uuid.uuid4().hex}"
    day = datetime(2024, 1, 1, tzinfo=timezone.utc)
    run = DagRunInfo(dag_id="travel", run_id="r", logical_date=day, data_interval_start=day,
                     data_interval_end=day)
    with DAG("travel"):
        up = EmptyOperator(task_id="up")
        down = PythonOperator(task_id="down", python_callable=_echo,
                              op_kwargs={"pw": "{{ ti.xcom_pull(task_ids='up') }}"})
        up >> down
    upstream = Outcome(task_id="up", map_index=-1, state=TaskInstanceState.SUCCESS,
                       value=secret, secrets=(secret,))
    topic = f"daskflow-test-{uuid.uuid4().hex}"
    spec = NodeSpec(task=down, run=run, topic=topic, upstream_ids=("up",))
    worker = sorted(dask_client.scheduler_info()["workers"])[-1]
    assert dask_client.run(redact, secret, workers=[worker]) == {worker: secret}

    outcome = dask_client.submit(run_node, spec, upstream, workers=[worker],
                                 pure=False).result(timeout=60)

    assert outcome.state is TaskInstanceState.SUCCESS and outcome.value == len(secret)
    assert secret in outcome.secrets  # handed on again to the tasks below
    assert dask_client.run(redact, secret, workers=[worker]) == {worker: "***"}
    [end] = [Report.from_wire(msg) for _, msg in dask_client.get_events(topic)
             if msg.get("kind") == "end"]
    assert "received ***" in end.log and secret not in end.log
    assert end.rendered == {"op_kwargs": '{"pw": "***"}'}


def test_display_copies_mask_values_under_sensitive_names():
    """As Airflow does for rendered fields: a ``password`` key shows ``***`` unregistered."""
    rendered = {"op_kwargs": {"host": "db.example", "password": "plain-value"},
                "api_token": "tok-value", "op_args": ["x"]}
    assert _rendered_display(rendered) == {
        "op_kwargs": '{"host": "db.example", "password": "***"}',
        "api_token": '"***"', "op_args": '["x"]'}
    with DAG("display_names"):
        task = EmptyOperator(task_id="t")
    outcome = Outcome(task_id="t", map_index=-1, state=TaskInstanceState.SUCCESS,
                      value={"rows": 3, "secret": "kept-out"}, xcoms={"db_password": "pw-value"})
    assert _xcom_display(outcome, task) == {"db_password": '"***"',
                                            "return_value": '{"rows": 3, "secret": "***"}'}


def _read(path: str) -> None:
    with open(path) as f:
        print("read", f.read())


def test_secrets_the_loop_registered_are_hidden_on_the_workers(dask_client, db_url, tmp_path):
    """As when the process running the DAG read a connection: its nodes hide the password."""
    secret = f"loop-{uuid.uuid4().hex}"
    path = tmp_path / "password.txt"
    path.write_text(secret)
    mask_secret(secret)
    with DAG("loop_known") as dag:
        PythonOperator(task_id="read", python_callable=_read, op_kwargs={"path": str(path)})

    result = dag.test(cluster=dask_client, db=db_url)

    assert result.state == "success"
    log = Store(db_url).get_log("loop_known", result.run_id, "read", -1, 1)
    assert "read ***" in log
    for db_file in _sqlite_path(db_url).parent.glob(_sqlite_path(db_url).name + "*"):
        assert secret.encode() not in db_file.read_bytes()
