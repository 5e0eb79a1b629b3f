"""The Graph page's component on a real run: boxes, edges, states, groups and mapping."""

from __future__ import annotations

import pytest
from bokeh.document import Document

from daskflow.dashboard import graph
from daskflow.dashboard.style import STATE_COLORS

pytestmark = pytest.mark.slow  # the shared run starts a LocalCluster of processes


def _nodes(view: graph.GraphView) -> dict[str, dict]:
    data = view.nodes.data
    return {node_id: {name: data[name][i] for name in graph.NODE_COLUMNS}
            for i, node_id in enumerate(data["node_id"])}


def test_the_run_is_drawn_with_groups_collapsed_and_mapping_counted(demo_run, demo_store):
    view = graph.GraphView(demo_store, demo_run.dag_id)
    view.update()
    nodes = _nodes(view)

    assert view.run.run_id == demo_run.run_id and demo_run.state == "failed"
    assert set(nodes) == {"start", "prepare", "numbers", "square", "flaky", "broken", "done"}
    assert nodes["prepare"]["kind"] == "group" and "(2 tasks)" in nodes["prepare"]["label"]
    assert nodes["prepare"]["state"] == "success"
    assert nodes["square"]["kind"] == "mapped" and nodes["square"]["counts"] == "3 success"
    assert nodes["square"]["label"] == "square [3]"
    assert nodes["flaky"]["state"] == "success"  # after its retry
    assert nodes["broken"]["state"] == "failed"
    assert nodes["broken"]["color"] == STATE_COLORS["failed"]
    # Relative to the dashboard's root, which daskflow's page frame sets as <base href>.
    assert nodes["broken"]["url"].startswith("daskflow/task?dag_id=dashboard_demo&run_id=")
    assert nodes["broken"]["url"].endswith("&task_id=broken")


def test_columns_follow_the_longest_path_and_edges_go_left_to_right(demo_run, demo_store):
    view = graph.GraphView(demo_store, demo_run.dag_id, demo_run.run_id)
    view.update()
    x = dict(zip(view.nodes.data["node_id"], view.nodes.data["x"], strict=True))

    assert x["start"] < x["prepare"] < x["numbers"] < x["square"] < x["done"]
    assert x["flaky"] == x["broken"] == x["numbers"]
    assert len(view.edges.data["xs"]) == len(view.layout.edges)
    assert all(x0 < x1 for x0, x1 in view.edges.data["xs"])
    assert ("prepare", "flaky") in view.layout.edges and ("start", "prepare") in view.layout.edges


def test_expanding_a_group_draws_its_tasks_and_their_edge(demo_run, demo_store):
    view = graph.GraphView(demo_store, demo_run.dag_id)
    view.update()
    assert view.group_boxes.labels == ["prepare"]

    view.group_boxes.active = [0]  # what a click on the checkbox does
    nodes = _nodes(view)

    assert "prepare" not in nodes
    assert nodes["prepare.clean"]["state"] == nodes["prepare.check"]["state"] == "success"
    assert ("prepare.clean", "prepare.check") in view.layout.edges
    assert ("start", "prepare.clean") in view.layout.edges


def test_choosing_a_run_in_the_select_redraws_that_run(demo_run, demo_store):
    view = graph.GraphView(demo_store, demo_run.dag_id, run_id="no-such-run")
    view.update()
    assert view.run is None and _nodes(view)["broken"]["state"] == "none"

    view.run_select.value = demo_run.run_id

    assert view.run.run_id == demo_run.run_id
    assert _nodes(view)["broken"]["state"] == "failed"
    assert not view.live()  # a finished run that was chosen stays as it is
    assert view.read() is None  # so a refresh reads nothing from the store
    assert view.read(force=True).run.run_id == demo_run.run_id


def test_the_page_builds_a_bokeh_document(demo_run, shown_demo_store):
    doc = _document_for({"dag_id": demo_run.dag_id})

    graph.document(None, {"pages": []}, doc)

    assert doc.roots and doc.title == f"daskflow: {demo_run.dag_id} graph"
    assert "broken" in doc.select_one({"name": "graph_nodes"}).data["node_id"]
    assert doc.to_json()  # every model serialises


def test_the_page_explains_a_missing_dag_id():
    doc = _document_for({})
    graph.document(None, {}, doc)
    assert "DAG list" in doc.roots[0].text


def _document_for(arguments: dict[str, str]) -> Document:
    """A Bokeh document opened with these URL query arguments, as Bokeh's server gives it."""
    doc = Document()
    request = type("Request", (), {"arguments": {k: [v.encode()] for k, v in arguments.items()}})
    doc._session_context = lambda: type("Context", (), {"request": request})()
    return doc
