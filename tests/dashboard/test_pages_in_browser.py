"""Every daskflow page opened in headless Chromium on the embedded cluster's dashboard.

One run of ``monitored`` is watched while it is held at its ``gate`` task
(the grid shows it running, then failed once the gate opens), and then each
page is checked for what a user must see: DAG ids, states, the failed
task's error in its log, the secret masked, the DAG's code, and the
navigation bar's entry from Dask's own pages.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import dask.config
import pytest
from browser import bokeh_data, browser, open_page, wait_for_text
from monitored_dag import FAILURE, SECRET, build

from daskflow.dashboard.grid_model import decode
from daskflow.execution.cluster import connect, dashboard_url
from daskflow.execution.single_run import run_once
from daskflow.store import Store

pytestmark = pytest.mark.slow


class Run:
    """The monitored DAG running in a thread, held at ``gate`` until :meth:`open_gate`."""

    def __init__(self, client: Any, folder: Any) -> None:
        self.url = f"sqlite:///{folder / 'daskflow.db'}"
        self.gate = folder / "gate"
        self.result: Any = None
        dag = build(str(folder / "flaky-flag"), str(self.gate))
        self.thread = threading.Thread(target=self._run, args=(dag, client), daemon=True)
        self.thread.start()

    def _run(self, dag: Any, client: Any) -> None:
        self.result = run_once(dag, cluster=client, db=self.url)

    def open_gate(self) -> None:
        self.gate.touch()

    def finished(self) -> Any:
        self.open_gate()
        self.thread.join(timeout=120)
        assert self.result is not None, "the run did not finish"
        return self.result


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, Run, Any]]:
    """(dashboard root URL, the run, headless Chromium)."""
    with connect(workers=2, threads_per_worker=1) as client:
        root = dashboard_url(client).rsplit("/", 1)[0]
        run = Run(client, tmp_path_factory.mktemp("browser"))
        try:
            with browser() as chromium:
                yield root, run, chromium
        finally:
            run.finished()


def _grid_states(page: Any) -> dict[str, str]:
    """``{task_id: state}`` of the newest run, from the grid's data as the browser holds it."""
    tasks = bokeh_data(page, "grid-tasks")["task_id"]
    runs = bokeh_data(page, "grid-runs")["run_id"]
    states = decode(bokeh_data(page, "grid-cells"), tasks, runs)
    return {task: state for (run_id, task), state in states.items() if run_id == runs[0]}


def _cell_index(page: Any, task_id: str) -> int:
    tasks = bokeh_data(page, "grid-tasks")["task_id"]
    return bokeh_data(page, "grid-cells")["y"].index(tasks.index(task_id))


def _task_url(root: str, run_id: str, task_id: str) -> str:
    return f"{root}/daskflow/task?dag_id=monitored&run_id={quote(run_id)}&task_id={task_id}"


def test_the_grid_follows_the_run_while_it_is_active(served):
    root, run, chromium = served
    page = open_page(chromium, f"{root}/daskflow/grid?dag_id=monitored", "(running)")
    states = _grid_states(page)
    assert states["fetch"] == "success" and states["gate"] == "running"
    assert "broken" not in states or states["broken"] in ("none", "scheduled", "queued")
    run_id = bokeh_data(page, "grid-runs")["run_id"][0]
    gate = open_page(chromium, _task_url(root, run_id, "gate"), "Run state")
    assert bokeh_data(gate, "attempts")["state"] in ([], ["running"])
    gate.get_by_text("running").first.wait_for()
    run.open_gate()
    wait_for_text(page, "(failed)", timeout_s=120)  # the header, refreshed by the server
    gate.wait_for_function("""() => {
        const source = Bokeh.documents[0].get_model_by_name("attempts");
        const data = source.data;
        const states = data instanceof Map ? data.get("state") : data.state;
        return states && states[0] === "success";
    }""", timeout=120_000)
    gate.close()
    states = _grid_states(page)
    assert states["broken"] == "failed" and states["gate"] == "success"
    assert bokeh_data(page, "grid-runs")["state"] == ["failed"]
    page.close()


def test_the_navigation_bar_leads_from_dasks_pages_to_the_dag_list(served):
    root, run, chromium = served
    run.finished()
    Store(run.url).set_import_errors({"/dags/broken_file.py": "NameError: name 'oops' is "
                                      "not defined"}, None)
    page = open_page(chromium, f"{root}/status", "Daskflow")
    page.get_by_role("link", name="Daskflow").click()
    wait_for_text(page, "monitored")
    data = bokeh_data(page, "dags")
    assert data["dag_id"] == ["monitored"] and data["schedule"] == ["@daily"]
    assert page.locator("span[title*='failed']").count() == 1  # the run's dot
    wait_for_text(page, "NameError: name 'oops' is not defined")  # the import error
    wait_for_text(page, "/dags/broken_file.py")
    page.close()


def test_a_mapped_cell_expands_and_an_unmapped_cell_opens_its_instance(served):
    root, run, chromium = served
    result = run.finished()
    page = open_page(chromium, f"{root}/daskflow/grid?dag_id=monitored", "(failed)")
    select = """([name, i]) => {
        Bokeh.documents[0].get_model_by_name(name).selected.indices = [i]; }"""
    page.evaluate(select, ["grid-cells", _cell_index(page, "work")])
    wait_for_text(page, "work[2]")
    assert bokeh_data(page, "mapped-instances")["state"] == ["success"] * 3
    page.evaluate(select, ["grid-cells", _cell_index(page, "broken")])
    page.wait_for_url("**/daskflow/task?*task_id=broken*")
    wait_for_text(page, FAILURE)
    wait_for_text(page, result.run_id)
    page.close()


def test_the_failed_task_shows_its_error_and_attempts(served):
    root, run, chromium = served
    result = run.finished()
    page = open_page(chromium, _task_url(root, result.run_id, "broken"), f"OSError: {FAILURE}")
    assert bokeh_data(page, "attempts")["state"] == ["failed"]
    page.close()
    page = open_page(chromium, _task_url(root, result.run_id, "flaky"), "second try")
    assert bokeh_data(page, "attempts")["state"] == ["up_for_retry", "success"]
    wait_for_text(page, "Profile of monitored.flaky")
    page.close()


def test_the_log_shows_the_secret_masked(served):
    root, run, chromium = served
    result = run.finished()
    page = open_page(chromium, _task_url(root, result.run_id, "fetch"),
                     "fetched the password ***")
    assert page.get_by_text(SECRET).count() == 0  # get_by_text looks inside Bokeh's shadow DOMs
    assert page.get_by_text("fetched the password").count() == 1
    page.close()


def test_the_code_page_shows_the_runs_dag_source(served):
    root, run, chromium = served
    result = run.finished()
    url = f"{root}/daskflow/code?dag_id=monitored&run_id={quote(result.run_id)}"
    page = open_page(chromium, url, "def _broken")
    wait_for_text(page, "The version run")
    page.close()


def test_actions_need_the_token_and_then_write_the_store(served):
    root, run, chromium = served
    result = run.finished()
    url = _task_url(root, result.run_id, "broken")
    page = open_page(chromium, url, FAILURE)
    assert page.get_by_role("button", name="Mark success").count() == 0  # read-only default
    page.close()
    settings = {"daskflow.dashboard.actions": True, "daskflow.dashboard.token": "let-me-in"}
    with dask.config.set(settings):
        page = open_page(chromium, url, FAILURE)
        page.get_by_placeholder("dashboard token").fill("guess")
        page.get_by_role("button", name="Mark success").click()
        wait_for_text(page, "Refused: wrong token")
        assert Store(run.url).get_task_instance("monitored", result.run_id,
                                                "broken").state == "failed"
        page.get_by_placeholder("dashboard token").fill("let-me-in")
        page.get_by_role("button", name="Mark success").click()
        wait_for_text(page, "marked broken success")
        assert Store(run.url).get_task_instance("monitored", result.run_id,
                                                "broken").state == "success"
        page.close()
        page = open_page(chromium, f"{root}/daskflow/grid?dag_id=monitored", "· active ·")
        page.get_by_placeholder("dashboard token").fill("let-me-in")
        page.get_by_role("button", name="Pause", exact=True).click()
        wait_for_text(page, "DAG monitored paused")
        wait_for_text(page, "· paused ·")  # the header, on the next refresh
        assert Store(run.url).get_dag("monitored").is_paused
        page.close()
