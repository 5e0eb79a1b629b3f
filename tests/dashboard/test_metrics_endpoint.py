"""daskflow's series on a real Dask scheduler's /metrics, after a scheduler loop ran DAGs."""

from __future__ import annotations

import textwrap
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from daskflow.dashboard import metrics
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store.records import TaskInstanceRecord

METERED = '''
from datetime import datetime, timezone
from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("metered", schedule="@daily", catchup=True,
         start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
         end_date=datetime(2024, 1, 2, tzinfo=timezone.utc)):
    BashOperator(task_id="stamp", bash_command="echo {{ ts }}")
'''
FAILS_ONCE = '''
from datetime import datetime, timezone
from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("fails", schedule="@once", start_date=datetime(2024, 1, 1, tzinfo=timezone.utc)):
    BashOperator(task_id="boom", bash_command="exit 3")
'''


@pytest.fixture
def scheduler_with_metrics(dask_client, store, db_url):
    """The shared LocalCluster's scheduler (its dashboard is up) with daskflow's metrics."""
    scheduler = dask_client.cluster.scheduler
    collector = metrics.install_metrics(scheduler, store_url=db_url)
    yield scheduler, collector
    metrics.uninstall(scheduler)


def _scrape(scheduler) -> dict[str, dict[tuple, float]]:
    """``{sample name: {labels: value}}`` of ``/metrics``, fetched over HTTP and parsed."""
    url = f"http://127.0.0.1:{scheduler.http_server.port}/metrics"
    with urllib.request.urlopen(url, timeout=30) as response:
        text = response.read().decode()
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[labels] = sample.value
    return samples


def _drive(loop: SchedulerLoop, done, limit: float = 90) -> int:
    """Tick until ``done()``; return how many ticks it took."""
    ticks, deadline = 0, time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, "the loop did not finish the runs"
        loop.tick(utcnow())
        loop.step(0.1)
        ticks += 1
    return ticks


@pytest.mark.slow
def test_metrics_show_runs_tasks_pools_errors_durations_and_ticks(
        scheduler_with_metrics, dask_client, store, tmp_path: Path):
    scheduler, _ = scheduler_with_metrics
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "metered.py").write_text(textwrap.dedent(METERED))
    (folder / "fails.py").write_text(textwrap.dedent(FAILS_ONCE))
    (folder / "broken.py").write_text("from daskflow import DAG\nraise RuntimeError('no')\n")
    store.set_pool("small", 3)
    loop = SchedulerLoop(DagFolder(folder, store), store, dask_client,
                         results_url=str(tmp_path / "results"))
    loop.tick_times.interval = 0  # send every tick's time at once

    def done() -> bool:  # every run the DAGs will ever have has ended, and was recorded
        return (bool(store.list_dag_runs("metered", state="success"))
                and bool(store.list_dag_runs("fails", state="failed"))
                and not store.list_dag_runs(states=("queued", "running")))

    try:
        ticks = _drive(loop, done)
    finally:
        loop.shutdown()
    # A task holding 2 of the small pool's 3 slots.
    store.create_dag_run("held", "manual__1", utcnow(), None, None, "manual", {},
                         state="running")
    store.create_task_instances([TaskInstanceRecord("held", "manual__1", "t", state="running",
                                                    pool="small", pool_slots=2)])

    samples = _scrape(scheduler)

    runs = samples["daskflow_dag_runs"]
    for dag_id in ("metered", "fails"):
        for run_state in {r.state for r in store.list_dag_runs(dag_id)}:
            expected = len(store.list_dag_runs(dag_id, state=run_state))
            assert runs[(("dag_id", dag_id), ("state", run_state))] == expected
    assert runs[(("dag_id", "fails"), ("state", "failed"))] == 1
    in_store: dict[tuple, int] = {}
    for run in store.list_dag_runs():
        for ti in store.list_task_instances(run.dag_id, run.run_id):
            key = (("state", ti.state or "none"),)
            in_store[key] = in_store.get(key, 0) + 1
    assert samples["daskflow_task_instances"] == in_store
    assert in_store[(("state", "failed"),)] == 1 and in_store[(("state", "running"),)] == 1
    assert samples["daskflow_import_errors"][()] == 1
    assert samples["daskflow_pool_slots"][(("pool", "small"),)] == 3
    assert samples["daskflow_pool_slots_used"][(("pool", "small"),)] == 2
    assert samples["daskflow_pool_slots_open"][(("pool", "small"),)] == 1
    assert samples["daskflow_store_up"][()] == 1

    # Every recorded try's duration was observed once, as its report passed the scheduler.
    durations = samples["daskflow_task_duration_seconds_count"]
    for dag_id in ("metered", "fails"):
        tries = [a for run in store.list_dag_runs(dag_id)
                 for a in store.list_run_attempts(dag_id, run.run_id)]
        for state in {a.state for a in tries}:
            observed = durations[(("dag_id", dag_id), ("state", state))]
            assert observed == len([a for a in tries if a.state == state])
    assert samples["daskflow_scheduler_loop_tick_seconds_count"][()] == ticks
    assert samples["daskflow_scheduler_loop_tick_seconds_sum"][()] > 0

    # The newest started scheduled run started this long after its interval ended.
    newest = max((r for r in store.list_dag_runs("metered") if r.start_date),
                 key=lambda r: r.logical_date)
    delay = (newest.start_date - newest.data_interval_end).total_seconds()
    assert samples["daskflow_dag_run_schedule_delay_seconds"][(("dag_id", "metered"),)] \
        == pytest.approx(max(delay, 0.0))


def test_a_store_that_does_not_answer_gives_store_up_0_and_no_store_series(tmp_path):
    collector = metrics.DaskflowCollector()
    collector.store_url = f"sqlite:///{tmp_path / 'missing' / 'folder' / 'daskflow.db'}"

    families = {f.name: f for f in collector.collect()}

    assert [s.value for s in families["daskflow_store_up"].samples] == [0]
    assert "daskflow_dag_runs" not in families
    assert "daskflow_task_duration_seconds" in families  # observed series stay


def test_uninstall_takes_the_series_off_the_registry(dask_client):
    from prometheus_client import REGISTRY, generate_latest

    scheduler = dask_client.cluster.scheduler
    metrics.install_metrics(scheduler, store_url="sqlite://")
    metrics.install_metrics(scheduler)  # again: still one collector, one plugin
    assert b"daskflow_store_up" in generate_latest(REGISTRY)
    assert metrics.PLUGIN_NAME in scheduler.plugins

    metrics.uninstall(scheduler)

    assert b"daskflow_" not in generate_latest(REGISTRY)
    assert metrics.PLUGIN_NAME not in scheduler.plugins
