"""The Graph and Gantt pages in headless Chromium, on the embedded cluster's dashboard.

A run of the monitored DAG (under its own id, ``watched``) is held at its
``gate`` task while the graph page is open: the page must show the gate
running, then, without a reload, the failure and the mapped task's counts
once the gate opens. The Gantt page of the finished run must show a bar per
try with the worker that ran it, and ``/metrics`` the run's series.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from browser import bokeh_data, browser, open_page
from monitored_dag import build
from prometheus_client.parser import text_string_to_metric_families

from daskflow.execution.cluster import connect, dashboard_url
from daskflow.execution.single_run import run_once

pytestmark = pytest.mark.slow
DAG_ID = "watched"


class GatedRun:
    """The monitored DAG as ``watched``, running in a thread, held at ``gate``."""

    def __init__(self, client: Any, folder: Any) -> None:
        self.url = f"sqlite:///{folder / 'daskflow.db'}"
        self.gate = folder / "gate"
        self.result: Any = None
        dag = build(str(folder / "flaky-flag"), str(self.gate), dag_id=DAG_ID)
        self.thread = threading.Thread(target=self._run, args=(dag, client), daemon=True)
        self.thread.start()

    def _run(self, dag: Any, client: Any) -> None:
        self.result = run_once(dag, cluster=client, db=self.url)

    def finished(self) -> Any:
        self.gate.touch()
        self.thread.join(timeout=120)
        assert self.result is not None, "the run did not finish"
        return self.result


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, GatedRun, Any]]:
    """(dashboard root URL, the gated run, headless Chromium)."""
    with connect(workers=2, threads_per_worker=1) as client:
        root = dashboard_url(client).rsplit("/", 1)[0]
        run = GatedRun(client, tmp_path_factory.mktemp("graph-gantt"))
        try:
            with browser() as chromium:
                yield root, run, chromium
        finally:
            run.finished()


def _nodes(page: Any) -> dict[str, dict[str, Any]]:
    data = bokeh_data(page, "graph_nodes")
    return {node: {name: data[name][i] for name in data}
            for i, node in enumerate(data["node_id"])}


def _wait_for_state(page: Any, node: str, state: str, timeout_s: float = 120) -> None:
    """Wait until the browser's copy of the graph shows ``node`` in ``state``."""
    page.wait_for_function("""([node, state]) => {
        const source = Bokeh.documents[0].get_model_by_name("graph_nodes");
        const data = source.data instanceof Map ? Object.fromEntries(source.data) : source.data;
        const i = Array.from(data.node_id).indexOf(node);
        return i >= 0 && data.state[i] === state; }""", arg=[node, state],
                           timeout=timeout_s * 1000)


def test_the_graph_follows_the_run_while_it_is_active(served):
    root, run, chromium = served
    page = open_page(chromium, f"{root}/daskflow/graph?dag_id={DAG_ID}", f"{DAG_ID}: graph")
    _wait_for_state(page, "gate", "running")
    nodes = _nodes(page)
    assert nodes["fetch"]["state"] == "success"
    assert nodes["broken"]["state"] in ("none", "scheduled", "queued")

    run.finished()  # opens the gate; the page is not reloaded

    _wait_for_state(page, "broken", "failed")
    _wait_for_state(page, "work", "success")
    nodes = _nodes(page)
    assert nodes["work"]["kind"] == "mapped" and nodes["work"]["counts"] == "3 success"
    assert nodes["flaky"]["state"] == "success" and nodes["gate"]["state"] == "success"
    page.close()


def test_the_gantt_shows_each_try_with_its_worker(served):
    root, run, chromium = served
    result = run.finished()
    url = f"{root}/daskflow/gantt?dag_id={DAG_ID}&run_id={quote(result.run_id)}"
    page = open_page(chromium, url, "while queued")
    bars = bokeh_data(page, "gantt_bars")
    flaky = [bars["state"][i] for i, row in enumerate(bars["row"]) if row == "flaky"]
    assert sorted(flaky) == ["success", "up_for_retry"]
    assert {"work[0]", "work[1]", "work[2]", "broken", "gate"} <= set(bars["row"])
    assert all(":" in worker for worker in bars["worker"])  # host:port of a Dask worker
    assert all(q <= s <= e for q, s, e in zip(bars["queued"], bars["start"], bars["end"],
                                              strict=True))
    page.close()


def test_metrics_show_the_run_on_the_embedded_dashboard(served):
    root, run, _ = served
    run.finished()
    with urllib.request.urlopen(f"{root}/metrics", timeout=30) as response:
        families = {f.name: f for f in text_string_to_metric_families(response.read().decode())}
    runs = {(s.labels["dag_id"], s.labels["state"]): s.value
            for s in families["daskflow_dag_runs"].samples}
    assert runs == {(DAG_ID, "failed"): 1}
    durations = {s.labels["state"]: s.value for s in families["daskflow_task_duration_seconds"]
                 .samples if s.name.endswith("_count") and s.labels["dag_id"] == DAG_ID}
    assert durations["failed"] == 1 and durations["up_for_retry"] == 1
