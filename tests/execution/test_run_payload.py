"""A run's shared payload: on every worker while the run lives, gone after it."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from types import SimpleNamespace

import pytest

from daskflow import DAG
from daskflow.execution import cluster_plugins
from daskflow.execution.node import spec_of
from daskflow.execution.run_payload import (
    PREFIX,
    NodeRef,
    PayloadMissing,
    RunPayload,
    RunShared,
)
from daskflow.models.context import DagRunInfo
from daskflow.operators import EmptyOperator, PythonOperator

NOW = datetime(2025, 1, 1, tzinfo=timezone.utc)
RUN = DagRunInfo(dag_id="p", run_id="r", logical_date=NOW, data_interval_start=NOW,
                 data_interval_end=NOW, run_type="manual", conf={}, start_date=NOW)


def _shared(task) -> RunShared:
    return RunShared(run=RUN, topic="t", tasks={task.task_id: task}, results_url=None,
                     store_url=None, log_limit=100, start_report_delay=0.1)


def test_a_node_builds_its_spec_from_its_own_part_and_the_payload():
    task = EmptyOperator(task_id="a")
    worker = SimpleNamespace(address="w", plugins={
        "daskflow-run:p/r/abc": RunPayload("daskflow-run:p/r/abc", "abc", _shared(task))})
    spec = spec_of(NodeRef("daskflow-run:p/r/abc", "abc", "a", ("up",), map_index=3,
                           first_try=2), worker)
    assert (spec.task, spec.run, spec.topic, spec.upstream_ids, spec.map_index,
            spec.first_try, spec.log_limit, spec.start_report_delay) == (
        task, RUN, "t", ("up",), 3, 2, 100, 0.1)


def test_a_node_of_an_earlier_submission_says_its_payload_is_gone():
    task = EmptyOperator(task_id="a")
    worker = SimpleNamespace(address="tcp://w:1", plugins={
        "daskflow-run:p/r/new": RunPayload("daskflow-run:p/r/new", "new", _shared(task))})
    with pytest.raises(PayloadMissing, match="task 'a': worker tcp://w:1 has no payload "
                                             "'daskflow-run:p/r/old' of submission old"):
        spec_of(NodeRef("daskflow-run:p/r/old", "old", "a", ()), worker)


def _payloads(client) -> list[str]:
    return list(cluster_plugins.worker_plugins(client, PREFIX))


def test_the_payload_is_on_the_workers_during_the_run_and_removed_after(dask_client, tmp_path):
    def payloads_seen_by_a_task() -> list[str]:
        from distributed import get_worker

        return sorted(n for n in get_worker().plugins if n.startswith(PREFIX))

    with DAG("payload_probe", schedule=None, start_date=NOW) as dag:
        PythonOperator(task_id="look", python_callable=payloads_seen_by_a_task)

    result = dag.test(cluster=dask_client, db=f"sqlite:///{tmp_path / 'db.sqlite'}")

    assert result.state == "success"
    seen = result.xcom("look")
    assert len(seen) == 1 and seen[0].startswith(f"{PREFIX}payload_probe/{result.run_id}/")
    deadline = time.monotonic() + 10
    while _payloads(dask_client) and time.monotonic() < deadline:
        time.sleep(0.05)  # removed by a background thread after the run
    assert _payloads(dask_client) == []
