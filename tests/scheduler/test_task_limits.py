"""``max_active_tis_per_dag``, ``max_active_tis_per_dagrun`` and ``max_active_tasks``.

As in Airflow 3.3 (``TaskConcurrencyDep`` and the scheduler's queueing
query): the first bounds the running instances of one task over all runs of
its DAG, the second those of one task within one run (it matters for mapped
tasks), the third the running task instances of one run (per run since
Airflow 3). Each attempt journals its start and end; the most that ever ran at
once is replayed from the journal.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from loop_driving import drive_until, write_dag

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop

DAY = datetime(2025, 1, 1, tzinfo=UTC)


def _most_at_once(journal: Path, key) -> dict[str, int]:
    """Per ``key(name, run_id)``: the most attempts running at the same time."""
    events = defaultdict(list)
    for line in journal.read_text().splitlines():
        at, delta, name, run_id = line.split()
        events[key(name, run_id)].append((float(at), int(delta)))
    peaks = {}
    for group, changes in events.items():
        running = peak = 0
        for _, delta in sorted(changes):
            running += delta
            peak = max(peak, running)
        peaks[group] = peak
    return peaks


def _semaphores(client) -> set[str]:
    return set(client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.extensions["semaphores"].max_leases)))


@pytest.mark.slow
def test_task_limits_hold_across_runs_and_within_a_run(dask_client, store, tmp_path):
    journal = tmp_path / "journal"
    write_dag(tmp_path / "dags", "limited", f'''
        import time
        from daskflow import DAG
        from daskflow.operators import PythonOperator

        def busy(name, run_id):
            with open({str(journal)!r}, "a") as f:
                f.write(f"{{time.time()}} 1 {{name}} {{run_id}}\\n")
            time.sleep(0.4)
            with open({str(journal)!r}, "a") as f:
                f.write(f"{{time.time()}} -1 {{name}} {{run_id}}\\n")

        with DAG("limited"):
            solo = PythonOperator(task_id="solo", python_callable=busy, op_args=["solo"],
                                  max_active_tis_per_dag=1)
            solo >> PythonOperator.partial(task_id="fan", python_callable=busy,
                                           max_active_tis_per_dagrun=1).expand(
                op_args=[["fan"], ["fan"], ["fan"]])
    ''')
    loop = SchedulerLoop(DagFolder(tmp_path / "dags", store), store, dask_client,
                         results_url=str(tmp_path / "results"), parse_interval=0.2)
    try:
        loop.folder.refresh()
        for n in range(2):
            day = DAY + timedelta(days=n)
            store.create_dag_run("limited", f"r{n}", day, day, day, "manual", {},
                                 state="queued")
        drive_until(loop, lambda: ("limited", "r1") in loop.executions)
        assert "daskflow-task-run-limited-r1-fan" in _semaphores(dask_client)
        drive_until(loop, lambda: {r.state for r in store.list_dag_runs("limited")}
                    == {"success"})
    finally:
        loop.shutdown()
    lines = journal.read_text().splitlines()
    assert len(lines) == 2 * 2 * (1 + 3)
    # solo: once at a time over both runs; fan: once at a time in each run.
    assert _most_at_once(journal, lambda name, run: name)["solo"] == 1
    assert _most_at_once(journal, lambda name, run: (name, run)) == {
        ("solo", "r0"): 1, ("solo", "r1"): 1, ("fan", "r0"): 1, ("fan", "r1"): 1}
    # A run's own semaphores go when it ends; the DAG-wide one stays for the next run.
    left = _semaphores(dask_client)
    assert "daskflow-task-limited-solo" in left
    assert not {name for name in left if name.startswith("daskflow-task-run-limited-")}


@pytest.mark.slow
def test_max_active_tasks_counts_the_tasks_of_one_run(dask_client, store, tmp_path):
    journal = tmp_path / "journal"
    write_dag(tmp_path / "dags", "narrow", f'''
        import time
        from daskflow import DAG
        from daskflow.operators import PythonOperator

        def busy(name, run_id):
            with open({str(journal)!r}, "a") as f:
                f.write(f"{{time.time()}} 1 {{name}} {{run_id}}\\n")
            time.sleep(0.4)
            with open({str(journal)!r}, "a") as f:
                f.write(f"{{time.time()}} -1 {{name}} {{run_id}}\\n")

        with DAG("narrow", max_active_tasks=1):
            for n in range(3):
                PythonOperator(task_id=f"t{{n}}", python_callable=busy, op_args=[f"t{{n}}"])
    ''')
    loop = SchedulerLoop(DagFolder(tmp_path / "dags", store), store, dask_client,
                         results_url=str(tmp_path / "results"), parse_interval=0.2)
    try:
        loop.folder.refresh()
        for n in range(2):
            day = DAY + timedelta(days=n)
            store.create_dag_run("narrow", f"r{n}", day, day, day, "manual", {},
                                 state="queued")
        drive_until(loop, lambda: {r.state for r in store.list_dag_runs("narrow")}
                    == {"success"})
    finally:
        loop.shutdown()
    assert _most_at_once(journal, lambda name, run: run) == {"r0": 1, "r1": 1}
    # Two runs, one task each at a time: the two runs ran side by side.
    assert _most_at_once(journal, lambda name, run: "both") == {"both": 2}
    assert not {n for n in _semaphores(dask_client) if n.startswith("daskflow-run-narrow-")}
