"""``@task.dask``: computations on the DAG's own cluster, from inside a task.

The cluster here has one worker with one thread: the task's own. Without
seceding, the pieces of its computation would wait for that thread forever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from daskflow import DAG, task


@pytest.fixture(scope="module")
def one_thread_client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=40)
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_returned_collections_are_computed_on_a_one_thread_cluster(one_thread_client, db_url,
                                                                   tmp_path):
    out = tmp_path / "out.txt"

    @task.dask
    def array_sum():
        import dask.array as da

        return da.arange(1000, chunks=100).sum()

    @task.dask
    def frame(n: int):
        import dask.dataframe as dd
        import pandas as pd

        df = dd.from_pandas(pd.DataFrame({"x": range(n)}), npartitions=4)
        return {"total": df.x.sum(), "rows": len(df), "plain": "text"}

    @task.dask
    def computes_itself():
        import dask
        import dask.bag as db

        bag = db.from_sequence(range(10), npartitions=5).map(lambda v: v * v)
        (squares,) = dask.compute(bag.sum())
        return [squares, dask.delayed(sum)([1, 2, 3])]

    @task
    def collect(a, f, c) -> None:
        out.write_text(repr((int(a), int(f["total"]), f["rows"], f["plain"], c)))

    with DAG("dask_deco", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        collect(array_sum(), frame(20), computes_itself())
    result = dag.test(cluster=one_thread_client, db=db_url)
    assert {t: r.state for t, r in result.tasks.items()} == dict.fromkeys(
        ["array_sum", "frame", "computes_itself", "collect"], "success")
    assert out.read_text() == repr((499500, 190, 20, "text", [285, 6]))


@pytest.mark.slow
def test_execution_timeout_stops_a_long_computation(one_thread_client, db_url):
    @task.dask(execution_timeout=timedelta(seconds=2))
    def too_slow():
        import time

        import dask

        return dask.delayed(time.sleep)(8)

    @task.dask(execution_timeout=timedelta(seconds=30))
    def in_time():
        import dask

        return dask.delayed(max)(1, 2)

    with DAG("dask_deco_timeout", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        too_slow() >> in_time.override(trigger_rule="all_done")()
    result = dag.test(cluster=one_thread_client, db=db_url)
    assert result.tasks["too_slow"].state == "failed"
    assert "timed out after 2s" in result.tasks["too_slow"].error
    assert result.tasks["in_time"].state == "success"


def test_outside_a_worker_collections_are_computed_here():
    from daskflow.models.context import DagRunInfo, RuntimeTaskInstance, build_context

    @task.dask
    def total(n: int):
        import dask.bag as db

        return db.from_sequence(range(n)).sum()

    with DAG("dask_deco_local", schedule=None, start_date=datetime(2025, 1, 1)):
        op = total(5).operator
    day = datetime(2025, 1, 1)
    run = DagRunInfo(dag_id="dask_deco_local", run_id="r", logical_date=day,
                     data_interval_start=day, data_interval_end=day)
    context = build_context(op, run, RuntimeTaskInstance(task=op, run=run, try_number=1,
                                                         max_tries=0))
    assert op.execute(context) == 10
