"""LatestOnlyOperator: only the latest scheduled run runs what follows it."""

from __future__ import annotations

import textwrap
import time
from datetime import datetime, timedelta, timezone

from daskflow import DAG
from daskflow.models.context import DagRunInfo
from daskflow.operators import EmptyOperator, LatestOnlyOperator
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow

UTC = timezone.utc

LATEST_ONLY_DAG = '''
from datetime import datetime, timedelta, timezone
from daskflow import DAG
from daskflow.operators import EmptyOperator, LatestOnlyOperator

today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
with DAG("latest", schedule="@daily", start_date=today - timedelta(days=3), catchup=True):
    latest = LatestOnlyOperator(task_id="latest_only")
    direct = EmptyOperator(task_id="direct")
    latest >> direct >> EmptyOperator(task_id="indirect")
    direct >> EmptyOperator(task_id="all_done", trigger_rule="all_done")
    EmptyOperator(task_id="beside")
'''


def test_only_the_latest_scheduled_run_runs_downstream(dask_client, store, tmp_path):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "latest.py").write_text(textwrap.dedent(LATEST_ONLY_DAG))
    loop = SchedulerLoop(DagFolder(folder, store), store, dask_client,
                         results_url=str(tmp_path / "results"))
    deadline = time.monotonic() + 120
    try:
        while len(store.list_dag_runs("latest", states=("success", "failed"))) < 3:
            assert time.monotonic() < deadline, "the loop did not finish three runs in time"
            loop.tick(utcnow())
            loop.step(0.1)
    finally:
        loop.shutdown()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    runs = sorted(store.list_dag_runs("latest"), key=lambda r: r.logical_date)
    assert [r.logical_date for r in runs] == [today - timedelta(days=d) for d in (3, 2, 1)]
    assert all(r.state == "success" and r.run_type == "scheduled" for r in runs)
    by_run = [{ti.task_id: ti.state for ti in store.list_task_instances("latest", r.run_id)}
              for r in runs]
    skipped = {"latest_only": "success", "direct": "skipped", "indirect": "skipped",
               "beside": "success", "all_done": "success"}
    assert by_run[0] == by_run[1] == skipped
    assert by_run[2] == {**skipped, "direct": "success", "indirect": "success"}


def test_manual_runs_are_never_skipped(dask_client, db_url):
    with DAG("latest_manual", schedule="@daily", start_date=datetime(2025, 1, 1)) as dag:
        LatestOnlyOperator(task_id="latest_only") >> EmptyOperator(task_id="direct")
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-01-02")
    assert {t: r.state for t, r in result.tasks.items()} == {"latest_only": "success",
                                                            "direct": "success"}


def run_of(kind: str, start: datetime, end: datetime) -> DagRunInfo:
    return DagRunInfo(dag_id="d", run_id=f"{kind}__x", logical_date=start,
                      data_interval_start=start, data_interval_end=end, run_type=kind)


def test_the_window_is_from_the_interval_start_to_the_next_interval_end():
    with DAG("latest_window", schedule="@daily", start_date=datetime(2025, 1, 1)):
        op = LatestOnlyOperator(task_id="latest_only")
    day = datetime(2025, 1, 5, tzinfo=UTC)
    run = run_of("scheduled", day, day + timedelta(days=1))
    assert op.latest_window(run) == (day, day + timedelta(days=2))
    assert op.execute({"dag_run": run}) == []  # 2025 is long past
    now = datetime.now(UTC).replace(microsecond=0)
    current = run_of("backfill", now - timedelta(days=1), now)
    op.downstream_task_ids = {"a", "b"}
    assert op.execute({"dag_run": current}) == ["a", "b"]


def test_a_run_without_a_following_interval_is_the_latest():
    with DAG("latest_once", schedule="@once", start_date=datetime(2025, 1, 1)):
        op = LatestOnlyOperator(task_id="latest_only")
    op.downstream_task_ids = {"a"}
    day = datetime(2025, 1, 1, tzinfo=UTC)
    assert op.execute({"dag_run": run_of("scheduled", day, day)}) == ["a"]
    with DAG("latest_ended", schedule="@daily", start_date=datetime(2025, 1, 1),
             end_date=datetime(2025, 1, 3)):
        op = LatestOnlyOperator(task_id="latest_only")
    op.downstream_task_ids = {"a"}
    last = datetime(2025, 1, 3, tzinfo=UTC)
    assert op.execute({"dag_run": run_of("scheduled", last, last + timedelta(days=1))}) == ["a"]
    assert op.execute({"dag_run": run_of("scheduled", day, day + timedelta(days=1))}) == []
