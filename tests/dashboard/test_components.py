"""Each page's components on their Bokeh data, read from a real run's store and cluster.

The run (``monitored_dag.py``) has a task that fails, one that succeeds on
its second try, a mapped task and a secret printed after ``mask_secret``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from monitored_dag import FAILURE, SECRET

from daskflow.dashboard.code import Source
from daskflow.dashboard.dags import DagList, ImportErrors
from daskflow.dashboard.grid import RunGrid
from daskflow.dashboard.grid_model import decode
from daskflow.dashboard.task import Instance, dask_side_html, key_prefix
from daskflow.store import Store
from daskflow.store.records import TaskInstanceRecord

pytestmark = pytest.mark.slow


def _shown(component):
    component.show(component.read())
    return component


def test_run_states_as_expected(finished_run):
    _, result = finished_run
    assert result.state == "failed"
    assert {name: t.state for name, t in result.tasks.items()} == {
        "fetch": "success", "gate": "success", "flaky": "success", "broken": "failed",
        "echo": "success", "split": "success",
        "work[0]": "success", "work[1]": "success", "work[2]": "success"}


def test_dag_list_shows_the_dag_with_its_last_run(finished_run):
    url, _ = finished_run
    data = _shown(DagList(url)).source.data
    row = data["dag_id"].index("monitored")
    assert data["schedule"][row] == "@daily" and data["paused"][row] == "active"
    assert data["owner"][row] == "ada" and data["tags"][row] == "dashboard, test"
    assert data["runs"][row].count("<span") == 1 and "failed" in data["runs"][row]
    assert 'href="daskflow/grid?dag_id=monitored"' in data["link"][row]
    Store(url).set_import_errors({"/dags/bad.py": "SyntaxError: nope"}, None)
    assert "SyntaxError: nope" in _shown(ImportErrors(url)).div.text


def test_grid_has_one_cell_per_task_and_the_mapped_task_aggregated(finished_run):
    url, result = finished_run
    grid = _shown(RunGrid("monitored", url))
    tasks = grid.tasks.data["task_id"]
    assert tasks[:2] == ["fetch", "gate"]  # the DAG's order: upstream first
    assert sorted(tasks[2:]) == ["broken", "echo", "flaky", "split", "work"]
    states = decode(grid.cells.data, tasks, [result.run_id])
    assert len(states) == 7 and states[(result.run_id, "broken")] == "failed"
    cells = {grid.cell(i)[1]: grid.cell(i) for i in range(len(grid.cells.data["x"]))}
    assert cells["work"][2:] == (True, "success 3") and cells["broken"][2] is False
    flaky = tasks.index("flaky")
    assert grid.cells.data["tries"][list(grid.cells.data["y"]).index(flaky)] == 2
    assert grid.runs.data["run_id"] == [result.run_id]
    assert grid.runs.data["state"] == ["failed"]
    assert "daskflow/gantt?dag_id=monitored" in grid.header.text


def test_a_refresh_rereads_only_runs_that_changed(finished_run):
    url, result = finished_run
    grid = _shown(RunGrid("monitored", url))
    first = grid.data
    store = Store(url)
    store.create_dag_run("monitored", "later", result.logical_date + timedelta(days=1), None,
                         None, "manual", None, state="running")
    store.create_task_instances([TaskInstanceRecord("monitored", "later", "fetch",
                                                    state="running")])
    grid.show(grid.read())
    assert grid.runs.data["run_id"] == ["later", result.run_id]
    states = decode(grid.cells.data, grid.tasks.data["task_id"], grid.runs.data["run_id"])
    assert states[("later", "fetch")] == "running" and states[(result.run_id, "broken")] == "failed"
    assert grid.data is not first
    store.delete_dag_run("monitored", "later")


def test_task_instance_shows_attempts_error_log_and_templates(finished_run):
    url, result = finished_run
    broken = _shown(Instance("monitored", result.run_id, "broken", url=url))
    assert f"OSError: {FAILURE}" in broken.log.text
    assert broken.attempts.data["state"] == ["failed"]
    flaky = _shown(Instance("monitored", result.run_id, "flaky", url=url))
    assert flaky.attempts.data["try_number"] == [1, 2]
    assert flaky.attempts.data["state"] == ["up_for_retry", "success"]
    assert "RuntimeError: first try of flaky fails" in flaky.attempts.data["error"][0]
    assert flaky.try_select.options == ["latest", "1", "2"]
    flaky.try_select.value = "1"
    assert "first try of flaky fails" in _shown(flaky).log.text
    echo = _shown(Instance("monitored", result.run_id, "echo", url=url))
    assert "echo run of 20" in echo.templates.text  # {{ ds }} rendered
    mapped = _shown(Instance("monitored", result.run_id, "work", 2, url=url))
    assert "working on 3" in mapped.log.text and "30" in mapped.xcoms.text


def test_the_log_shows_the_secret_masked(finished_run):
    url, result = finished_run
    fetch = _shown(Instance("monitored", result.run_id, "fetch", url=url))
    assert "fetched the password ***" in fetch.log.text
    assert SECRET not in fetch.log.text


def test_dask_side_names_the_prefix_the_scheduler_grouped_the_task_under(finished_run,
                                                                         dask_client):
    scheduler = dask_client.cluster.scheduler
    prefix = key_prefix("monitored", "broken")
    assert prefix in scheduler.task_prefixes  # the keys really were named so
    text = dask_side_html(scheduler, prefix)
    assert f'href="profile?key={prefix}"' in text and "individual-task-stream" in text
    assert "no keys of this prefix" in dask_side_html(scheduler, "monitored.nothing")


def test_code_is_the_version_the_run_was_created_from(finished_run):
    url, result = finished_run
    text = _shown(Source("monitored", result.run_id, url)).div.text
    assert "def _broken" in text and "The version run" in text
    assert "has no run" in _shown(Source("monitored", "nope", url)).div.text
