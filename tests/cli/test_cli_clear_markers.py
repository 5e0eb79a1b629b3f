"""``daskflow tasks clear`` follows ``ExternalTaskMarker``s into other DAGs, as Airflow does."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from daskflow.cli.main import cli
from daskflow.store import Store
from daskflow.store.records import TaskUpdate

DAY = datetime(2025, 5, 1, tzinfo=timezone.utc)

DAGS = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator
from daskflow.sensors import ExternalTaskMarker, ExternalTaskSensor

with DAG("parent", schedule="@daily", start_date=DAY):
    EmptyOperator(task_id="extract") >> ExternalTaskMarker(
        task_id="tell_child", external_dag_id="child", external_task_id="wait",
        recursion_depth={depth})

with DAG("child", schedule="@daily", start_date=DAY):
    wait = ExternalTaskSensor(task_id="wait", external_dag_id="parent",
                              external_task_id="tell_child")
    wait >> EmptyOperator(task_id="load") >> ExternalTaskMarker(
        task_id="tell_grandchild", external_dag_id="grandchild", external_task_id="report")
    EmptyOperator(task_id="unrelated")

with DAG("grandchild", schedule="@daily", start_date=DAY):
    EmptyOperator(task_id="report")
'''

TASKS = {"parent": ["extract", "tell_child"],
         "child": ["wait", "load", "tell_grandchild", "unrelated"],
         "grandchild": ["report"]}


def _recorded(tmp_path, depth: int) -> tuple[dict, Store]:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "family.py").write_text("from datetime import datetime, timezone\n"
                                      "DAY = datetime(2025, 5, 1, tzinfo=timezone.utc)\n"
                                      + textwrap.dedent(DAGS.format(depth=depth)))
    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = Store(db)
    store.init()
    for dag_id, task_ids in TASKS.items():
        run_id = f"scheduled__{DAY.isoformat()}"
        store.create_dag_run(dag_id, run_id, DAY, DAY, DAY, "scheduled", {}, state="success")
        store.apply_updates([TaskUpdate(dag_id, run_id, task_id, state="success")
                             for task_id in task_ids])
    env = {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DAGS_FOLDER": str(folder),
           "DASKFLOW_DB": db}
    return env, store


def _states(store: Store, dag_id: str) -> dict[str, str | None]:
    run_id = f"scheduled__{DAY.isoformat()}"
    return {t.task_id: t.state for t in store.list_task_instances(dag_id, run_id)}


def test_clearing_a_marker_clears_the_external_tasks_and_what_follows_them(tmp_path):
    env, store = _recorded(tmp_path, depth=10)
    result = CliRunner(env=env).invoke(
        cli, ["tasks", "clear", "parent", "-t", "^extract$", "-d", "--yes", "-o", "json"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    cleared = {(row["dag_id"], row["task_id"]) for row in json.loads(result.stdout)}
    assert cleared == {("parent", "extract"), ("parent", "tell_child"), ("child", "wait"),
                       ("child", "load"), ("child", "tell_grandchild"),
                       ("grandchild", "report")}
    assert _states(store, "child") == {"wait": None, "load": None, "tell_grandchild": None,
                                       "unrelated": "success"}
    assert _states(store, "grandchild") == {"report": None}
    assert store.list_dag_runs("child")[0].state == "queued"


def test_without_downstream_the_marker_is_not_cleared_nor_followed(tmp_path):
    env, store = _recorded(tmp_path, depth=10)
    result = CliRunner(env=env).invoke(
        cli, ["tasks", "clear", "parent", "-t", "^extract$", "--yes"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert set(_states(store, "child").values()) == {"success"}


@pytest.mark.parametrize("depth", [1])
def test_a_chain_deeper_than_recursion_depth_is_refused(tmp_path, depth):
    env, store = _recorded(tmp_path, depth=depth)
    result = CliRunner(env=env).invoke(
        cli, ["tasks", "clear", "parent", "-t", "^extract$", "-d", "--yes"])
    assert result.exit_code == 2
    assert "recursion_depth" in result.stderr
    assert set(_states(store, "parent").values()) == {"success"}
