"""What the scheduler loop asks of the store, on SQLite and PostgreSQL.

Run claiming (several loops, docs/reliability.md), the per-tick scheduling reads,
clearing, and the ``depends_on_past`` lookups. Concurrency tests that need real
row locks run on PostgreSQL only; SQLite has a single writer by construction.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, func, select, text

from daskflow.store import (
    AttemptUpdate,
    DagRecord,
    DagRunRecord,
    NotFoundError,
    RunLostError,
    Store,
    TaskUpdate,
    XComUpdate,
    scheduling,
)
from daskflow.store.claims import DAG_LOCK_CLASS
from daskflow.store.schema import dag_run

DAY = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
STALE = timedelta(seconds=30)


def day(n: int) -> datetime:
    return DAY + timedelta(days=n)


def queue(store: Store, dag_id: str, n: int, run_type: str = "scheduled") -> DagRunRecord:
    return store.create_dag_run(dag_id, f"{dag_id}_{n}", day(n), day(n), day(n + 1), run_type, {})


def ids(runs: list[DagRunRecord]) -> list[str]:
    return [run.run_id for run in runs]


@contextmanager
def statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends while the block runs."""
    seen: list[str] = []

    def listener(conn, cursor, statement, *args) -> None:
        if statement != "BEGIN":  # SQLite's own BEGIN (engine.py), not a query
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listener)


def running_per_dag(store: Store) -> Counter[str]:
    return Counter(run.dag_id for run in store.list_dag_runs(states=["running"]))


# -- claiming queued runs -------------------------------------------------------------


def test_claim_starts_oldest_logical_date_first_and_records_owner(store: Store) -> None:
    for n in (2, 0, 1):  # queued out of logical order
        queue(store, "a", n)
    claimed = store.claim_runs("loop-1", NOW, limit=2, stale_after=STALE)
    assert ids(claimed) == ["a_0", "a_1"]
    for run in claimed:
        assert (run.state, run.owner_loop, run.heartbeat, run.start_date) == (
            "running",
            "loop-1",
            NOW,
            NOW,
        )
    assert claimed == [store.get_dag_run("a", "a_0"), store.get_dag_run("a", "a_1")]
    assert store.get_dag_run("a", "a_2").state == "queued"
    assert ids(store.claim_runs("loop-1", NOW, limit=5, stale_after=STALE)) == ["a_2"]
    assert store.claim_runs("loop-1", NOW, limit=5, stale_after=STALE) == []


def test_claim_keeps_a_start_date_already_set(store: Store) -> None:
    queue(store, "a", 0)
    store.set_dag_run_state("a", "a_0", "queued", start_date=day(7))
    (run,) = store.claim_runs("loop-1", NOW, limit=1, stale_after=STALE)
    assert run.start_date == day(7)


def test_claim_shares_the_limit_round_robin_across_dags(store: Store) -> None:
    for n in range(5):
        queue(store, "backfill", n)
    queue(store, "small", 0)
    queue(store, "tiny", 9)
    claimed = store.claim_runs("loop-1", NOW, limit=4, stale_after=STALE)
    assert Counter(run.dag_id for run in claimed) == {"backfill": 2, "small": 1, "tiny": 1}
    assert ids(claimed)[:3] == ["backfill_0", "small_0", "tiny_9"]  # queued earliest first


def test_claim_respects_max_active_runs_of_every_source(store: Store) -> None:
    store.sync_dags([DagRecord("synced", "/d.py", max_active_runs=1)])
    for n in range(4):
        queue(store, "capped", n)
        queue(store, "synced", n)
    for n in range(20):
        queue(store, "default", n)
    other = store.claim_runs("other", NOW, limit=1, stale_after=STALE, max_active_runs={})
    assert ids(other) == ["capped_0"]  # now one "capped" run is running, owned elsewhere

    claimed = store.claim_runs(
        "loop-1", NOW, limit=100, stale_after=STALE, max_active_runs={"capped": 2}
    )
    assert Counter(run.dag_id for run in claimed) == {"capped": 1, "synced": 1, "default": 16}
    assert running_per_dag(store) == {"capped": 2, "synced": 1, "default": 16}
    assert store.claim_runs("loop-1", NOW, 100, STALE, {"capped": 2}) == []

    store.set_dag_run_state("capped", "capped_0", "success", end_date=NOW)
    assert ids(store.claim_runs("loop-1", NOW, 100, STALE, {"capped": 2})) == ["capped_2"]


def test_claim_with_zero_limit_or_zero_cap_takes_nothing(store: Store) -> None:
    queue(store, "a", 0)
    assert store.claim_runs("loop-1", NOW, limit=0, stale_after=STALE) == []
    assert store.claim_runs("loop-1", NOW, 5, STALE, max_active_runs={"a": 0}) == []
    assert store.get_dag_run("a", "a_0").state == "queued"


# -- orphans, heartbeats, release ---------------------------------------------------------


def test_orphans_are_adopted_after_staleness_and_not_before(store: Store) -> None:
    queue(store, "a", 0)
    queue(store, "a", 1)
    assert len(store.claim_runs("loop-A", NOW, 10, STALE)) == 2

    almost = NOW + STALE - timedelta(seconds=1)
    assert store.claim_runs("loop-B", almost, 10, STALE) == []
    assert store.heartbeat("loop-A", almost) == {("a", "a_0"): 1, ("a", "a_1"): 1}
    assert store.claim_runs("loop-B", NOW + STALE + timedelta(seconds=1), 10, STALE) == []

    later = almost + STALE + timedelta(seconds=1)
    adopted = store.claim_runs("loop-B", later, limit=1, stale_after=STALE)
    assert ids(adopted) == ["a_0"]
    assert (adopted[0].owner_loop, adopted[0].heartbeat) == ("loop-B", later)
    assert (adopted[0].state, adopted[0].start_date) == ("running", NOW)  # resumed as it was
    assert adopted[0].fence == 2  # claimed once by A, adopted once by B
    assert store.heartbeat("loop-A", later) == {("a", "a_1"): 1}  # loop A lost a_0
    assert ids(store.owned_runs("loop-A")) == ["a_1"]
    assert ids(store.owned_runs("loop-B")) == ["a_0"]


def test_a_loop_does_not_adopt_its_own_runs(store: Store) -> None:
    queue(store, "a", 0)
    store.claim_runs("loop-A", NOW, 10, STALE)
    assert store.claim_runs("loop-A", NOW + 10 * STALE, 10, STALE) == []
    assert ids(store.owned_runs("loop-A")) == ["a_0"]


def test_running_run_without_owner_or_heartbeat_is_adopted_at_once(store: Store) -> None:
    queue(store, "a", 0)
    store.set_dag_run_state("a", "a_0", "running", start_date=day(3))  # as `dags test` does
    (run,) = store.claim_runs("loop-B", NOW, 10, STALE)
    assert (run.run_id, run.owner_loop, run.start_date) == ("a_0", "loop-B", day(3))


def test_orphans_count_against_the_limit_first(store: Store) -> None:
    for n in range(3):
        queue(store, "a", n)
    store.claim_runs("loop-A", NOW, 2, STALE)
    later = NOW + 2 * STALE
    claimed = store.claim_runs("loop-B", later, 2, STALE)
    assert ids(claimed) == ["a_0", "a_1"]
    assert store.get_dag_run("a", "a_2").state == "queued"
    assert ids(store.claim_runs("loop-B", later, 2, STALE)) == ["a_2"]


def test_release_lets_another_loop_adopt_immediately(store: Store) -> None:
    for n in range(3):
        queue(store, "a", n)
    store.claim_runs("loop-A", NOW, 3, STALE)
    store.set_dag_run_state("a", "a_2", "success", end_date=NOW)
    assert store.release_runs("loop-A") == 2
    assert store.owned_runs("loop-A") == []
    assert store.get_dag_run("a", "a_2").owner_loop == "loop-A"  # finished runs keep history
    released = store.get_dag_run("a", "a_0")
    assert (released.state, released.owner_loop, released.heartbeat) == ("running", None, None)
    assert ids(store.claim_runs("loop-B", NOW, 10, STALE)) == ["a_0", "a_1"]
    assert store.release_runs("loop-A") == 0


def test_heartbeat_touches_only_the_owners_running_runs(store: Store) -> None:
    for n in range(3):
        queue(store, "a", n)
    store.claim_runs("loop-A", NOW, 2, STALE)
    store.claim_runs("loop-B", NOW, 1, STALE)
    store.set_dag_run_state("a", "a_1", "failed", end_date=NOW)
    later = NOW + timedelta(seconds=5)
    assert list(store.heartbeat("loop-A", later)) == [("a", "a_0")]
    assert store.get_dag_run("a", "a_0").heartbeat == later
    assert store.get_dag_run("a", "a_1").heartbeat == NOW
    assert store.get_dag_run("a", "a_2").heartbeat == NOW
    assert store.heartbeat("nobody", later) == {}


# -- fencing ---------------------------------------------------------------------------------


def _update(run_id: str, state: str) -> TaskUpdate:
    return TaskUpdate("a", run_id, "t", state=state)


def test_a_loop_that_lost_a_run_cannot_write_for_it(store: Store) -> None:
    queue(store, "a", 0)
    queue(store, "a", 1)
    (a0, a1) = store.claim_runs("loop-A", NOW, 2, STALE)
    fences = {("a", "a_0"): a0.fence, ("a", "a_1"): a1.fence}
    adopted = store.claim_runs("loop-B", NOW + 2 * STALE, 1, STALE)  # A went stale
    assert ids(adopted) == ["a_0"]

    lost = store.apply_updates([_update("a_0", "success"), _update("a_1", "success")],
                               [AttemptUpdate("a", "a_0", "t", try_number=1, state="success",
                                              loop_id="loop-A")],
                               owner="loop-A", fences=fences)

    assert lost == {("a", "a_0")}
    assert store.get_task_instance("a", "a_0", "t") is None  # A's late write was dropped
    assert store.list_attempts("a", "a_0", "t") == []
    assert store.get_task_instance("a", "a_1", "t").state == "success"
    with pytest.raises(RunLostError):
        store.set_dag_run_state("a", "a_0", "success", owner="loop-A", fence=a0.fence)
    assert store.get_dag_run("a", "a_0").state == "running"
    store.set_dag_run_state("a", "a_0", "success", owner="loop-B", fence=adopted[0].fence)
    assert store.get_dag_run("a", "a_0").state == "success"


def test_an_old_fence_is_refused_even_when_the_run_came_back_to_its_loop(store: Store) -> None:
    queue(store, "a", 0)
    (first,) = store.claim_runs("loop-A", NOW, 1, STALE)
    store.release_runs("loop-A")
    (second,) = store.claim_runs("loop-A", NOW, 1, STALE)
    assert second.fence == first.fence + 1

    lost = store.apply_updates([_update("a_0", "running")], owner="loop-A",
                               fences={("a", "a_0"): first.fence})

    assert lost == {("a", "a_0")}
    assert store.apply_updates([_update("a_0", "running")], owner="loop-A",
                               fences={("a", "a_0"): second.fence}) == set()


def test_assign_run_makes_the_caller_owner_with_a_new_fence(store: Store) -> None:
    queue(store, "a", 0)
    fence = store.assign_run("a", "a_0", owner="dag-test", now=NOW)
    assert store.heartbeat("dag-test", NOW) == {("a", "a_0"): fence}
    with pytest.raises(NotFoundError):
        store.assign_run("a", "missing", owner="dag-test", now=NOW)


def test_set_dag_run_state_can_clear_the_owner(store: Store) -> None:
    queue(store, "a", 0)
    store.claim_runs("loop-A", NOW, 1, STALE)
    store.set_dag_run_state("a", "a_0", "running")
    assert store.get_dag_run("a", "a_0").owner_loop == "loop-A"
    store.set_dag_run_state("a", "a_0", "queued", clear_owner=True)
    run = store.get_dag_run("a", "a_0")
    assert (run.state, run.owner_loop, run.heartbeat) == ("queued", None, None)


# -- concurrent loops on PostgreSQL ---------------------------------------------------


def _in_threads(count: int, work: Callable[[int], None], timeout: float = 120) -> None:
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            work(index)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a claiming thread hung"
    if errors:
        raise errors[0]


@pytest.fixture
def pg_store(pg_url: str):
    """Row locks and SKIP LOCKED are PostgreSQL's (SQLite has one writer): PG only."""
    opened = Store(pg_url)
    opened.reset()
    yield opened
    opened.dispose()


@pytest.mark.postgresql
def test_two_loops_claim_each_of_50_runs_exactly_once(pg_store: Store, pg_url: str) -> None:
    store, store_url = pg_store, pg_url
    caps = {f"d{k}": 3 for k in range(5)}
    for k in range(5):
        for n in range(10):
            queue(store, f"d{k}", n)
    claims: list[list[DagRunRecord]] = [[], []]
    overshoot: list[Counter[str]] = []
    barrier = threading.Barrier(2)

    def loop(index: int) -> None:
        with Store(store_url) as mine:
            barrier.wait()
            idle = 0
            while idle < 3:
                got = mine.claim_runs(f"loop-{index}", NOW, 4, STALE, caps)
                claims[index].extend(got)
                running = running_per_dag(mine)
                if any(running[dag_id] > cap for dag_id, cap in caps.items()):
                    overshoot.append(running)
                for run in got:
                    mine.set_dag_run_state(run.dag_id, run.run_id, "success", end_date=NOW)
                idle = 0 if got else idle + 1
                time.sleep(0.002)

    _in_threads(2, loop)
    every = [run.id for run in claims[0] + claims[1]]
    assert len(every) == 50 and len(set(every)) == 50
    assert claims[0] and claims[1], "both loops should have claimed some runs"
    assert overshoot == []
    assert store.list_dag_runs(states=["queued", "running"]) == []


def _claim_at_once(stores: list[Store], cap: int) -> list[int]:
    """Every store claims from DAG "a" at the same instant; the ids they got."""
    barrier = threading.Barrier(len(stores))
    claimed: list[int] = []

    def loop(index: int) -> None:
        barrier.wait()
        got = stores[index].claim_runs(f"loop-{index}", NOW, 20, STALE, {"a": cap})
        claimed.extend(run.id for run in got)

    _in_threads(len(stores), loop)
    return claimed


@pytest.mark.postgresql
def test_concurrent_claims_never_overshoot_max_active_runs(pg_store: Store, pg_url: str) -> None:
    store, store_url = pg_store, pg_url
    stores = [Store(store_url) for _ in range(4)]
    try:
        for attempt in range(5):
            store.reset()
            for n in range(20):
                queue(store, "a", n)
            claimed = _claim_at_once(stores, cap=5)
            assert len(claimed) == len(set(claimed)) == 5, f"attempt {attempt}"
            assert running_per_dag(store) == {"a": 5}
    finally:
        for opened in stores:
            opened.dispose()


@pytest.mark.postgresql
def test_claim_skips_a_row_another_transaction_holds(pg_store: Store) -> None:
    store = pg_store
    queue(store, "a", 0)
    queue(store, "a", 1)
    store.claim_runs("dead-loop", NOW, 2, STALE)
    later = NOW + 2 * STALE
    with store.engine.connect() as other, other.begin():
        held = select(dag_run.c.id).where(dag_run.c.run_id == "a_0").with_for_update()
        other.execute(held)
        got: list[DagRunRecord] = []
        _in_threads(1, lambda _: got.extend(store.claim_runs("loop-B", later, 10, STALE)), 20)
        assert ids(got) == ["a_1"]
    assert ids(store.claim_runs("loop-B", later, 10, STALE)) == ["a_0"]


@pytest.mark.postgresql
def test_claim_skips_a_dag_another_loop_is_claiming_from(pg_store: Store) -> None:
    store = pg_store
    queue(store, "a", 0)
    queue(store, "b", 0)
    lock = func.pg_advisory_xact_lock(DAG_LOCK_CLASS, func.hashtext("a"))
    with store.engine.connect() as other, other.begin():
        other.execute(select(lock))
        got: list[DagRunRecord] = []
        _in_threads(1, lambda _: got.extend(store.claim_runs("loop-B", NOW, 10, STALE)), 20)
        assert ids(got) == ["b_0"]
    assert ids(store.claim_runs("loop-B", NOW, 10, STALE)) == ["a_0"]


# -- run listing, versions ----------------------------------------------------------------


def test_list_dag_runs_by_several_states(store: Store) -> None:
    for n in range(4):
        queue(store, "a", n)
    store.set_dag_run_state("a", "a_1", "running")
    store.set_dag_run_state("a", "a_2", "success")
    assert ids(store.list_dag_runs(states=("queued", "running"))) == ["a_3", "a_1", "a_0"]
    assert ids(store.list_dag_runs("a", state="queued", states={"queued", "running"})) == [
        "a_3",
        "a_0",
    ]
    assert store.list_dag_runs(states=[]) == []


def test_created_run_is_stamped_queued_at(store: Store) -> None:
    before = datetime.now(UTC)
    run = queue(store, "a", 0)
    assert run.state == "queued"
    assert before <= run.queued_at <= datetime.now(UTC)


def test_list_dag_versions_newest_first(store: Store) -> None:
    for version in ("v1", "v2", "v3"):
        store.save_dag_version(version, "a", "/a.py", f"source {version}", None)
    store.save_dag_version("other", "b", "/b.py", "", None)
    assert [v.version_id for v in store.list_dag_versions("a")] == ["v3", "v2", "v1"]
    assert store.list_dag_versions("nope") == []


def test_dag_run_before(store: Store) -> None:
    for n in (0, 2, 5):
        queue(store, "a", n)
    queue(store, "b", 4)
    assert store.dag_run_before("a", day(5)).run_id == "a_2"
    assert store.dag_run_before("a", day(3)).run_id == "a_2"
    assert store.dag_run_before("a", day(0)) is None


# -- scheduling reads -------------------------------------------------------------------


def test_latest_scheduled_intervals_one_statement(store: Store) -> None:
    store.sync_dags([DagRecord(d, f"/{d}.py") for d in ("a", "b", "c")])
    for n in (0, 2, 1):
        queue(store, "a", n)
    queue(store, "a", 9, run_type="manual")
    queue(store, "b", 3, run_type="manual")
    queue(store, "c", 1)
    store.create_dag_run("c", "no_interval", day(8), None, None, "scheduled", {})
    queue(store, "unsynced", 0)
    with statements(store.engine) as seen:
        latest = store.latest_scheduled_intervals()
    assert latest == {"a": (day(2), day(3)), "c": (day(1), day(2))}
    assert len(seen) == 1


def test_active_run_counts_and_paused_dags(store: Store) -> None:
    store.sync_dags([DagRecord(d, f"/{d}.py") for d in ("a", "b", "c")])
    store.set_paused("b", True)
    store.set_paused("c", True)
    store.set_paused("c", False)
    for n in range(4):
        queue(store, "a", n)
    queue(store, "b", 0)
    queue(store, "c", 0)
    store.set_dag_run_state("a", "a_0", "running")
    store.set_dag_run_state("a", "a_1", "success")
    store.set_dag_run_state("c", "c_0", "failed")
    with statements(store.engine) as seen:
        counts = store.active_run_counts()
        paused = store.paused_dag_ids()
    assert counts == {"a": 3, "b": 1}
    assert paused == {"b"}
    assert len(seen) == 2


@pytest.mark.slow
def test_scheduling_reads_over_1000_dags_are_three_statements_on_the_index(
        store: Store) -> None:
    """What keeps a tick cheap over 1,000 DAGs (timed in benchmarks/loop_cost.py):
    one statement per read, and the newest run of each DAG found through the index."""
    dag_ids = [f"dag_{k:04d}" for k in range(1000)]
    store.sync_dags(
        [DagRecord(d, f"/dags/{d}.py", is_paused=k % 10 == 0) for k, d in enumerate(dag_ids)]
    )
    rows = [
        {
            "dag_id": d,
            "run_id": f"scheduled__{n}",
            "logical_date": day(n),
            "data_interval_start": day(n),
            "data_interval_end": day(n + 1),
            "state": "success" if n < 19 else "running",
            "run_type": "scheduled",
        }
        for d in dag_ids
        for n in range(20)
    ]
    with store.engine.begin() as conn:
        conn.execute(dag_run.insert(), rows)
        if conn.dialect.name == "postgresql":
            conn.execute(text("ANALYZE dag_run"))
    with statements(store.engine) as counted:
        latest = store.latest_scheduled_intervals()
        counts = store.active_run_counts()
        paused = store.paused_dag_ids()
    assert len(latest) == 1000 and latest["dag_0007"] == (day(19), day(20))
    assert sum(counts.values()) == 1000 and len(paused) == 100
    assert len(counted) == 3
    with store.engine.connect() as conn:
        query = scheduling.latest_scheduled_intervals_query().compile(
            conn, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        plan = " ".join(str(row) for row in conn.execute(text(explain + str(query))))
    assert "ix_dag_run_dag_id_run_type_logical_date" in plan, plan


# -- clearing ---------------------------------------------------------------------------


def _finished_run(store: Store) -> None:
    queue(store, "a", 0)
    store.claim_runs("loop-A", NOW, 1, STALE)
    done = {"state": "success", "try_number": 2, "start_date": day(0), "end_date": day(1)}
    store.apply_updates(
        [
            TaskUpdate("a", "a_0", "t", duration=3.5, **done),
            TaskUpdate("a", "a_0", "u", state="up_for_retry", next_try_at=day(2)),
            *(TaskUpdate("a", "a_0", "m", map_index=i, **done) for i in range(3)),
        ],
        [AttemptUpdate("a", "a_0", "t", try_number=n, log=f"try {n}") for n in (1, 2)],
        [
            XComUpdate("a", "a_0", "t", "return_value", 1),
            XComUpdate("a", "a_0", "u", "return_value", 2),
            XComUpdate("a", "a_0", "m", "return_value", 3, map_index=1),
            XComUpdate("a", "a_0", "m", "return_value", 4, map_index=2),
        ],
    )
    store.set_dag_run_state("a", "a_0", "success", end_date=day(1))


def test_clear_task_instances_resets_them_and_requeues_the_run(store: Store) -> None:
    _finished_run(store)
    assert store.clear_task_instances("a", "a_0", [("t", -1), ("m", 1), ("zz", -1)]) == 2

    t = store.get_task_instance("a", "a_0", "t")
    assert (t.state, t.end_date, t.duration, t.try_number, t.start_date) == (
        None,
        None,
        None,
        2,
        day(0),
    )
    assert store.get_task_instance("a", "a_0", "m", 1).state is None
    assert store.get_task_instance("a", "a_0", "m", 0).state == "success"
    assert store.get_task_instance("a", "a_0", "u").next_try_at == day(2)  # not cleared
    assert store.get_log("a", "a_0", "t", try_number=1) == "try 1"
    assert [a.try_number for a in store.list_attempts("a", "a_0", "t")] == [1, 2]
    xcoms = [(x.task_id, x.map_index) for x in store.list_xcoms("a", "a_0")]
    assert xcoms == [("m", 2), ("u", -1)]

    run = store.get_dag_run("a", "a_0")
    assert (run.state, run.end_date, run.owner_loop, run.heartbeat) == ("queued", None, None, None)
    (again,) = store.claim_runs("loop-B", NOW, 5, STALE)
    assert (again.run_id, again.owner_loop, again.start_date) == ("a_0", "loop-B", NOW)


def test_clear_clears_next_try_at_and_unknown_run_changes_nothing(store: Store) -> None:
    _finished_run(store)
    assert store.clear_task_instances("a", "a_0", [("u", -1)]) == 1
    assert store.get_task_instance("a", "a_0", "u").next_try_at is None
    with pytest.raises(NotFoundError, match="'nope'"):
        store.clear_task_instances("a", "nope", [("t", -1)])
    assert store.get_task_instance("a", "a_0", "t").state == "success"


def test_delete_mapped_instances_keeps_the_unmapped_row(store: Store) -> None:
    _finished_run(store)
    store.apply_updates([TaskUpdate("a", "a_0", "m", state="success")])
    store.apply_updates(attempts=[AttemptUpdate("a", "a_0", "m", 0, try_number=1, log="x")])
    assert store.delete_mapped_instances("a", "a_0", "m") == 3
    left = [(t.task_id, t.map_index) for t in store.list_task_instances("a", "a_0")]
    assert left == [("m", -1), ("t", -1), ("u", -1)]
    assert store.list_attempts("a", "a_0", "m", 0) == []
    assert [x.task_id for x in store.list_xcoms("a", "a_0")] == ["t", "u"]
    assert store.delete_mapped_instances("a", "a_0", "m") == 0


# -- depends_on_past ------------------------------------------------------------------


def test_previous_task_instance_state(store: Store) -> None:
    for n in range(4):
        queue(store, "a", n)
    queue(store, "b", 1)
    store.apply_updates(
        [
            TaskUpdate("a", "a_0", "t", state="failed"),
            TaskUpdate("a", "a_1", "t", state="success"),
            TaskUpdate("a", "a_1", "m", map_index=0, state="success"),
            TaskUpdate("a", "a_1", "m", map_index=1, state="upstream_failed"),
            TaskUpdate("a", "a_1", "m", map_index=2, state="removed"),
            TaskUpdate("a", "a_1", "k", map_index=0, state="success"),
            TaskUpdate("a", "a_1", "k", map_index=1, state="removed"),
            TaskUpdate("a", "a_2", "t"),
            TaskUpdate("b", "b_1", "t", state="failed"),
        ]
    )
    assert store.previous_task_instance_state("a", "t", day(1)) == "failed"
    assert store.previous_task_instance_state("a", "t", day(2)) == "success"
    assert store.previous_task_instance_state("a", "m", day(2)) == "upstream_failed"
    assert store.previous_task_instance_state("a", "k", day(2)) == "success"
    assert store.previous_task_instance_state("a", "t", day(3)) == "none"  # no state yet
    assert store.previous_task_instance_state("a", "m", day(3)) is None  # not in a_2
    assert store.previous_task_instance_state("a", "t", day(0)) is None  # first run


def test_has_claimable_follows_the_claim_rules(store: Store) -> None:
    store.sync_dags([DagRecord(d, f"/{d}.py") for d in ("mine", "paused", "other")])
    store.set_paused("paused", True)
    assert not store.has_claimable("me", NOW, STALE)

    store.create_dag_run("paused", "m1", DAY, DAY, DAY, "manual", {}, state="queued")
    store.create_dag_run("other", "m1", DAY, DAY, DAY, "manual", {}, state="queued")
    # A paused DAG's triggered run waits; a DAG outside this loop's set is not ours.
    assert not store.has_claimable("me", NOW, STALE, dag_ids={"mine", "paused"})
    assert store.has_claimable("me", NOW, STALE, dag_ids={"other"})

    later = DAY + timedelta(days=1)
    store.create_dag_run("paused", "b1", later, later, later, "backfill", {}, state="queued")
    assert store.has_claimable("me", NOW, STALE, dag_ids={"paused"})
    assert [r.run_id for r in store.claim_runs("me", NOW, 10, STALE, dag_ids={"paused"})] == [
        "b1"]


def test_has_claimable_says_no_while_the_dag_is_at_max_active_runs(store: Store) -> None:
    store.sync_dags([DagRecord("full", "/full.py", max_active_runs=1)])
    queue(store, "full", 0)
    queue(store, "full", 1)
    assert ids(store.claim_runs("me", NOW, 10, STALE)) == ["full_0"]
    # full_1 waits for full_0: a gate that opened here made every tick pay for a claim.
    assert not store.has_claimable("me", NOW, STALE)
    assert not store.has_claimable("other", NOW, STALE, dag_ids={"full"})
    assert store.claim_runs("other", NOW, 10, STALE) == []
    # The caps the loop parsed win over the synced ones, in the gate as in the claim.
    assert store.has_claimable("me", NOW, STALE, max_active_runs={"full": 2})
    store.set_dag_run_state("full", "full_0", "success", end_date=NOW, clear_owner=True)
    assert store.has_claimable("me", NOW, STALE)
    assert ids(store.claim_runs("me", NOW, 10, STALE)) == ["full_1"]


@pytest.mark.parametrize("scenario", ["empty", "at_cap", "paused", "backfill_of_paused",
                                      "orphan", "live_owner", "foreign_dag", "free"])
def test_has_claimable_agrees_with_the_claim(store: Store, scenario: str) -> None:
    store.sync_dags([DagRecord("a", "/a.py", max_active_runs=1),
                     DagRecord("p", "/p.py")])
    store.set_paused("p", True)
    mine = {"a", "p"}
    if scenario in ("at_cap", "orphan", "live_owner"):
        queue(store, "a", 0)
        heartbeat = {"at_cap": NOW, "orphan": NOW - 2 * STALE, "live_owner": NOW - STALE / 2}
        store.claim_runs("someone", heartbeat[scenario], 1, STALE)
        queue(store, "a", 1)
    elif scenario == "paused":
        queue(store, "p", 0, run_type="manual")
    elif scenario == "backfill_of_paused":
        queue(store, "p", 0, run_type="backfill")
    elif scenario == "foreign_dag":
        queue(store, "z", 0)
    elif scenario == "free":
        queue(store, "a", 0)
    gate = store.has_claimable("me", NOW, STALE, dag_ids=mine)
    claimed = store.claim_runs("me", NOW, 10, STALE, dag_ids=mine)
    assert gate == bool(claimed)
    expected = {"orphan": ["a_0"], "backfill_of_paused": ["p_0"], "free": ["a_0"]}
    assert ids(claimed) == expected.get(scenario, [])
