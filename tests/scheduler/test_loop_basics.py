"""The scheduler loop on a real LocalCluster and SQLite, driven tick by tick."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from loop_driving import drive_until, write_dag

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop

EVERY_SECOND_DAG = '''
from datetime import datetime, timedelta, timezone
from daskflow import DAG
from daskflow.operators import BashOperator, EmptyOperator

with DAG("ticker", schedule=timedelta(seconds=1),
         start_date=datetime.now(timezone.utc) - timedelta(seconds=3), catchup=True,
         max_active_runs=2):
    BashOperator(task_id="stamp", bash_command="echo {{ ts }}") >> EmptyOperator(task_id="done")
'''


def _folder(tmp_path: Path, **files: str) -> Path:
    for name, source in files.items():
        write_dag(tmp_path / "dags", name, source)
    return tmp_path / "dags"


def test_scheduled_runs_are_created_and_finished(dask_client, store, tmp_path):
    folder = DagFolder(_folder(tmp_path, ticker=EVERY_SECOND_DAG), store)
    loop = SchedulerLoop(folder, store, dask_client, results_url=str(tmp_path / "results"))
    try:
        drive_until(loop, lambda: len(store.list_dag_runs("ticker", state="success")) >= 4)
    finally:
        loop.shutdown()
    runs = store.list_dag_runs("ticker")
    dates = sorted(r.logical_date for r in runs)
    assert all(b - a == timedelta(seconds=1) for a, b in zip(dates, dates[1:], strict=False))
    assert len({r.logical_date for r in runs}) == len(runs)
    for run in store.list_dag_runs("ticker", state="success"):
        assert run.run_type == "scheduled" and run.run_id.startswith("scheduled__")
        states = {t.task_id: t.state for t in store.list_task_instances("ticker", run.run_id)}
        assert states == {"stamp": "success", "done": "success"}
    assert all(r.dag_version for r in runs)


def test_a_bad_file_is_an_import_error_and_others_still_run(dask_client, store, tmp_path):
    folder = DagFolder(_folder(tmp_path, ticker=EVERY_SECOND_DAG,
                               broken="from daskflow import DAG\nraise RuntimeError('boom')\n"),
                       store)
    loop = SchedulerLoop(folder, store, dask_client, results_url=str(tmp_path / "results"))
    try:
        drive_until(loop, lambda: store.list_dag_runs("ticker", state="success"))
    finally:
        loop.shutdown()
    errors = store.list_import_errors()
    assert len(errors) == 1 and errors[0].filename.endswith("broken.py")
    assert "RuntimeError: boom" in errors[0].stacktrace
