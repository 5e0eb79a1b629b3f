"""The loop never waits on a DAG file: a file taking 20 s to import holds up nothing else."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from loop_driving import drive_until, write_dag

from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow

QUICK = '''
from daskflow import DAG
from daskflow.operators import BashOperator
with DAG("quick"):
    BashOperator(task_id="echo", bash_command="echo quick")
'''

SLOW = '''
import time
from pathlib import Path
from daskflow import DAG
Path({started!r}).touch()
time.sleep(20)
Path({finished!r}).touch()
with DAG("slow"):
    pass
'''


@pytest.mark.slow
def test_runs_are_created_and_finished_while_a_file_takes_20s_to_import(dask_client, store,
                                                                       tmp_path: Path):
    dags = write_dag(tmp_path / "dags", "quick", QUICK)
    started, finished = tmp_path / "slow_started", tmp_path / "slow_finished"
    folder = DagFolder(dags, store)
    loop = SchedulerLoop(folder, store, dask_client, results_url=str(tmp_path / "results"),
                         parse_interval=0.2)
    try:
        drive_until(loop, lambda: "quick" in folder.dags)
        write_dag(dags, "slow", SLOW.format(started=str(started), finished=str(finished)))
        drive_until(loop, started.exists)
        for i in range(3):
            when = utcnow() + timedelta(minutes=i)
            store.create_dag_run("quick", f"manual__{i}", when, when, when, "manual", {},
                                 state="queued", dag_version=folder.versions["quick"])
            drive_until(loop, lambda i=i: store.get_dag_run("quick", f"manual__{i}").state
                        == "success")
        # Three runs went from queued to success while the file was still importing.
        assert not finished.exists()
        assert folder.parsing and "slow" not in folder.dags
        drive_until(loop, lambda: "slow" in folder.dags, timeout=120)
    finally:
        loop.shutdown()
        folder.close()
    assert store.get_dag("slow").is_active
    assert [t.state for t in store.list_task_instances("quick", "manual__2")] == ["success"]
