"""The Gantt page's component on a real run: a bar per try, queued then running, by worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bokeh.document import Document

from daskflow.dashboard import gantt
from daskflow.store.monitoring import TrySpan

pytestmark = pytest.mark.slow  # the shared run starts a LocalCluster of processes


def _bars(view: gantt.GanttView) -> list[dict]:
    data = view.bars.data
    return [{name: data[name][i] for name in gantt.BAR_COLUMNS}
            for i in range(len(data["row"]))]


def test_every_try_is_a_bar_on_its_instance_row_with_its_worker(demo_run, demo_store):
    view = gantt.GanttView(demo_store, demo_run.dag_id, demo_run.run_id)
    view.update()
    bars = _bars(view)
    by_row: dict[str, list[dict]] = {}
    for bar in bars:
        by_row.setdefault(bar["row"], []).append(bar)

    flaky = sorted(by_row["flaky"], key=lambda b: b["try_number"])
    assert [b["try_number"] for b in flaky] == [1, 2]
    assert flaky[0]["state"] != "success" and flaky[1]["state"] == "success"
    assert flaky[0]["end"] <= flaky[1]["queued"] <= flaky[1]["start"]
    assert [b["state"] for b in by_row["broken"]] == ["failed"]
    assert {"square[0]", "square[1]", "square[2]"} <= set(by_row)
    workers = {w.split("://", 1)[-1] for w in demo_run.workers}
    assert {b["worker"] for b in bars} <= workers


def test_queued_part_comes_before_the_running_part(demo_run, demo_store):
    view = gantt.GanttView(demo_store, demo_run.dag_id, demo_run.run_id)
    view.update()
    bars = _bars(view)

    assert all(b["queued"] <= b["start"] <= b["end"] for b in bars)
    # Every try that ran was stamped by daskflow's scheduler plugin when it could run.
    stamped = [a for a in demo_store.list_run_attempts(demo_run.dag_id, demo_run.run_id)
               if a.start_date is not None]
    assert stamped and all(a.queued_date is not None for a in stamped)


def test_rows_follow_the_dag_order_first_task_on_top(demo_run, demo_store):
    view = gantt.GanttView(demo_store, demo_run.dag_id)
    view.update()
    top_down = view.rows.factors[::-1]

    assert top_down[0] == "start"
    assert top_down.index("prepare.clean") < top_down.index("prepare.check")
    assert top_down.index("square[0]") < top_down.index("square[1]") < top_down.index("done")


def test_a_running_try_is_drawn_up_to_now():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    running = TrySpan("t", -1, 2, "running", "tcp://10.0.0.1:4000",
                      start - timedelta(seconds=3), start, None)
    now = start + timedelta(seconds=5)

    [bar] = gantt.tries_as_bars([running], now)

    assert (bar.row, bar.try_number, bar.state, bar.worker) == ("t", 2, "running",
                                                                 "10.0.0.1:4000")
    assert (bar.queued, bar.start, bar.end) == (start - timedelta(seconds=3), start, now)


def test_a_try_whose_end_is_recorded_is_not_drawn_running_too():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ended = TrySpan("t", -1, 1, "success", "tcp://w:1", None, start, start + timedelta(1))
    stale = TrySpan("t", -1, 1, "running", "tcp://w:1", None, start, None)

    bars = gantt.tries_as_bars([ended, stale], start)

    assert [(b.state, b.queued) for b in bars] == [("success", start)]  # no queued part


def test_the_page_builds_a_bokeh_document(demo_run, shown_demo_store):
    doc = Document()
    arguments = {"dag_id": [demo_run.dag_id.encode()],
                 "run_id": [demo_run.run_id.encode()]}
    request = type("Request", (), {"arguments": arguments})
    doc._session_context = lambda: type("Context", (), {"request": request})()

    gantt.document(None, {"pages": []}, doc)

    assert doc.title == f"daskflow: {demo_run.dag_id} gantt"
    assert "flaky" in doc.select_one({"name": "gantt_bars"}).data["row"]
    assert doc.to_json()


def test_a_wide_mapping_is_one_row_per_task_with_a_bar_per_try_number():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    second = timedelta(seconds=1)
    spans = [TrySpan("wide", i, 1, "failed" if i == 7 else "success", f"tcp://10.0.0.{i % 3}:4000",
                     start, start + i * second, start + (i + 2) * second)
             for i in range(gantt.MAPPED_ROWS + 1)]
    spans.append(TrySpan("wide", 7, 2, "success", "tcp://10.0.0.1:4000", None,
                         start + 500 * second, start + 501 * second))
    spans.append(TrySpan("narrow", 0, 1, "success", "tcp://10.0.0.1:4000", None, start,
                         start + second))

    bars = gantt.tries_as_bars(spans, start)

    assert [(b.row, b.try_number, b.state, b.worker) for b in bars] == [
        ("wide[×101]", 1, "failed", "3 workers"),
        ("wide[×101]", 2, "success", "10.0.0.1:4000"),
        ("narrow[0]", 1, "success", "10.0.0.1:4000")]
    first = bars[0]
    assert (first.queued, first.start, first.end) == (
        start, start, start + (gantt.MAPPED_ROWS + 2) * second)
