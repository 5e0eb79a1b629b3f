"""Heartbeats, fences and leases (execution/ownership.py, execution/lease.py) on a real
store and a real Dask scheduler with daskflow's plugin."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta

import cloudpickle
import dask
import pytest
from distributed import Client, LocalCluster

from daskflow.execution import cluster_plugins, lease
from daskflow.execution.ownership import Ownership
from daskflow.store import StoreUnavailable

cloudpickle.register_pickle_by_value(sys.modules[__name__])
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=":0") as cluster, Client(cluster) as c:
        cluster_plugins.install(c)
        yield c


def _scheduler_lease(client, lease_id: str) -> float:
    return client.sync(client.scheduler.daskflow_lease, lease_id=lease_id)


def _claimed(store, owner: str, n: int = 1):
    for i in range(n):
        day = NOW + timedelta(days=i)
        store.create_dag_run("d", f"r{i}", day, day, day, "manual", {}, state="queued")
    return store.claim_runs(owner, datetime.now(UTC), n, timedelta(seconds=10))


def test_a_beat_renews_the_leases_of_owned_runs_on_the_scheduler(store, client):
    (run,) = _claimed(store, "A")
    ownership = Ownership(store, "A", client, interval=1, stale_after=5)
    key = ("d", "r0")
    ownership.hold(key, run.fence, since=time.time() - 100)  # an old claim: lapsed
    lease_id, until = ownership.lease(key)
    assert not ownership.lease_valid(key)

    before = time.time()
    ownership.beat()

    lease_id, renewed = ownership.lease(key)
    assert renewed >= before + 4  # beat time + stale_after - interval
    assert _scheduler_lease(client, lease_id) == pytest.approx(renewed)
    assert ownership.take_lost() == set() and ownership.take_unknown() == {}
    assert ownership.scheduler_id == client.scheduler_info()["id"]


def test_a_run_adopted_by_another_loop_is_lost_and_its_lease_dropped(store, client):
    (run,) = _claimed(store, "A")
    ownership = Ownership(store, "A", client, interval=1, stale_after=5)
    key = ("d", "r0")
    ownership.hold(key, run.fence, since=time.time())
    ownership.beat()
    lease_id, _ = ownership.lease(key)
    store.claim_runs("B", datetime.now(UTC) + timedelta(minutes=5), 1, timedelta(seconds=10))

    ownership.beat()

    assert ownership.take_lost() == {key}
    assert _scheduler_lease(client, lease_id) == 0.0


def test_a_run_taken_during_a_beat_is_not_judged_by_it(store, client):
    runs = _claimed(store, "A", 2)

    class ClaimsDuringTheBeat:
        """The loop thread claims r1 while the heartbeat statement is on its way."""

        def heartbeat(self, owner, now):
            owned = store.heartbeat(owner, now)
            ownership.hold(("d", "r1"), runs[1].fence, since=time.time())
            return {k: f for k, f in owned.items() if k != ("d", "r1")}

    ownership = Ownership(ClaimsDuringTheBeat(), "A", client, interval=1, stale_after=5)
    ownership.hold(("d", "r0"), runs[0].fence, since=time.time())

    ownership.beat()

    assert ownership.take_lost() == set()


def test_runs_owned_but_not_driven_are_reported(store, client):
    (run,) = _claimed(store, "A")
    ownership = Ownership(store, "A", client, interval=1, stale_after=5)
    ownership.beat()
    assert ownership.take_unknown() == {("d", "r0"): run.fence}


def test_a_store_outage_lets_leases_run_out_without_raising(store, client):
    (run,) = _claimed(store, "A")

    class Down:
        def heartbeat(self, owner, now):
            raise StoreUnavailable("database is locked")

    ownership = Ownership(Down(), "A", client, interval=1, stale_after=5)
    key = ("d", "r0")
    ownership.hold(key, run.fence, since=time.time() - 100)
    ownership.beat()
    assert not ownership.lease_valid(key) and ownership.take_lost() == set()


def _checked(annotation) -> str:
    from distributed import get_worker

    lease.check(annotation, get_worker(), "t")
    return "ran"


def test_a_node_runs_only_while_the_lease_runs(client):
    now = time.time()
    cluster_plugins.renew_leases(client, {"live": now + 60, "gone": now - 1})
    assert client.submit(_checked, ("live", now - 5), pure=False).result() == "ran"
    with pytest.raises(lease.LeaseExpired, match="was not started"):
        client.submit(_checked, ("gone", now - 5), pure=False).result()
    assert client.submit(_checked, ("unknown", now + 60), pure=False).result() == "ran"


def _reports_start_then_waits(topic: str, release: str, ended: str) -> str:
    import os

    from distributed import get_worker

    worker = get_worker()
    worker.log_event(topic, {"kind": "start", "key": worker.get_current_task()})
    while not os.path.exists(release):
        time.sleep(0.02)
    worker.log_event(topic, {"kind": "end", "key": worker.get_current_task()})
    while not os.path.exists(ended):
        time.sleep(0.02)
    return "done"


def _mark(dask_scheduler, key) -> None:
    dask_scheduler.tasks[key].suspicious = dask_scheduler.allowed_failures


def _suspicious(client, key) -> int:
    """The key's crash count on the scheduler (0 before the scheduler has the key)."""
    return client.run_on_scheduler(
        lambda dask_scheduler, key: getattr(dask_scheduler.tasks.get(key), "suspicious", 0),
        key=key)


def test_a_started_key_is_marked_so_its_workers_death_ends_the_try(client, tmp_path):
    allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
    release, ended = str(tmp_path / "release"), str(tmp_path / "ended")
    started = client.submit(_reports_start_then_waits,
                            cluster_plugins.REPORT_TOPIC_PREFIX + "test", release, ended,
                            pure=False)
    queued = client.submit(time.sleep, 0, pure=False, key="only-queued")
    deadline = time.monotonic() + 30
    while _suspicious(client, started.key) < allowed:
        assert time.monotonic() < deadline, "the start report never marked the key"
        time.sleep(0.05)
    open(release, "w").close()
    # The attempt's end clears the mark: recomputing a lost result is not that try.
    while _suspicious(client, started.key) != 0:
        assert time.monotonic() < deadline, "the end report never cleared the mark"
        time.sleep(0.05)
    open(ended, "w").close()
    assert started.result() == "done"
    queued.result()
    assert _suspicious(client, queued.key) == 0  # no start report, no mark
    with dask.annotate(daskflow_try=1):
        again = client.submit(_reports_start_then_waits,
                              cluster_plugins.REPORT_TOPIC_PREFIX + "test", release, ended,
                              pure=False)
    again.result()

    # A new try (the loop's annotation update before Client.retry) clears the mark.
    from daskflow.execution.annotations import set_annotations

    client.run_on_scheduler(_mark, key=again.key)
    set_annotations(client, {again.key: {"daskflow_try": 2}})
    assert _suspicious(client, again.key) == 0
