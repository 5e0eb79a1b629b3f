"""TriggerDagRunOperator: queued manual runs in the store, waited for through a real loop.

The operator writes to the store ``daskflow.config.db_url()`` names on the
worker, so these tests start their own cluster with ``DASKFLOW_DB`` set.
"""

from __future__ import annotations

import os
import textwrap
import time
from datetime import datetime, timezone

import pytest

from daskflow import DAG, task
from daskflow.exceptions import DagDefinitionError
from daskflow.models.state import DagRunState
from daskflow.operators import TriggerDagRunOperator
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.loop import SchedulerLoop, utcnow
from daskflow.store import DagRecord, Store

UTC = timezone.utc

TARGET_DAG = '''
from datetime import datetime
from daskflow import DAG
from daskflow.operators import BashOperator

with DAG("target", schedule="@daily", start_date=datetime(2025, 1, 1)):
    BashOperator(task_id="work", bash_command="exit {{ dag_run.conf.get('code', 0) }}")
'''

CONTROLLER_DAG = '''
from datetime import datetime
from daskflow import DAG
from daskflow.operators import TriggerDagRunOperator

with DAG("controller", schedule=None, start_date=datetime(2025, 1, 1)):
    TriggerDagRunOperator(task_id="ok", trigger_dag_id="target", trigger_run_id="run_ok",
                          logical_date="2025-03-01", wait_for_completion=True,
                          poke_interval=0.2, deferrable={deferrable})
    TriggerDagRunOperator(task_id="bad", trigger_dag_id="target", trigger_run_id="run_bad",
                          logical_date="2025-03-02", conf={{"code": 3}},
                          wait_for_completion=True, poke_interval=0.2, deferrable={deferrable})
'''


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A store, and a 2 x 1 cluster whose workers write to it."""
    from distributed import Client, LocalCluster

    folder = tmp_path_factory.mktemp("trigger")
    url = f"sqlite:///{folder / 'daskflow.db'}"
    before = os.environ.get("DASKFLOW_DB")
    os.environ["DASKFLOW_DB"] = url
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)
    client = Client(cluster)
    store = Store(url)
    store.init()
    yield folder, url, client, store
    store.dispose()
    client.close()
    cluster.close()
    if before is None:
        os.environ.pop("DASKFLOW_DB", None)
    else:
        os.environ["DASKFLOW_DB"] = before


@pytest.fixture(scope="module")
def target_file(shared):
    folder, _, _, store = shared
    dags = folder / "dags"
    dags.mkdir()
    (dags / "target.py").write_text(textwrap.dedent(TARGET_DAG))
    store.sync_dags([DagRecord(dag_id="target", fileloc=str(dags / "target.py"))])
    return dags


def states(result) -> dict[str, str]:
    return {task_id: t.state for task_id, t in result.tasks.items()}


def test_a_queued_manual_run_is_created(shared, target_file, tmp_path):
    _, url, client, store = shared
    seen = tmp_path / "seen.txt"

    @task
    def show(ti=None) -> None:
        seen.write_text(ti.xcom_pull(task_ids="trigger", key="trigger_run_id"))

    with DAG("trigger_plain", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        trigger = TriggerDagRunOperator(task_id="trigger", trigger_dag_id="target",
                                        conf={"n": "{{ ds }}"}, logical_date="{{ ds }}")
        trigger >> show()
    result = dag.test(cluster=client, db=url, logical_date="2025-02-10")
    assert states(result) == {"trigger": "success", "show": "success"}
    run = store.get_dag_run("target", "manual__2025-02-10T00:00:00+00:00")
    assert run is not None and seen.read_text() == run.run_id
    assert (run.state, run.run_type, run.external_trigger) == ("queued", "manual", True)
    assert run.conf == {"n": "2025-02-10"}
    assert run.logical_date == datetime(2025, 2, 10, tzinfo=UTC)
    # The target's daily schedule gives the interval, as `daskflow dags trigger` does.
    assert (run.data_interval_start, run.data_interval_end) == (
        datetime(2025, 2, 9, tzinfo=UTC), datetime(2025, 2, 10, tzinfo=UTC))


@pytest.mark.slow
def test_an_existing_run_fails_skips_or_is_reset(shared, target_file):
    _, url, client, store = shared
    store.create_dag_run("target", "existing", datetime(2025, 4, 1, tzinfo=UTC), None, None,
                         "manual", {"old": 1}, state="success")
    common = {"trigger_dag_id": "target", "trigger_run_id": "existing",
              "logical_date": datetime(2025, 4, 1)}
    with DAG("trigger_exists", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        TriggerDagRunOperator(task_id="fails", **common)
        TriggerDagRunOperator(task_id="skips", skip_when_already_exists=True, **common)
    result = dag.test(cluster=client, db=url)
    assert states(result) == {"fails": "failed", "skips": "skipped"}
    assert "already has run 'existing'" in result.tasks["fails"].error
    assert store.get_dag_run("target", "existing").state == "success"

    with DAG("trigger_reset", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        TriggerDagRunOperator(task_id="resets", reset_dag_run=True,
                              skip_when_already_exists=True, conf={"new": 2}, **common)
    result = dag.test(cluster=client, db=url)
    assert states(result) == {"resets": "success"}
    run = store.get_dag_run("target", "existing")
    assert run.state == "queued" and run.conf == {"old": 1}


def test_an_unknown_dag_fails_the_task(shared):
    _, url, client, _ = shared
    with DAG("trigger_unknown", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        TriggerDagRunOperator(task_id="trigger", trigger_dag_id="no_such_dag")
    result = dag.test(cluster=client, db=url)
    assert result.tasks["trigger"].state == "failed"
    assert "cannot trigger DAG 'no_such_dag'" in result.tasks["trigger"].error


@pytest.mark.slow
@pytest.mark.parametrize("deferrable", [False, True])
def test_wait_for_completion_through_a_scheduler_loop(shared, target_file, tmp_path,
                                                      deferrable):
    # Two triggers wait at once on a cluster of two threads: the target runs only
    # because a waiting task leaves its worker's thread pool, or waits deferred.
    _, url, client, store = shared
    for dag_id, run_id in (("controller", "go"), ("target", "run_ok"), ("target", "run_bad")):
        if store.get_dag_run(dag_id, run_id) is not None:  # left by the other parameter
            store.delete_dag_run(dag_id, run_id)
    (target_file / "controller.py").write_text(
        textwrap.dedent(CONTROLLER_DAG.format(deferrable=deferrable)))
    loop = SchedulerLoop(DagFolder(target_file, store), store, client,
                         results_url=str(tmp_path / "results"))
    deadline = time.monotonic() + 120
    try:
        loop.tick(utcnow())  # records the DAGs
        store.create_dag_run("controller", "go", datetime(2025, 5, 1, tzinfo=UTC), None, None,
                             "manual", None, state="queued", external_trigger=True)
        while store.get_dag_run("controller", "go").state not in ("success", "failed"):
            assert time.monotonic() < deadline, "the controller run did not end in time"
            loop.tick(utcnow())
            loop.step(0.1)
    finally:
        loop.shutdown()
    assert store.get_dag_run("target", "run_ok").state == "success"
    assert store.get_dag_run("target", "run_bad").state == "failed"
    tis = {ti.task_id: ti.state for ti in store.list_task_instances("controller", "go")}
    assert tis == {"ok": "success", "bad": "failed"}
    # "ok" waited: it ended after the run it triggered.
    ok = store.get_task_instance("controller", "go", "ok")
    assert ok.end_date >= store.get_dag_run("target", "run_ok").end_date
    # Deferred, its wait was a DagStateTrigger in the loop (the deferral stays recorded).
    assert (ok.deferral is not None) is deferrable
    assert store.get_dag_run("controller", "go").state == "failed"


@pytest.mark.parametrize(("args", "named"), [
    ({"trigger_dag_id": ""}, "trigger_dag_id must be a DAG id"),
    ({"allowed_states": ["done"]}, "allowed_states ['done'] holds something"),
    ({"failed_states": ["queued", 7]}, "failed_states ['queued', 7] holds"),
    ({"poke_interval": 0}, "poke_interval must be a positive number"),
    ({"logical_date": 20250101}, "logical_date must be a datetime"),
])
def test_bad_arguments_fail_at_parse_time(args, named):
    with pytest.raises(DagDefinitionError) as err, DAG("trigger_bad"):
        TriggerDagRunOperator(task_id="trigger", **{"trigger_dag_id": "target", **args})
    assert str(err.value).startswith("task 'trigger' in DAG 'trigger_bad': ")
    assert named in str(err.value)


def test_defaults_are_airflows():
    with DAG("trigger_defaults"):
        op = TriggerDagRunOperator(task_id="t", trigger_dag_id="x", allowed_states=[],
                                   failed_states=[])
        other = TriggerDagRunOperator(task_id="u", trigger_dag_id="x")
    assert op.allowed_states == [DagRunState.SUCCESS] and op.failed_states == []
    assert other.failed_states == [DagRunState.FAILED] and other.poke_interval == 60
    assert not other.wait_for_completion and not other.reset_dag_run

