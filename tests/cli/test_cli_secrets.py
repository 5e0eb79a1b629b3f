"""Secrets in what the commands print: ``dags test``, ``tasks states``, ``tasks logs`` and
``tasks test``, through click's CliRunner on a real cluster (the session's LocalCluster).

The DAG file assembles its secret at run time and registers it with
``mask_secret`` inside the task, on a worker: the CLI process never learns it,
so what it prints is what the workers hid before anything reached the store.
``tasks test`` runs the task in the CLI process itself.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daskflow.cli.main import cli
from daskflow.secrets import redact

SECRET = "hunter2" + "-secret"
LOCAL_SECRET = "local" + "-hunter3"
DAG_FILE = '''
from daskflow import DAG, mask_secret
from daskflow.operators import BashOperator, PythonOperator


def fetch():
    secret = "".join(["hunt", "er2", "-sec", "ret"])
    mask_secret(secret)
    print("fetched", secret)
    return {"pw": secret}


def fetch_here():
    secret = "".join(["loc", "al-", "hunter3"])
    mask_secret(secret)
    print("fetched", secret)
    return {"pw": secret}


def use(pw):
    raise ValueError(f"login refused for {pw}")


with DAG("masked_cli") as dag:
    got = PythonOperator(task_id="fetch", python_callable=fetch)
    used = PythonOperator(task_id="use", python_callable=use,
                          op_kwargs={"pw": "{{ ti.xcom_pull(task_ids='fetch')['pw'] }}"})
    said = BashOperator(task_id="say",
                        bash_command="echo {{ ti.xcom_pull(task_ids='fetch')['pw'] }}")
    got >> [used, said]
    PythonOperator(task_id="fetch_here", python_callable=fetch_here)
'''


def invoke(env: dict[str, Any], *args: Any) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, Any]:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "masked_cli.py").write_text(DAG_FILE)
    return {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DAGS_FOLDER": str(dags),
            "DASKFLOW_DB": None, "CI": None}


def test_dags_test_tasks_states_and_logs_show_stars(env, dask_client):
    assert redact(SECRET) == SECRET  # this process does not know it: the workers hid it
    address = dask_client.cluster.scheduler_address
    ran = invoke(env, "dags", "test", "masked_cli", "--cluster", address, "-o", "json")
    data = json.loads(ran.stdout)
    assert data["tasks"]["use"]["error"] == "ValueError: login refused for ***"
    assert data["tasks"]["use"]["tries"][0]["error"] == "ValueError: login refused for ***"
    assert SECRET not in ran.stdout + ran.stderr

    run_id = data["run_id"]
    states = invoke(env, "tasks", "states", "masked_cli", run_id, "-o", "json")
    rows = {r["task_id"]: r for r in json.loads(states.stdout)}
    assert rows["use"]["error"] == "ValueError: login refused for ***"
    table = invoke(env, "tasks", "states", "masked_cli", run_id)
    assert "ValueError: login refused for ***" in table.stdout
    logs = [invoke(env, "tasks", "logs", "masked_cli", run_id, t, *o)
            for t in ("fetch", "use", "say") for o in ((), ("-o", "json"))]
    assert "fetched ***" in logs[0].stdout and "***" in json.loads(logs[5].stdout)["log"]
    for result in (states, table, *logs):
        assert SECRET not in result.stdout + result.stderr


def test_tasks_test_hides_what_the_task_prints_and_returns(env):
    table = invoke(env, "tasks", "test", "masked_cli", "fetch_here")
    assert "fetched ***" in table.stdout and "Returned value: {'pw': '***'}" in table.stdout
    as_json = invoke(env, "tasks", "test", "masked_cli", "fetch_here", "-o", "json")
    assert json.loads(as_json.stdout)["return_value"] == {"pw": "***"}
    for result in (table, as_json):
        assert LOCAL_SECRET not in result.stdout + result.stderr
