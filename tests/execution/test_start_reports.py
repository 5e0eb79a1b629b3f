"""A task's start report waits on its worker, and a task that ends sooner sends none.

Run on real Dask workers: the report goes through the worker's event loop and
the Dask scheduler to a topic this test subscribes to, as the loop's does.
"""

from __future__ import annotations

import sys
import threading
import time
import uuid

import cloudpickle

from daskflow.execution.node import _emit_end, _emit_start
from daskflow.execution.report import END, START, Report

# The workers run this module's functions without importing it.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _report(kind: str, key: str) -> Report:
    return Report(kind=kind, key=key, dag_id="d", run_id="r", task_id=key, map_index=-1,
                  try_number=1, state="running" if kind == START else "success",
                  start=time.time(), end=None if kind == START else time.time())


def _attempt(topic: str, key: str, delay: float, runs_for: float) -> None:
    """What a node does around the user's code: start report, work, end report."""
    from daskflow.execution.node import _held_starts

    held = _emit_start(topic, _report(START, key), delay)
    time.sleep(runs_for)
    _held_starts.drop(held)
    _emit_end(topic, _report(END, key))


def _received(dask_client, topic: str, count: int) -> tuple[list[dict], threading.Event]:
    seen: list[dict] = []
    arrived = threading.Event()

    def on_event(event):
        seen.append(event[1])
        if len(seen) >= count:
            arrived.set()

    dask_client.subscribe_topic(topic, on_event)
    return seen, arrived


def test_a_short_attempt_sends_only_its_end_report(dask_client):
    topic = f"daskflow-test-{uuid.uuid4().hex}"
    seen, arrived = _received(dask_client, topic, 1)
    dask_client.submit(_attempt, topic, "quick", 0.5, 0.0, pure=False).result()
    assert arrived.wait(10)
    time.sleep(0.8)  # longer than the delay: a start report would have come by now
    assert [(e["kind"], e["key"]) for e in seen] == [(END, "quick")]


def test_a_longer_attempt_reports_its_start_after_the_delay_and_before_its_end(dask_client):
    topic = f"daskflow-test-{uuid.uuid4().hex}"
    seen, arrived = _received(dask_client, topic, 2)
    began = time.time()
    dask_client.submit(_attempt, topic, "slow", 0.2, 1.0, pure=False).result()
    assert arrived.wait(10)
    assert [(e["kind"], e["key"]) for e in seen] == [(START, "slow"), (END, "slow")]
    # Sent by the worker's event loop once the delay passed, while the task still ran.
    assert seen[0]["start"] - began < 1.0


def test_with_no_delay_every_start_is_reported(dask_client):
    topic = f"daskflow-test-{uuid.uuid4().hex}"
    seen, arrived = _received(dask_client, topic, 2)
    dask_client.submit(_attempt, topic, "at_once", 0.0, 0.0, pure=False).result()
    assert arrived.wait(10)
    assert [e["kind"] for e in seen] == [START, END]


def _several_ends(topic: str, count: int) -> None:
    for i in range(count):
        _emit_end(topic, _report(END, f"k{i}"))


def test_end_reports_of_one_worker_travel_together_and_each_is_read(dask_client):
    from daskflow.execution.report import reports_in

    topic = f"daskflow-test-{uuid.uuid4().hex}"
    seen, arrived = _received(dask_client, topic, 1)
    dask_client.submit(_several_ends, topic, 5, pure=False).result()
    assert arrived.wait(10)
    time.sleep(0.3)
    # Sent within the batch window: one event through the scheduler, five reports in it.
    assert len(seen) == 1
    assert [r["key"] for r in reports_in(seen[0])] == ["k0", "k1", "k2", "k3", "k4"]


def test_a_report_that_cannot_travel_is_refused_at_once_in_the_tasks_thread():
    import pytest

    from daskflow.execution.node import _end_reports

    class NoLoop:  # a refused report never reaches the worker's event loop
        loop = None

    with pytest.raises(TypeError, match=r"cannot carry: xcom \(set\)"):
        _end_reports.send(NoLoop(), "t", {"kind": END, "xcom": {1, 2}})
