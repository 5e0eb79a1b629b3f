"""The loop's tick times reach the Dask scheduler in batches, and a lost cluster costs nothing."""

from __future__ import annotations

import logging

import pytest
from distributed import Client, LocalCluster

from daskflow.scheduler.tick_times import MAX_KEPT, TOPIC, TickTimes


@pytest.fixture
def client():
    with LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster, \
            Client(cluster) as opened:
        yield opened


@pytest.mark.slow
def test_durations_are_sent_as_one_event_once_the_interval_passed(client):
    times = TickTimes(client, "loop-1", interval=10.0)
    start = times._last_sent

    times.record(0.01, mono=start + 1)
    times.record(0.02, mono=start + 2)
    assert client.get_events(TOPIC) == ()  # not yet: the interval has not passed

    times.record(0.03, mono=start + 10)

    [(_, message)] = client.get_events(TOPIC)
    assert message == {"loop_id": "loop-1", "ticks": [0.01, 0.02, 0.03]}
    assert times.pending == []


@pytest.mark.slow
def test_a_cluster_that_is_gone_is_logged_once_and_the_loop_carries_on(client, caplog):
    times = TickTimes(client, "loop-1", interval=0.0)
    client.close()

    with caplog.at_level(logging.WARNING, logger="daskflow.scheduler"):
        times.record(0.01)
        times.record(0.02)

    assert times.pending == []  # dropped, not kept growing
    warnings = [r for r in caplog.records if "tick times" in r.getMessage()]
    assert len(warnings) == 1


def test_at_most_max_kept_durations_wait_for_a_send():
    times = TickTimes(None, "loop-1", interval=1e9)
    for _ in range(MAX_KEPT + 10):
        times.record(0.001)
    assert len(times.pending) == MAX_KEPT
