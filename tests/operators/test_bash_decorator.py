"""``@task.bash``: the function returns a command, which runs as BashOperator runs it."""

from __future__ import annotations

from datetime import datetime

import pytest

from daskflow import DAG, task
from daskflow.exceptions import DagDefinitionError


def states(result) -> dict[str, str]:
    return {task_id: t.state for task_id, t in result.tasks.items()}


def test_returned_command_runs_and_its_last_line_is_the_value(dask_client, db_url, tmp_path):
    seen = tmp_path / "seen.txt"

    @task.bash(env={"GREETING": "hello"}, cwd=str(tmp_path))
    def greet(name: str, ds=None) -> str:
        return f'echo "$GREETING {name} {ds} {{{{ params.n }}}}" > seen.txt; pwd; echo last'

    @task
    def upper(value: str) -> str:
        return value.upper()

    with DAG("bash_deco", schedule=None, start_date=datetime(2025, 1, 1),
             params={"n": 7}) as dag:
        upper(greet("world"))
    result = dag.test(cluster=dask_client, db=db_url, logical_date="2025-02-03")
    assert states(result) == {"greet": "success", "upper": "success"}
    assert seen.read_text() == "hello world 2025-02-03 7\n"
    assert result.state == "success"


def test_values_from_upstream_feed_the_command(dask_client, db_url, tmp_path):
    out = tmp_path / "out.txt"

    @task
    def number() -> int:
        return 41

    @task.bash
    def add_one(n: int) -> str:
        return f"echo $(({n} + 1)) > {out}"

    with DAG("bash_deco_xcom", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        add_one(number())
    result = dag.test(cluster=dask_client, db=db_url)
    assert result.tasks["add_one"].state == "success"
    assert out.read_text() == "42\n"


def test_exit_code_99_skips_and_other_codes_fail(dask_client, db_url):
    @task.bash
    def skip_me() -> str:
        return "exit 99"

    @task.bash(skip_on_exit_code=[3])
    def skip_on_three() -> str:
        return "exit 3"

    @task.bash
    def fail_me() -> str:
        return "echo nope; exit 3"

    @task.bash
    def not_a_command() -> str:
        return "   "

    with DAG("bash_deco_codes", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        skip_me()
        skip_on_three()
        fail_me()
        not_a_command()
    result = dag.test(cluster=dask_client, db=db_url)
    assert states(result) == {"skip_me": "skipped", "skip_on_three": "skipped",
                              "fail_me": "failed", "not_a_command": "failed"}
    assert "non-zero exit code 3" in result.tasks["fail_me"].error
    assert "non-empty string" in result.tasks["not_a_command"].error


def test_the_return_value_reaches_downstream(dask_client, db_url, tmp_path):
    out = tmp_path / "out.txt"

    @task.bash
    def produce() -> str:
        return "echo first; echo second"

    @task
    def keep(value: str) -> None:
        out.write_text(value)

    with DAG("bash_deco_value", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        keep(produce())
    dag.test(cluster=dask_client, db=db_url)
    assert out.read_text() == "second"


def test_wrong_arguments_fail_at_parse_time():
    @task.bash
    def needs_two(a, b) -> str:
        return "true"

    with pytest.raises(DagDefinitionError, match="arguments do not fit"), DAG("bash_bad"):
        needs_two(1)


def test_mapped_bash_tasks_run_one_command_each(dask_client, db_url, tmp_path):
    @task.bash
    def touch(name: str) -> str:
        return f"touch {tmp_path}/{name}; echo {name}"

    @task
    def names(values: list) -> None:
        (tmp_path / "names.txt").write_text(",".join(values))

    with DAG("bash_deco_mapped", schedule=None, start_date=datetime(2025, 1, 1)) as dag:
        names(touch.expand(name=["a", "b", "c"]))
    result = dag.test(cluster=dask_client, db=db_url)
    assert result.state == "success"
    assert sorted(p.name for p in tmp_path.iterdir() if len(p.name) == 1) == ["a", "b", "c"]
    assert (tmp_path / "names.txt").read_text() == "a,b,c"
