"""``daskflow.api``'s read functions over a store a real run recorded (SQLite, PostgreSQL)."""

from __future__ import annotations

import pytest

from daskflow import DAG, api, task
from daskflow.exceptions import DagNotFound, DaskflowError
from daskflow.store import StoreError


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                           dashboard_address=":0", silence_logs=40)
    with Client(cluster) as opened:
        yield opened
    cluster.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db(request, tmp_path, monkeypatch):
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path / "home"))
    yield (f"sqlite:///{tmp_path / 'daskflow.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_url"))
    api.shutdown()


def test_the_read_functions_give_what_a_run_recorded(client, db):
    with DAG("readable", schedule=None, tags=["api"]) as dag:
        @task(retries=1, retry_delay=0)
        def flaky(**context):
            print("try", context["ti"].try_number)
            if context["ti"].try_number == 1:
                raise RuntimeError("first try fails")
            return "ok"

        flaky()

    result = dag.test(cluster=client, db=db)
    assert result.state == "success"

    assert "readable" in {d.dag_id for d in api.list_dags(db=db)}
    assert api.get_dag("readable", db=db).tags == ("api",)
    [run] = [r for r in api.list_runs("readable", db=db) if r.run_id == result.run_id]
    assert run.state == "success"
    assert api.get_run("readable", result.run_id, db=db).run_type == "manual"
    [ti] = api.task_instances("readable", result.run_id, db=db)
    assert (ti.task_id, ti.state, ti.try_number) == ("flaky", "success", 2)
    tries = api.attempts("readable", result.run_id, db=db)
    assert [(a.try_number, a.state) for a in tries] == [(1, "up_for_retry"), (2, "success")]
    assert "RuntimeError: first try fails" in tries[0].error
    assert api.state_counts("readable", result.run_id, db=db) == {"success": 1}
    assert "try 1" in api.log("readable", result.run_id, "flaky", try_number=1, db=db)
    assert "try 2" in api.log("readable", result.run_id, "flaky", db=db)
    assert [x.value for x in api.xcoms("readable", result.run_id, db=db)] == ['"ok"']

    with pytest.raises(DagNotFound, match="DAG 'nope' is not in the metadata store"):
        api.get_dag("nope", db=db)
    with pytest.raises(DaskflowError, match="DAG 'readable' has no run 'nope'"):
        api.task_instances("readable", "nope", db=db)
    with pytest.raises(DaskflowError, match="no log of any attempt of task 'ghost'"):
        api.log("readable", result.run_id, "ghost", db=db)


def test_reading_a_store_that_does_not_exist_creates_nothing(tmp_path):
    missing = tmp_path / "nowhere.db"
    with pytest.raises(StoreError, match="no metadata store at"):
        api.list_runs(db=f"sqlite:///{missing}")
    assert not missing.exists()
