"""``dag.submit()`` and its handles on a real LocalCluster, recorded in SQLite and PostgreSQL.

The cluster runs its workers as threads of this process (one worker, four
threads), so a task can be held at a gate (a file the test creates) while
the test looks at the run from outside. Every test closes what
``dag.submit()`` opened, so no driver thread outlives it.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from daskflow import DAG, api, task
from daskflow.exceptions import DaskflowError, RunFailedError, XComNotAvailable
from daskflow.execution.results import run_folder
from daskflow.store import Store

DEADLINE = 120


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=4, processes=False,
                           dashboard_address=":0", silence_logs=40)
    with Client(cluster) as opened:
        yield opened
    cluster.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'daskflow.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DASKFLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DASKFLOW_RESULTS_URL", str(tmp_path / "results"))
    yield tmp_path
    api.shutdown()


def wait_for(condition, what: str):
    deadline = time.monotonic() + DEADLINE
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def gated_dag(dag_id: str, gate: Path) -> DAG:
    """first >> held (waits for ``gate`` to exist) >> after."""
    with DAG(dag_id, schedule=None) as dag:
        @task
        def first():
            return {"answer": 42}

        @task
        def held(value):
            while not gate.exists():
                time.sleep(0.02)
            return value["answer"] + 1

        @task
        def after(value):
            return value * 2

        after(held(first()))
    return dag


def sums_dag(dag_id: str) -> DAG:
    """numbers >> square (mapped over them) >> total; conf["offset"] is added to the total."""
    with DAG(dag_id, schedule=None) as dag:
        @task
        def numbers():
            return [1, 2, 3]

        @task
        def square(n):
            print(f"squaring {n}")
            return n * n

        @task
        def total(values, **context):
            return sum(values) + context["dag_run"].conf.get("offset", 0)

        total(square.expand(n=numbers()))
    return dag


def test_many_runs_of_two_dags_at_once_on_one_client(client, db):
    sums, gated = sums_dag(f"sums_{id(db)}"), gated_dag(f"gated_{id(db)}", Path("/"))
    handles = [sums.submit(cluster=client, db=db, conf={"offset": i}) for i in range(4)]
    handles += [gated.submit(cluster=client, db=db) for _ in range(3)]

    assert len({h.run_id for h in handles}) == len(handles)
    results = [h.wait(timeout=DEADLINE) for h in handles]
    assert [r.state for r in results] == ["success"] * len(handles)
    for i, handle in enumerate(handles[:4]):
        assert handle.result() == {"numbers": [1, 2, 3], "square": [1, 4, 9], "total": 14 + i}
        assert handle.task_states() == {
            "numbers": "success", "square[0]": "success", "square[1]": "success",
            "square[2]": "success", "total": "success"}
    for handle in handles[4:]:
        assert handle.result() == {"first": {"answer": 42}, "held": 43, "after": 86}
    stored = {(r.dag_id, r.run_id): r.state for r in api.list_runs(db=db)}
    assert all(stored[(h.dag_id, h.run_id)] == "success" for h in handles)


def test_cancel_marks_the_run_failed_as_airflow_does(client, db, tmp_path):
    gate = tmp_path / "gate"
    handle = gated_dag("cancelled", gate).submit(cluster=client, db=db)
    try:
        wait_for(lambda: handle.task_states().get("held") == "running", "held to run")
        assert handle.state() == "running"

        assert handle.cancel() == "failed"
    finally:
        gate.touch()  # the held thread runs to its end; its report is ignored
    expected = {"first": "success", "held": "failed", "after": "skipped"}
    assert handle.task_states() == expected
    record = api.get_run("cancelled", handle.run_id, db=db)
    assert record.state == "failed" and "marked failed" in record.reason
    assert {t.task_id: t.state for t in api.task_instances("cancelled", handle.run_id,
                                                            db=db)} == expected
    with pytest.raises(RunFailedError, match=r"'cancelled'.*failed"):
        handle.result()
    assert handle.cancel() == "failed"  # cancelling an ended run changes nothing


def test_xcom_comes_from_dask_memory_while_the_run_lives_then_from_the_result_store(
        client, db, tmp_path):
    gate = tmp_path / "gate"
    dag = gated_dag("memory", gate)
    handle = dag.submit(cluster=client, db=db)
    try:
        wait_for(lambda: handle.task_states().get("held") == "running", "held to run")
        kept = Path(run_folder(str(tmp_path / "results"), "memory", handle.run_id))
        assert (kept / "first").exists()
        for path in (kept / "first").iterdir():
            path.unlink()  # the result store no longer has it: only Dask memory has
        assert handle.xcom("first") == {"answer": 42}
        with pytest.raises(XComNotAvailable, match=r"'memory'.*'held' has not finished"):
            handle.xcom("held")
    finally:
        gate.touch()
    assert handle.wait(timeout=DEADLINE).state == "success"
    assert handle.xcom("held") == 43  # from the result store
    assert handle.xcom("after") == 86
    with pytest.raises(XComNotAvailable, match="'first'.*is gone"):
        handle.xcom("first")  # the run ended: memory is released, the file was deleted


def test_a_failed_task_names_itself_in_errors_result_and_xcom(client, db):
    with DAG("breaks", schedule=None) as dag:
        @task
        def fine():
            return 1

        @task
        def broken(x):
            raise ValueError(f"no good: {x}")

        broken(fine())

    handle = dag.submit(cluster=client, db=db)
    result = handle.wait(timeout=DEADLINE)
    assert result.state == "failed"
    assert result.errors == {"broken": "ValueError: no good: 1"}
    assert result.values == {"fine": 1}
    with pytest.raises(RunFailedError) as failed:
        handle.result()
    message = str(failed.value)
    assert "'breaks'" in message and handle.run_id in message
    assert "broken: ValueError: no good: 1" in message
    with pytest.raises(XComNotAvailable, match=r"'breaks'.*'broken' has no return value: it is "
                                               "failed: ValueError"):
        handle.xcom("broken")
    assert "ValueError: no good: 1" in handle.logs("broken")


def test_logs_mapped_values_and_a_progress_bar(client, db, capsys):
    handle = sums_dag("logged").submit(cluster=client, db=db)
    handle.wait(timeout=DEADLINE, progress=True)
    shown = capsys.readouterr().out
    assert "\r[" in shown and "5/5 tasks finished (5 success)" in shown
    assert "squaring 2" in handle.logs("square", map_index=1)
    assert handle.xcom("square") == [1, 4, 9]
    assert handle.xcom("square", map_index=2) == 9
    assert api.log("logged", handle.run_id, "square", 0, db=db) == handle.logs("square", 0)
    copies = {(x.task_id, x.map_index): x.value for x in api.xcoms("logged", handle.run_id,
                                                                    db=db)}
    assert copies[("total", -1)] == "14"


def test_a_terminal_wait_shows_nothing(client, db, capsys):
    from daskflow.api.progress import in_notebook

    assert not in_notebook()
    sums_dag("quiet").submit(cluster=client, db=db).wait(timeout=DEADLINE)
    assert capsys.readouterr().out == ""


def test_handles_can_be_awaited(client, db):
    dag = sums_dag("awaited")

    async def main():
        handles = [dag.submit(cluster=client, db=db, conf={"offset": i}) for i in range(3)]
        ticks = 0

        async def count_ticks():
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(count_ticks())
        results = await asyncio.gather(*handles)
        ticker.cancel()
        return results, ticks

    results, ticks = asyncio.run(main())
    assert [r.state for r in results] == ["success"] * 3
    assert [r.xcom("total") for r in results] == [14, 15, 16]
    assert ticks > 1  # the event loop ran while the runs did


def test_a_taken_logical_date_and_unknown_runs_are_errors_naming_them(client, db):
    dag = sums_dag("dated")
    when = datetime(2025, 3, 1, tzinfo=timezone.utc)
    first = dag.submit(logical_date=when, cluster=client, db=db)
    with pytest.raises(DaskflowError, match=r"DAG 'dated' already has a run at logical date "
                                            r"2025-03-01T00:00:00\+00:00"):
        dag.submit(logical_date=when, cluster=client, db=db)
    assert first.wait(timeout=DEADLINE).state == "success"
    with pytest.raises(DaskflowError, match="DAG 'dated' has no run 'nope'"):
        api.run("dated", "nope", db=db)
    with pytest.raises(XComNotAvailable, match="'dated'.*has no task 'nope'"):
        first.xcom("nope")
    assert api.run("dated", first.run_id, db=db).xcom("total") == 14


def test_dag_test_results_carry_values_and_errors(client, db):
    result = sums_dag("tested").test(cluster=client, db=db)
    assert result.values == {"numbers": [1, 2, 3], "square": [1, 4, 9], "total": 14}
    assert result.errors == {}
    assert result.xcom("square", map_index=1) == 4


def test_a_store_run_handle_reads_what_a_submitted_run_recorded(client, db):
    handle = sums_dag("reread").submit(cluster=client, db=db)
    handle.wait(timeout=DEADLINE)
    api.shutdown()  # nothing of the run stays in this process but the store
    again = api.run("reread", handle.run_id, db=db)
    assert again.state() == "success"
    assert again.wait(timeout=5).values["total"] == 14
    assert again.task_states()["square[1]"] == "success"
    assert Store(db).get_dag_run("reread", handle.run_id).owner_loop is None


def test_closing_the_client_ends_its_unfinished_runs_failed(client, db, tmp_path):
    from distributed import Client

    gate = tmp_path / "gate"
    try:
        with Client(client.cluster) as own:
            handle = gated_dag("orphaned", gate).submit(cluster=own, db=db)
            wait_for(lambda: handle.task_states().get("held") == "running", "held to run")
        result = handle.wait(timeout=DEADLINE)
        assert result.state == "failed" and result.reason == "its Dask client was closed"
    finally:
        gate.touch()
    record = api.get_run("orphaned", handle.run_id, db=db)
    assert record.state == "failed" and record.reason == "its Dask client was closed"
    assert record.owner_loop is None
