"""The store's contract, run against every backend (SQLite and PostgreSQL).

Whatever a test here asserts, the scheduler, runner and dashboard may rely on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, event, text

from daskflow.store import (
    AttemptUpdate,
    ConstraintError,
    DagRecord,
    DagRunRecord,
    NotFoundError,
    RunExistsError,
    Store,
    StoreError,
    TaskInstanceRecord,
    TaskUpdate,
    XComUpdate,
)
from daskflow.store.migrations import head_revision
from daskflow.store.schema import metadata

DAY = datetime(2024, 1, 1, tzinfo=UTC)
DAG = "etl"


def day(n: int) -> datetime:
    return DAY + timedelta(days=n)


def make_run(store: Store, run_id: str = "r1", n: int = 0, dag_id: str = DAG) -> DagRunRecord:
    return store.create_dag_run(dag_id, run_id, day(n), day(n), day(n + 1), "scheduled", {})


@contextmanager
def counting(engine: Engine, name: str) -> Iterator[list[object]]:
    """Collect every ``name`` event (``commit``, ``before_cursor_execute``) of ``engine``."""
    seen: list[object] = []

    def listener(*args: object) -> None:
        seen.append(args)

    event.listen(engine, name, listener)
    try:
        yield seen
    finally:
        event.remove(engine, name, listener)


# -- schema -----------------------------------------------------------------------------


def test_migration_builds_exactly_schema_py(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_init_on_empty_database_creates_schema_and_default_pool(store: Store) -> None:
    with store.engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(text("DROP TABLE alembic_version"))
    assert store.current_revision() is None
    store.init()
    assert store.current_revision() == head_revision() == "0008"
    assert store.get_pool("default_pool").slots == 128


def test_init_is_idempotent_and_keeps_data(store: Store) -> None:
    make_run(store)
    store.set_pool("default_pool", 4)
    store.init()
    store.upgrade()
    assert store.current_revision() == head_revision()
    assert store.get_dag_run(DAG, "r1") is not None
    assert store.get_pool("default_pool").slots == 4


def test_reset_drops_data_and_recreates_schema(store: Store) -> None:
    make_run(store)
    store.set_pool("gpu", 2)
    store.reset()
    assert store.list_dag_runs() == []
    assert [p.name for p in store.list_pools()] == ["default_pool"]
    assert store.current_revision() == head_revision()


# -- runs ---------------------------------------------------------------------------------


def test_same_logical_date_is_refused(store: Store) -> None:
    make_run(store, "r1", n=0)
    with pytest.raises(RunExistsError, match="'r1'"):
        make_run(store, "r2", n=0)
    assert [r.run_id for r in store.list_dag_runs(DAG)] == ["r1"]


def test_same_run_id_is_refused(store: Store) -> None:
    make_run(store, "r1", n=0)
    with pytest.raises(RunExistsError):
        make_run(store, "r1", n=1)
    assert len(store.list_dag_runs(DAG)) == 1


def test_same_logical_date_in_another_dag_is_allowed(store: Store) -> None:
    make_run(store, "r1", dag_id="a")
    make_run(store, "r1", dag_id="b")
    assert {r.dag_id for r in store.list_dag_runs()} == {"a", "b"}


def _race(store: Store, attempts: list[tuple[str, int]]) -> list[object]:
    barrier = threading.Barrier(len(attempts))
    outcomes: list[object] = []

    def attempt(run_id: str, n: int) -> None:
        barrier.wait()
        try:
            outcomes.append(make_run(store, run_id, n))
        except RunExistsError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=a) for a in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@pytest.mark.parametrize("clash", ["logical_date", "run_id"])
def test_concurrent_creates_exactly_one_wins(store: Store, clash: str) -> None:
    if clash == "logical_date":
        attempts = [(f"r{i}", 0) for i in range(8)]
    else:
        attempts = [("r", i) for i in range(8)]
    outcomes = _race(store, attempts)
    assert len(outcomes) == 8
    assert sum(isinstance(o, DagRunRecord) for o in outcomes) == 1
    assert sum(isinstance(o, RunExistsError) for o in outcomes) == 7
    assert len(store.list_dag_runs(DAG)) == 1


def test_created_run_is_returned_and_read_back(store: Store) -> None:
    created = store.create_dag_run(
        DAG,
        "manual__1",
        DAY,
        DAY,
        day(1),
        "manual",
        {"x": [1, 2]},
        external_trigger=True,
        dag_version="abc",
    )
    assert created == store.get_dag_run(DAG, "manual__1")
    assert (created.state, created.conf, created.external_trigger) == (
        "queued",
        {"x": [1, 2]},
        True,
    )
    assert created.queued_at is not None and created.queued_at.tzinfo is UTC
    assert store.get_dag_run(DAG, "missing") is None


def test_list_dag_runs_newest_first_filtered_and_limited(store: Store) -> None:
    for n in (1, 3, 2):
        make_run(store, f"r{n}", n)
    make_run(store, "other", 9, dag_id="other")
    store.set_dag_run_state(DAG, "r2", "running")
    assert [r.run_id for r in store.list_dag_runs(DAG)] == ["r3", "r2", "r1"]
    assert [r.run_id for r in store.list_dag_runs()] == ["other", "r3", "r2", "r1"]
    assert [r.run_id for r in store.list_dag_runs(DAG, limit=2)] == ["r3", "r2"]
    assert [r.run_id for r in store.list_dag_runs(state="running")] == ["r2"]


def test_set_dag_run_state_keeps_dates_not_given(store: Store) -> None:
    make_run(store)
    store.set_dag_run_state(DAG, "r1", "running", start_date=day(1))
    store.set_dag_run_state(DAG, "r1", "success", end_date=day(2))
    run = store.get_dag_run(DAG, "r1")
    assert (run.state, run.start_date, run.end_date) == ("success", day(1), day(2))
    with pytest.raises(NotFoundError):
        store.set_dag_run_state(DAG, "nope", "failed")


# -- datetimes ---------------------------------------------------------------------------


def test_datetimes_round_trip_as_aware_utc(store: Store) -> None:
    plus5 = timezone(timedelta(hours=5))
    local = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=plus5)
    store.create_dag_run(DAG, "r", local, local, local, "manual", None)
    run = store.get_dag_run(DAG, "r")
    assert run.logical_date == local
    assert run.logical_date.tzinfo is UTC and run.logical_date.hour == 7
    assert run.conf is None


def test_runs_are_ordered_by_instant_not_by_local_clock(store: Store) -> None:
    early = datetime(2024, 1, 1, 10, tzinfo=timezone(timedelta(hours=5)))  # 05:00 UTC
    late = datetime(2024, 1, 1, 6, tzinfo=UTC)
    store.create_dag_run(DAG, "early", early, None, None, "manual", {})
    store.create_dag_run(DAG, "late", late, None, None, "manual", {})
    assert [r.run_id for r in store.list_dag_runs(DAG)] == ["late", "early"]


def test_naive_datetime_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="naive"):
        store.create_dag_run(DAG, "r", datetime(2024, 1, 1), None, None, "manual", {})
    assert store.list_dag_runs() == []


# -- task instances ---------------------------------------------------------------------


def test_apply_updates_writes_a_large_batch_in_one_transaction(store: Store) -> None:
    make_run(store)
    updates = [TaskUpdate(DAG, "r1", f"t{i}", state="success", try_number=1) for i in range(1000)]
    attempts = [
        AttemptUpdate(DAG, "r1", f"t{i}", try_number=1, log=f"log {i}") for i in range(1000)
    ]
    xcoms = [XComUpdate(DAG, "r1", f"t{i}", "return_value", i) for i in range(1000)]
    with counting(store.engine, "commit") as commits:
        with counting(store.engine, "before_cursor_execute") as statements:
            store.apply_updates(updates, attempts, xcoms)
    assert len(commits) == 1
    assert len(statements) < 20  # executemany in chunks, not 3,000 round trips
    assert store.task_state_counts(DAG, "r1") == {"success": 1000}
    assert store.get_log(DAG, "r1", "t999") == "log 999"
    assert len(store.list_xcoms(DAG, "r1")) == 1000


def test_failed_batch_writes_nothing(store: Store) -> None:
    make_run(store)
    good = TaskUpdate(DAG, "r1", "t", state="success")
    orphan = AttemptUpdate(DAG, "no-such-run", "t", try_number=1)
    with pytest.raises(ConstraintError):
        store.apply_updates([good], [orphan])
    assert store.get_task_instance(DAG, "r1", "t") is None


def test_partial_updates_leave_other_fields_untouched(store: Store) -> None:
    make_run(store)
    record = TaskInstanceRecord(
        DAG,
        "r1",
        "t",
        state="queued",
        max_tries=3,
        operator="BashOperator",
        pool="gpu",
        pool_slots=2,
        priority_weight=7,
        queued_at=day(0),
    )
    store.create_task_instances([record])
    store.apply_updates([TaskUpdate(DAG, "r1", "t", state="running", start_date=day(1))])
    store.apply_updates([TaskUpdate(DAG, "r1", "t", hostname="h1", worker="tcp://w:1")])
    got = store.get_task_instance(DAG, "r1", "t")
    assert (got.state, got.start_date, got.hostname, got.worker) == (
        "running",
        day(1),
        "h1",
        "tcp://w:1",
    )
    assert (got.max_tries, got.operator, got.pool, got.pool_slots) == (3, "BashOperator", "gpu", 2)
    assert (got.priority_weight, got.queued_at, got.try_number) == (7, day(0), 0)


def test_update_of_missing_task_instance_inserts_it_with_defaults(store: Store) -> None:
    make_run(store)
    store.apply_updates([TaskUpdate(DAG, "r1", "t", map_index=3, state="running")])
    got = store.get_task_instance(DAG, "r1", "t", map_index=3)
    assert (got.state, got.try_number, got.pool, got.pool_slots) == (
        "running",
        0,
        "default_pool",
        1,
    )
    assert got.updated_at is not None
    assert store.get_task_instance(DAG, "r1", "t") is None


def test_updates_to_one_row_in_one_batch_merge_in_order(store: Store) -> None:
    make_run(store)
    store.apply_updates(
        [
            TaskUpdate(DAG, "r1", "t", state="queued", end_date=day(1)),
            TaskUpdate(DAG, "r1", "t", state="running", hostname="h"),
            TaskUpdate(DAG, "r1", "t", state="up_for_retry", clear=frozenset({"end_date"})),
        ]
    )
    got = store.get_task_instance(DAG, "r1", "t")
    assert (got.state, got.hostname, got.end_date) == ("up_for_retry", "h", None)


def test_clear_sets_a_field_back_to_null(store: Store) -> None:
    make_run(store)
    store.apply_updates([TaskUpdate(DAG, "r1", "t", state="failed", next_try_at=day(1))])
    store.apply_updates([TaskUpdate(DAG, "r1", "t", clear=frozenset({"state", "next_try_at"}))])
    got = store.get_task_instance(DAG, "r1", "t")
    assert (got.state, got.next_try_at) == (None, None)
    with pytest.raises(ValueError, match="try_number"):
        TaskUpdate(DAG, "r1", "t", clear=frozenset({"try_number"}))


def test_create_task_instances_ignores_existing(store: Store) -> None:
    make_run(store)
    store.create_task_instances(
        [TaskInstanceRecord(DAG, "r1", "a"), TaskInstanceRecord(DAG, "r1", "b")]
    )
    store.apply_updates([TaskUpdate(DAG, "r1", "a", state="success")])
    store.create_task_instances(
        [TaskInstanceRecord(DAG, "r1", "a"), TaskInstanceRecord(DAG, "r1", "c")]
    )
    assert [(t.task_id, t.state) for t in store.list_task_instances(DAG, "r1")] == [
        ("a", "success"),
        ("b", None),
        ("c", None),
    ]


def test_task_instances_listed_by_task_then_map_index(store: Store) -> None:
    make_run(store)
    keys = [("b", -1), ("a", 2), ("a", 0), ("a", 1)]
    store.create_task_instances([TaskInstanceRecord(DAG, "r1", t, m) for t, m in keys])
    listed = [(t.task_id, t.map_index) for t in store.list_task_instances(DAG, "r1")]
    assert listed == [("a", 0), ("a", 1), ("a", 2), ("b", -1)]


def test_task_state_counts(store: Store) -> None:
    make_run(store)
    states = ["success", "success", "failed", None]
    store.apply_updates([TaskUpdate(DAG, "r1", f"t{i}", state=s) for i, s in enumerate(states)])
    assert store.task_state_counts(DAG, "r1") == {"success": 2, "failed": 1, "none": 1}
    assert store.task_state_counts(DAG, "other") == {}


# -- attempts, logs, xcoms --------------------------------------------------------------


def _two_attempts(store: Store) -> None:
    make_run(store)
    store.apply_updates(
        [TaskUpdate(DAG, "r1", "t", try_number=2)],
        [
            AttemptUpdate(DAG, "r1", "t", try_number=2, state="success", log="second"),
            AttemptUpdate(DAG, "r1", "t", try_number=1, state="failed", log="first", error="Boom"),
        ],
    )


def test_logs_are_kept_per_attempt(store: Store) -> None:
    _two_attempts(store)
    assert store.get_log(DAG, "r1", "t") == "second"
    assert store.get_log(DAG, "r1", "t", try_number=1) == "first"
    assert store.get_log(DAG, "r1", "t", try_number=3) is None
    assert store.get_log(DAG, "r1", "other") is None


def test_attempts_listed_in_try_order_and_upserted(store: Store) -> None:
    _two_attempts(store)
    store.apply_updates(
        attempts=[
            AttemptUpdate(
                DAG,
                "r1",
                "t",
                try_number=1,
                state="failed",
                error="Boom again",
                log="first, rewritten",
            )
        ]
    )
    attempts = store.list_attempts(DAG, "r1", "t")
    assert [(a.try_number, a.state, a.error) for a in attempts] == [
        (1, "failed", "Boom again"),
        (2, "success", None),
    ]
    assert store.get_log(DAG, "r1", "t", try_number=1) == "first, rewritten"


def test_xcom_upsert_replaces_value(store: Store) -> None:
    make_run(store)
    store.apply_updates(
        xcoms=[XComUpdate(DAG, "r1", "a", "return_value", {"n": 1})],
        task_updates=[TaskUpdate(DAG, "r1", "a"), TaskUpdate(DAG, "r1", "b")],
    )
    store.apply_updates(
        xcoms=[
            XComUpdate(DAG, "r1", "a", "return_value", {"n": 2}),
            XComUpdate(DAG, "r1", "b", "k", "repr(<object>)"),
        ]
    )
    assert [(x.task_id, x.key, x.value) for x in store.list_xcoms(DAG, "r1")] == [
        ("a", "return_value", {"n": 2}),
        ("b", "k", "repr(<object>)"),
    ]
    assert [x.key for x in store.list_xcoms(DAG, "r1", task_id="b")] == ["k"]


# -- dags -----------------------------------------------------------------------------------


def test_sync_dags_keeps_paused_and_next_dagrun(store: Store) -> None:
    store.sync_dags([DagRecord("a", "/dags/a.py", tags=["x", "y"]), DagRecord("b", "/dags/b.py")])
    store.set_paused("a", True)
    store.set_next_dagrun("a", day(3), day(2), day(3))
    assert store.get_dag("a").tags == ("x", "y")
    store.sync_dags([DagRecord("a", "/dags/a2.py", is_paused=False, description="new", tags=["z"])])
    got = store.get_dag("a")
    assert (got.is_paused, got.fileloc, got.description, got.tags) == (
        True,
        "/dags/a2.py",
        "new",
        ("z",),
    )
    assert (got.next_dagrun, got.next_dagrun_data_interval_start) == (day(3), day(2))
    assert got.last_parsed is not None and got.last_parsed.tzinfo is UTC
    assert [d.dag_id for d in store.list_dags()] == ["a", "b"]
    assert store.get_dag("zzz") is None


def test_new_dag_takes_is_paused_from_its_record(store: Store) -> None:
    store.sync_dags([DagRecord("a", "/dags/a.py", is_paused=True)])
    assert store.get_dag("a").is_paused is True
    with pytest.raises(NotFoundError, match="'nope'"):
        store.set_paused("nope", False)


def test_mark_inactive_only_within_fileloc(store: Store) -> None:
    store.sync_dags([DagRecord("a", "/f1.py"), DagRecord("b", "/f1.py"), DagRecord("c", "/f2.py")])
    assert store.mark_inactive({"a"}, fileloc="/f1.py") == 1
    assert {d.dag_id: d.is_active for d in store.list_dags()} == {"a": True, "b": False, "c": True}
    assert store.mark_inactive(set(), fileloc=None) == 2
    assert not any(d.is_active for d in store.list_dags())


def test_dag_versions_are_saved_once(store: Store) -> None:
    store.save_dag_version("h1", "a", "/a.py", "source 1", {"tasks": ["t"]})
    store.save_dag_version("h1", "a", "/a.py", "changed", {"tasks": []})
    got = store.get_dag_version("h1")
    assert (got.source, got.structure) == ("source 1", {"tasks": ["t"]})
    assert store.get_dag_version("h2") is None


# -- import errors and pools ------------------------------------------------------------


def test_import_errors_cleared_only_under_folder(store: Store) -> None:
    errors = {"/dags/x.py": "tb x", "/dags/y.py": "tb y", "/dags2/z.py": "tb z"}
    store.set_import_errors(errors, clear_others_under=None)
    store.set_import_errors({"/dags/y.py": "tb y2"}, clear_others_under="/dags")
    listed = [(e.filename, e.stacktrace) for e in store.list_import_errors()]
    assert listed == [("/dags/y.py", "tb y2"), ("/dags2/z.py", "tb z")]
    assert store.list_import_errors()[0].timestamp.tzinfo is UTC


def test_pools(store: Store) -> None:
    store.set_pool("gpu", 2, "two cards")
    store.set_pool("gpu", 3)
    store.set_pool("cpu", 8)
    assert [(p.name, p.slots) for p in store.list_pools()] == [
        ("cpu", 8),
        ("default_pool", 128),
        ("gpu", 3),
    ]
    store.delete_pool("cpu")
    assert store.get_pool("cpu") is None
    with pytest.raises(NotFoundError):
        store.delete_pool("cpu")
    with pytest.raises(ValueError):
        store.set_pool("bad", -1)


def test_default_pool_cannot_be_deleted(store: Store) -> None:
    with pytest.raises(StoreError, match="default_pool"):
        store.delete_pool("default_pool")
    assert store.get_pool("default_pool") is not None


# -- opening the store --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg://daskflow:s3cret@127.0.0.1:1/nowhere", "127.0.0.1:1/nowhere"),
        ("mysql://daskflow:s3cret@db.example/daskflow", "db.example"),
        ("postgresql+nosuchdriver://daskflow:s3cret@db.example/x", "nosuchdriver"),
    ],
)
def test_bad_url_error_names_url_and_masks_password(url: str, shown: str) -> None:
    with pytest.raises(StoreError) as info:
        Store(url)
    message = str(info.value)
    assert shown in message and "daskflow:***@" in message
    assert "s3cret" not in message


def test_unparseable_url_is_named() -> None:
    with pytest.raises(StoreError, match="'not a url'"):
        Store("not a url")


def test_sqlite_is_tuned_on_connect(tmp_path) -> None:
    with Store.from_url(f"sqlite:///{tmp_path / 'a' / 'b' / 'daskflow.db'}") as store:
        assert (tmp_path / "a" / "b" / "daskflow.db").exists()
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
