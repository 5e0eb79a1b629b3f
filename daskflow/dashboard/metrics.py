"""daskflow's series on the Dask scheduler's Prometheus endpoint (``/metrics``).

Dask serves ``prometheus_client``'s global registry at ``/metrics``, so
daskflow adds one collector to it, in the scheduler's process, with
:func:`install_metrics` (the dashboard's mounting calls it; :func:`uninstall`
takes it away when the scheduler closes). Two kinds of series:

* **Read from the store at each scrape** (``Store.monitoring_counts``, a few
  grouped counts): runs by DAG and state, task instances by state, pool
  slots, import errors, schedule delay, and whether the store answered.
* **Observed as they happen** by a small scheduler plugin: every node's end
  report passes through the scheduler on its way to the loop, so each try's
  duration goes into a histogram there; and each scheduler loop sends its
  tick durations as an event every few seconds (``scheduler/tick_times.py``).
  These count from the scheduler's start, as Prometheus counters do.

Series names and meanings are listed in docs/monitoring.md ("Metrics").
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin
from prometheus_client import REGISTRY, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric

from daskflow.dashboard.store_access import shown_url
from daskflow.execution.cluster_plugins import REPORT_TOPIC_PREFIX
from daskflow.execution.report import END, reports_in
from daskflow.scheduler import tick_times
from daskflow.store import Store, StoreError

logger = logging.getLogger("daskflow.dashboard")

PLUGIN_NAME = "daskflow-metrics"
#: Seconds; from sub-millisecond tasks to hour-long ones.
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, float("inf"))
TICK_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, float("inf"))


class DaskflowCollector:
    """The series of the module docstring; one per process, on the global registry."""

    def __init__(self) -> None:
        self.task_duration = Histogram(
            "daskflow_task_duration_seconds", "How long tries ran, by DAG and end state",
            ["dag_id", "state"], buckets=DURATION_BUCKETS, registry=None)
        self.tick_time = Histogram(
            "daskflow_scheduler_loop_tick_seconds", "How long scheduler loop ticks took",
            buckets=TICK_BUCKETS, registry=None)
        self.store_url: str | None = None
        self._store: Store | None = None
        self._opened_url: str | None = None

    def store(self) -> Store:
        """The store, opened without retries: a scrape runs on the scheduler's event
        loop, so an unavailable store must fail the scrape's reads at once."""
        url = self.store_url or shown_url()
        if self._store is None or self._opened_url != url:
            self.close()
            self._store, self._opened_url = Store(url, retry_for=0), url
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def describe(self) -> list[Metric]:
        """The series' names, without reading the store (what registering checks)."""
        return [*_store_families(), *self.task_duration.describe(),
                *self.tick_time.describe()]

    def collect(self) -> Iterator[Metric]:
        yield from self.task_duration.collect()
        yield from self.tick_time.collect()
        up = GaugeMetricFamily("daskflow_store_up", "1 when the metadata store answered the "
                               "scrape's reads, else 0 (then no store series are given)")
        try:
            counts = self.store().monitoring_counts()
        except StoreError as exc:
            logger.warning("metrics: the metadata store did not answer: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _store_families(counts)

    def observe(self, topic: str, msg: Any) -> None:
        """Take a try's duration from a node's end report, or a loop's tick times."""
        if not isinstance(msg, dict):
            return
        if topic.startswith(REPORT_TOPIC_PREFIX):
            for report in reports_in(msg):
                start, end = report.get("start"), report.get("end")
                if report.get("kind") == END and report.get("try") and start is not None \
                        and end is not None:
                    self.task_duration.labels(str(report.get("dag_id")),
                                              str(report.get("state"))
                                              ).observe(max(end - start, 0.0))
        elif topic == tick_times.TOPIC:
            for seconds in msg.get("ticks") or ():
                if isinstance(seconds, (int, float)):
                    self.tick_time.observe(seconds)


def _store_families(counts: Any = None) -> list[Metric]:
    """The store-derived series, filled from ``counts`` (empty for ``describe``)."""
    runs = GaugeMetricFamily("daskflow_dag_runs", "DAG runs in the store, by DAG and state",
                             labels=["dag_id", "state"])
    instances = GaugeMetricFamily("daskflow_task_instances",
                                  "Task instances in the store, by state", labels=["state"])
    slots = GaugeMetricFamily("daskflow_pool_slots", "Slots of each pool", labels=["pool"])
    used = GaugeMetricFamily("daskflow_pool_slots_used",
                             "Pool slots held by running or queued task instances",
                             labels=["pool"])
    open_ = GaugeMetricFamily("daskflow_pool_slots_open", "Pool slots free to take",
                              labels=["pool"])
    errors = GaugeMetricFamily("daskflow_import_errors", "DAG files that fail to import")
    delay = GaugeMetricFamily(
        "daskflow_dag_run_schedule_delay_seconds",
        "How long after it was due the DAG's newest started run started", labels=["dag_id"])
    if counts is not None:
        for (dag_id, state), n in sorted(counts.runs.items()):
            runs.add_metric([dag_id, state], n)
        for state, n in sorted(counts.task_instances.items()):
            instances.add_metric([state], n)
        for pool in counts.pools:
            slots.add_metric([pool.name], pool.slots)
            used.add_metric([pool.name], pool.used)
            open_.add_metric([pool.name], pool.open)
        errors.add_metric([], counts.import_errors)
        for dag_id, seconds in sorted(counts.schedule_delays.items()):
            delay.add_metric([dag_id], seconds)
    return [runs, instances, slots, used, open_, errors, delay]


class MetricsPlugin(SchedulerPlugin):
    """Hands the events passing through the scheduler to the collector."""

    name = PLUGIN_NAME

    def __init__(self, collector: DaskflowCollector) -> None:
        self.collector = collector

    def log_event(self, topic: str, msg: Any) -> None:
        self.collector.observe(topic, msg)


_lock = threading.Lock()
_collector: DaskflowCollector | None = None
#: Schedulers of this process that installed the metrics (tests start several).
_schedulers: list[Any] = []


def install_metrics(scheduler: Any, store_url: str | None = None) -> DaskflowCollector:
    """Add daskflow's series to ``/metrics`` of ``scheduler`` (in its process).

    ``store_url`` defaults to the store the pages read (``store_access.py``). Safe to call again for
    the same or another scheduler of the process: the collector is registered
    once, and reads the store named last.
    """
    global _collector
    with _lock:
        if _collector is None:
            _collector = DaskflowCollector()
            REGISTRY.register(_collector)
        if store_url is not None or _collector.store_url is None:
            _collector.store_url = store_url
        if scheduler not in _schedulers:
            scheduler.add_plugin(MetricsPlugin(_collector), name=PLUGIN_NAME, idempotent=True)
            _schedulers.append(scheduler)
        return _collector


def uninstall(scheduler: Any) -> None:
    """Take daskflow's series off ``scheduler``; the last one takes the collector away."""
    global _collector
    with _lock:
        if scheduler not in _schedulers:
            return
        _schedulers.remove(scheduler)
        if PLUGIN_NAME in scheduler.plugins:
            scheduler.remove_plugin(name=PLUGIN_NAME)
        if not _schedulers and _collector is not None:
            REGISTRY.unregister(_collector)
            _collector.close()
            _collector = None
