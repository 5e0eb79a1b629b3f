"""Dask's own dashboard pages keep working while daskflow runs on the cluster.

Every page in the dashboard's navigation bar is fetched with a plain HTTP GET
during and after a run with a mapped task. A Bokeh page's GET builds its
document in the scheduler, so a component failing to draw answers 500; Dask's
Groups page did, for a mapped task's groups (``dashboard/group_layout.py``).
"""

from __future__ import annotations

import sys
import threading
import time
import urllib.error
import urllib.request

import cloudpickle
import pytest

from daskflow import DAG, task
from daskflow.dashboard.group_layout import place, visiting_order

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.mark.parametrize("dependencies, order", [
    ({}, []),
    ({"slow.total": {"slow.crunch"}, "slow.crunch": {"slow.make"}, "slow.make": set()},
     ["slow.make", "slow.crunch", "slow.total"]),
    # names in the opposite order to the edges: what broke Dask's own order
    ({"a": {"b"}, "b": {"c"}, "c": set()}, ["c", "b", "a"]),
    # a group whose dependency is gone (forgotten) is a root; itself is ignored
    ({"late": {"gone", "late"}, "early": set()}, ["early", "late"]),
    # a cycle between groups is broken at its first name
    ({"x": {"y"}, "y": {"x"}, "z": {"y"}}, ["x", "y", "z"]),
])
def test_every_group_is_visited_after_the_groups_it_depends_on(dependencies, order):
    assert visiting_order(dependencies) == order


def test_each_group_sits_right_of_its_dependencies_and_no_two_share_a_cell():
    dependencies = {"root": set(), **{f"m{i}": {"root"} for i in range(4)},
                    "sink": {f"m{i}" for i in range(4)}, "alone": set()}
    cells = place(dependencies)
    assert len(set(cells.values())) == len(cells)
    for group, deps in dependencies.items():
        for dep in deps:
            assert cells[group][0] > cells[dep][0]
    assert cells["root"][0] == cells["alone"][0] == 0


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _navigation(scheduler) -> list[str]:
    """The paths the dashboard's top bar and its "More..." menu link to."""
    from distributed.dashboard.scheduler import template_variables

    links = template_variables(scheduler)
    return [f"/{page}" for page in links["pages"]] + [f"/{p['url']}" for p in links["plots"]]


def _answers(base: str, paths: list[str]) -> dict[str, int]:
    return {path: _get(base + path) for path in paths}


@pytest.mark.slow
def test_every_dashboard_page_answers_during_and_after_a_run_with_mapping(dask_client,
                                                                           db_url):
    scheduler = dask_client.cluster.scheduler
    base = f"http://127.0.0.1:{scheduler.http_server.port}"
    paths = _navigation(scheduler)
    assert {"/status", "/groups", "/graph", "/tasks", "/individual-groups"} <= set(paths)

    with DAG("slow") as dag:
        @task
        def make():
            return list(range(6))

        @task
        def crunch(x):
            time.sleep(1)
            return x

        @task
        def total(values):
            return sum(values)

        total(crunch.expand(x=make()))

    result = {}
    runner = threading.Thread(target=lambda: result.update(
        run=dag.test(cluster=dask_client, db=db_url)))
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while not {"slow.make", "slow.crunch", "slow.total"} <= set(scheduler.task_groups):
            assert time.monotonic() < deadline, "the mapped tasks never reached the scheduler"
            time.sleep(0.05)
        during = _answers(base, ["/groups", "/individual-groups"])
        still_running = "slow.crunch" in scheduler.task_groups
        during |= _answers(base, paths)
    finally:
        runner.join(120)
    assert still_running
    assert result["run"].state == "success"
    assert during == {path: 200 for path in during}
    after = _answers(base, paths)
    assert after == {path: 200 for path in paths}
