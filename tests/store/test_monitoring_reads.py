"""The dashboard's counting reads, on SQLite and PostgreSQL: metrics and per-task states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from daskflow.store import Store
from daskflow.store.records import TaskInstanceRecord

DAY = datetime(2024, 1, 1, tzinfo=UTC)


def _instances(store: Store, run_id: str, *rows: tuple[str, int, str | None, str, int]) -> None:
    store.create_task_instances([
        TaskInstanceRecord("etl", run_id, task_id, map_index, state=state, pool=pool,
                           pool_slots=slots)
        for task_id, map_index, state, pool, slots in rows])


def test_state_counts_per_task_count_a_mapped_task_by_its_expanded_instances(store: Store):
    store.create_dag_run("etl", "r1", DAY, DAY, DAY, "manual", {})
    _instances(store, "r1",
               ("extract", -1, "success", "default_pool", 1),
               ("square", -1, None, "default_pool", 1),  # the row from before expansion
               ("square", 0, "success", "default_pool", 1),
               ("square", 1, "success", "default_pool", 1),
               ("square", 2, "failed", "default_pool", 1),
               ("later", -1, None, "default_pool", 1))

    counts = store.task_state_counts_by_task("etl", "r1")

    assert counts == {"extract": {"success": 1}, "square": {"success": 2, "failed": 1},
                      "later": {"none": 1}}
    assert store.task_state_counts_by_task("etl", "no-such-run") == {}


def test_monitoring_counts_read_runs_instances_pools_errors_and_delays(store: Store):
    store.set_pool("small", 4)
    scheduled = store.create_dag_run("etl", "s1", DAY, DAY - timedelta(days=1), DAY,
                                     "scheduled", {})
    store.assign_run("etl", "s1", "loop-a", DAY + timedelta(seconds=90))
    store.create_dag_run("etl", "s0", DAY - timedelta(days=1), None, None, "manual", {},
                         state="failed")
    _instances(store, "s1", ("a", -1, "running", "small", 3), ("b", -1, None, "small", 1),
               ("c", -1, "success", "default_pool", 1))
    store.set_import_errors({"/dags/bad.py": "Traceback ..."}, clear_others_under=None)

    counts = store.monitoring_counts()

    assert counts.runs == {("etl", "running"): 1, ("etl", "failed"): 1}
    assert counts.task_instances == {"running": 1, "none": 1, "success": 1}
    pools = {p.name: (p.slots, p.used, p.open) for p in counts.pools}
    assert pools == {"default_pool": (128, 0, 128), "small": (4, 3, 1)}
    assert counts.import_errors == 1
    # The newest started run is the scheduled one: due at its interval's end, started 90 s on.
    assert scheduled.data_interval_end == DAY
    assert counts.schedule_delays == {"etl": 90.0}


def test_try_spans_hold_ended_tries_and_running_ones_but_no_try_that_never_started(
        store: Store):
    from daskflow.store.records import AttemptUpdate, TaskUpdate

    store.create_dag_run("etl", "r1", DAY, DAY, DAY, "manual", {})
    second = timedelta(seconds=1)
    store.apply_updates(
        task_updates=[TaskUpdate("etl", "r1", "a", state="up_for_retry", try_number=1),
                      TaskUpdate("etl", "r1", "b", state="running", try_number=1,
                                 start_date=DAY + second, queued_at=DAY, worker="tcp://w:2"),
                      TaskUpdate("etl", "r1", "c", state="skipped")],
        attempts=[AttemptUpdate("etl", "r1", "a", try_number=1, state="up_for_retry",
                                queued_date=DAY, start_date=DAY + second,
                                end_date=DAY + 2 * second, worker="tcp://w:1"),
                  AttemptUpdate("etl", "r1", "c", try_number=1, state="skipped")])

    spans = sorted(store.run_try_spans("etl", "r1"), key=lambda s: s.task_id)

    assert [(s.task_id, s.try_number, s.state, s.worker) for s in spans] == [
        ("a", 1, "up_for_retry", "tcp://w:1"), ("b", 1, "running", "tcp://w:2")]
    assert (spans[0].queued, spans[0].start, spans[0].end) == (DAY, DAY + second,
                                                               DAY + 2 * second)
    assert (spans[1].queued, spans[1].start, spans[1].end) == (DAY, DAY + second, None)
