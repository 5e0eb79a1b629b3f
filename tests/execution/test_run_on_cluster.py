"""Runs on a real LocalCluster (2 worker processes x 1 thread), recorded in SQLite.

Each test builds a small DAG, runs it with ``dag.test`` on the shared
cluster and checks the states, values, logs and attempts that reach the store.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from datetime import timedelta

import cloudpickle
import pytest

from daskflow import DAG, task
from daskflow.operators import BashOperator, EmptyOperator, PythonOperator
from daskflow.store import Store

# Worker processes import nothing from tests/: ship this module's functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _run(dag: DAG, client, db_url: str, **kwargs):
    return dag.test(cluster=client, db=db_url, **kwargs)


def _states(result) -> dict[str, str]:
    return {name: t.state for name, t in result.tasks.items()}


def test_values_flow_between_tasks_and_the_store_records_them(dask_client, db_url):
    with DAG("flow") as dag:
        @task
        def extract():
            return {"rows": [1, 2, 3]}

        @task
        def transform(data):
            return [2 * r for r in data["rows"]]

        @task
        def load(values):
            return sum(values)

        load(transform(extract()))

    result = _run(dag, dask_client, db_url)

    assert result.state == "success"
    assert _states(result) == {"extract": "success", "transform": "success", "load": "success"}
    store = Store(db_url)
    xcoms = {(x.task_id, x.key): x.value for x in store.list_xcoms("flow", result.run_id)}
    assert xcoms[("load", "return_value")] == "12"
    workers = set(dask_client.scheduler_info()["workers"])
    for ti in store.list_task_instances("flow", result.run_id):
        assert ti.worker in workers
        assert ti.hostname
        assert ti.try_number == 1 and ti.duration is not None
    run = store.get_dag_run("flow", result.run_id)
    assert run.state == "success" and run.end_date >= run.start_date


def _noisy(marker: str, fail_first: str | None = None) -> str:
    print(f"stdout {marker}")
    print(f"stderr {marker}", file=sys.stderr)
    logging.getLogger("user.code").info("logging %s", marker)
    if fail_first and not os.path.exists(fail_first):
        open(fail_first, "w").close()
        raise ValueError(f"first attempt of {marker} fails")
    time.sleep(0.2)
    return marker


def test_logs_are_captured_per_attempt_and_per_task(dask_client, db_url, tmp_path):
    flag = str(tmp_path / "failed-once")
    with DAG("logs") as dag:
        PythonOperator(task_id="a", python_callable=_noisy, op_args=["AAA", flag],
                       retries=1, retry_delay=0)
        PythonOperator(task_id="b", python_callable=_noisy, op_args=["BBB"])

    result = _run(dag, dask_client, db_url)

    assert _states(result) == {"a": "success", "b": "success"}
    store = Store(db_url)
    first = store.get_log("logs", result.run_id, "a", try_number=1)
    second = store.get_log("logs", result.run_id, "a", try_number=2)
    for log in (first, second):
        assert "stdout AAA" in log and "stderr AAA" in log and "logging AAA" in log
        assert "BBB" not in log
    assert "ValueError: first attempt of AAA fails" in first
    assert "ValueError" not in second
    attempts = store.list_attempts("logs", result.run_id, "a")
    assert [(a.try_number, a.state) for a in attempts] == [(1, "up_for_retry"), (2, "success")]
    assert attempts[0].error == "ValueError: first attempt of AAA fails"


def _fail_once(flag_dir: str, name: str) -> str:
    flag = os.path.join(flag_dir, name)
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("fails once")
    return name


@pytest.mark.slow
def test_retry_delay_holds_no_worker_thread(dask_client, db_url, tmp_path):
    """20 tasks failing once with a 2 s delay on 2 threads: every first attempt
    ends before any retry starts, so no thread waited out a delay."""
    with DAG("retries") as dag:
        for i in range(20):
            PythonOperator(task_id=f"t{i}", python_callable=_fail_once,
                           op_args=[str(tmp_path), f"t{i}"], retries=1,
                           retry_delay=timedelta(seconds=2))

    result = _run(dag, dask_client, db_url)

    assert result.state == "success"
    assert {t.try_number for t in result.tasks.values()} == {2}
    store = Store(db_url)
    attempts = [a for i in range(20)
                for a in store.list_attempts("retries", result.run_id, f"t{i}")]
    firsts = [a for a in attempts if a.try_number == 1]
    seconds = [a for a in attempts if a.try_number == 2]
    assert max(a.end_date for a in firsts) < min(a.start_date for a in seconds)
    by_task = {a.task_id: a for a in firsts}
    for retry in seconds:
        assert retry.start_date - by_task[retry.task_id].end_date >= timedelta(seconds=2)


def _spin_forever() -> None:
    while True:
        time.sleep(0.05)


def test_execution_timeout_fails_a_python_task(dask_client, db_url):
    with DAG("timeout_py") as dag:
        slow = PythonOperator(task_id="slow", python_callable=_spin_forever,
                              execution_timeout=timedelta(seconds=1))
        after = EmptyOperator(task_id="after")
        slow >> after

    result = _run(dag, dask_client, db_url)

    assert _states(result) == {"slow": "failed", "after": "upstream_failed"}
    assert "timed out after 1s" in result.tasks["slow"].error
    assert result.state == "failed"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


def test_execution_timeout_kills_the_bash_process_group(dask_client, db_url, tmp_path):
    pids = tmp_path / "pids"
    command = f"sleep 60 & echo $! >> {pids}; bash -c 'sleep 60' & echo $! >> {pids}; wait"
    with DAG("timeout_bash") as dag:
        BashOperator(task_id="sleepy", bash_command=command,
                     execution_timeout=timedelta(seconds=1))

    result = _run(dag, dask_client, db_url)

    assert result.tasks["sleepy"].state == "failed"
    children = [int(p) for p in pids.read_text().split()]
    assert len(children) == 2
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in children)


def test_failure_propagates_and_all_done_cleanup_runs(dask_client, db_url):
    with DAG("propagate") as dag:
        bad = BashOperator(task_id="bad", bash_command="echo about to fail; exit 3")
        middle = EmptyOperator(task_id="middle")
        leaf = EmptyOperator(task_id="leaf")
        cleanup = EmptyOperator(task_id="cleanup", trigger_rule="all_done")
        bad >> middle >> leaf
        bad >> cleanup

    result = _run(dag, dask_client, db_url)

    assert _states(result) == {"bad": "failed", "middle": "upstream_failed",
                               "leaf": "upstream_failed", "cleanup": "success"}
    assert "exit code 3" in result.tasks["bad"].error
    assert result.state == "failed"
    log = Store(db_url).get_log("propagate", result.run_id, "bad")
    assert "about to fail" in log


def test_runtime_mapping_over_an_upstream_list(dask_client, db_url):
    with DAG("mapping") as dag:
        @task
        def numbers():
            return [1, 2, 3, 4]

        @task
        def nothing():
            return []

        @task
        def square(x, offset):
            return x * x + offset

        @task
        def total(values):
            return sum(values)

        total.override(task_id="sum_squares")(square.partial(offset=1).expand(x=numbers()))
        total.override(task_id="sum_empty")(square.override(task_id="sq_empty")
                                            .partial(offset=0).expand(x=nothing()))

    result = _run(dag, dask_client, db_url)

    states = _states(result)
    assert [states[f"square[{i}]"] for i in range(4)] == ["success"] * 4
    assert states["sq_empty"] == "skipped" and states["sum_empty"] == "skipped"
    assert states["sum_squares"] == "success"
    xcoms = {(x.task_id, x.map_index, x.key): x.value
             for x in Store(db_url).list_xcoms("mapping", result.run_id)}
    assert xcoms[("sum_squares", -1, "return_value")] == str(2 + 5 + 10 + 17)
    assert xcoms[("square", 3, "return_value")] == "17"


def test_branch_and_join(dask_client, db_url):
    with DAG("branching", params={"go": "right"}) as dag:
        @task.branch
        def choose(params=None):
            return params["go"]

        left = EmptyOperator(task_id="left")
        right = EmptyOperator(task_id="right")
        after_left = EmptyOperator(task_id="after_left")
        join = EmptyOperator(task_id="join", trigger_rule="none_failed_min_one_success")
        choose() >> [left, right]
        left >> after_left >> join
        right >> join

    result = _run(dag, dask_client, db_url, conf={"go": "left"})

    assert _states(result) == {"choose": "success", "left": "success", "right": "skipped",
                               "after_left": "success", "join": "success"}


def test_templates_params_and_conf_reach_bash(dask_client, db_url):
    with DAG("templated", params={"who": "default"}) as dag:
        BashOperator(task_id="greet",
                     bash_command="echo {{ ds }} {{ params.who }} {{ dag_run.conf.get('n', 0) }}")

    result = _run(dag, dask_client, db_url, logical_date="2025-03-04", conf={"who": "conf"})

    xcom = Store(db_url).list_xcoms("templated", result.run_id, "greet")[0]
    assert xcom.value == '"2025-03-04 conf 0"'


def test_keys_are_named_for_the_dask_dashboard(dask_client, db_url):
    with DAG("named") as dag:
        EmptyOperator(task_id="extract") >> EmptyOperator(task_id="load")

    _run(dag, dask_client, db_url)

    prefixes = dask_client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.task_prefixes))
    assert {"named.extract", "named.load"} <= set(prefixes)


@pytest.mark.postgresql
def test_a_run_is_recorded_in_postgresql(dask_client, pg_url):
    with DAG("on_pg") as dag:
        EmptyOperator(task_id="a") >> BashOperator(task_id="b", bash_command="echo pg")

    result = _run(dag, dask_client, pg_url)

    store = Store(pg_url)
    assert store.get_dag_run("on_pg", result.run_id).state == "success"
    assert {t.task_id: t.state for t in store.list_task_instances("on_pg", result.run_id)} == {
        "a": "success", "b": "success"}
    assert "pg" in store.get_log("on_pg", result.run_id, "b")


def test_state_writes_are_batched(dask_client, db_url):
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    commits = []

    def count(conn) -> None:
        commits.append(conn.engine.url.database)

    with DAG("wide") as dag:
        root = EmptyOperator(task_id="root")
        root >> [EmptyOperator(task_id=f"leaf{i}") for i in range(300)]
    event.listen(Engine, "commit", count)
    try:
        result = _run(dag, dask_client, db_url)
    finally:
        event.remove(Engine, "commit", count)

    assert result.state == "success" and len(result.tasks) == 301
    # 301 tasks x (queued, running, success) would be ~900 commits row by row.
    assert len(commits) < 60


def _append(path: str, text: str):
    def callback(context) -> None:
        with open(path, "a") as f:
            f.write(f"{text}:{context['ti'].task_id if 'ti' in context else context['run_id']}\n")
    return callback


def test_callbacks_run_once_each(dask_client, db_url, tmp_path):
    calls = str(tmp_path / "calls")
    flag = str(tmp_path)
    with DAG("callbacks", on_failure_callback=_append(calls, "dag_failure"),
             on_success_callback=_append(calls, "dag_success")) as dag:
        PythonOperator(task_id="flaky", python_callable=_fail_once, op_args=[flag, "flaky"],
                       retries=1, retry_delay=0, on_retry_callback=_append(calls, "retry"),
                       on_success_callback=_append(calls, "success"))
        BashOperator(task_id="broken", bash_command="exit 1",
                     on_failure_callback=_append(calls, "failure"))

    result = _run(dag, dask_client, db_url)

    lines = sorted(open(calls).read().splitlines())
    assert lines == sorted(["retry:flaky", "success:flaky", "failure:broken",
                            f"dag_failure:{result.run_id}"])


def test_short_circuit_skips_everything_downstream(dask_client, db_url):
    with DAG("short") as dag:
        @task.short_circuit
        def gate():
            return False

        a = EmptyOperator(task_id="a")
        b = EmptyOperator(task_id="b", trigger_rule="all_done")
        other = EmptyOperator(task_id="other")
        gate() >> a >> b
        other >> b

    result = _run(dag, dask_client, db_url)

    assert _states(result) == {"gate": "success", "a": "skipped", "b": "skipped",
                               "other": "success"}
    assert result.state == "success"


def test_multiple_outputs_and_xcom_pull(dask_client, db_url):
    with DAG("multi") as dag:
        @task(multiple_outputs=True)
        def split():
            return {"left": 1, "right": 2}

        @task
        def add(a, b):
            return a + b

        parts = split()
        added = add(parts["left"], parts["right"])

        def pull(ti):
            return ti.xcom_pull(task_ids="add") * 10

        added >> PythonOperator(task_id="pull", python_callable=pull)

    result = _run(dag, dask_client, db_url)

    xcoms = {x.task_id: x.value for x in Store(db_url).list_xcoms("multi", result.run_id)
             if x.key == "return_value"}
    assert xcoms["add"] == "3" and xcoms["pull"] == "30"


def _my_restrictions():
    from distributed import get_worker

    worker = get_worker()
    return dict(worker.state.tasks[worker.get_current_task()].resource_restrictions or {})


def test_resources_and_priorities_reach_dask(db_url):
    from distributed import Client, LocalCluster

    with DAG("placement") as dag:
        PythonOperator(task_id="gpu", python_callable=_my_restrictions, resources={"GPU": 1},
                       priority_weight=7)
        PythonOperator(task_id="plain", python_callable=_my_restrictions)

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, resources={"GPU": 2},
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        result = _run(dag, client, db_url)

    values = {x.task_id: x.value for x in Store(db_url).list_xcoms("placement", result.run_id)}
    assert values == {"gpu": '{"GPU": 1}', "plain": "{}"}
    assert dag.priority_weights() == {"gpu": 7, "plain": 1}
