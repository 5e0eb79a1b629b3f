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
