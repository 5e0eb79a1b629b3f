"""A run with a failed mapped instance and a retried task, seen through the CLI.

What a user reads after a failure must lead somewhere: the hint printed by
``dags test`` names the failed instance in a form ``tasks logs`` accepts,
the traceback names the DAG file and line the task's code is at (not
cloudpickle's ``<dynamic-code>``), and the JSON of ``dags test`` and
``tasks states`` gives every failed try's error.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daskflow.cli.main import cli

DAG_FILE = '''
from daskflow import DAG, task

with DAG("mapped_failures") as dag:
    @task
    def numbers():
        return [1, 2, 3, 4]

    @task
    def check(x):
        if x == 4:
            raise ValueError(f"four is not allowed: {x}")
        return x

    @task(retries=1, retry_delay=0)
    def flaky():
        raise RuntimeError("flaky says no")

    check.expand(x=numbers())
    flaky()
'''
#: The line of ``raise ValueError`` in the file (the first line is the blank one).
RAISE_LINE = DAG_FILE.splitlines().index(
    '            raise ValueError(f"four is not allowed: {x}")') + 1


def invoke(env: dict[str, Any], *args: Any) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, dask_client: Any) -> dict[str, Any]:
    """One failed run of the DAG on worker processes, as JSON and as a table."""
    home = tmp_path_factory.mktemp("failed-tries")
    folder = home / "dags"
    folder.mkdir()
    (folder / "mapped_failures.py").write_text(DAG_FILE)
    env = {"DASKFLOW_HOME": str(home), "DASKFLOW_DAGS_FOLDER": str(folder),
           "DASKFLOW_DB": None, "CI": None}
    address = dask_client.cluster.scheduler_address
    table = invoke(env, "dags", "test", "mapped_failures", "--cluster", address,
                   "--logical-date", "2025-03-04")
    as_json = invoke(env, "dags", "test", "mapped_failures", "--cluster", address,
                     "--logical-date", "2025-03-05", "-o", "json")
    return {"env": env, "file": folder / "mapped_failures.py", "table": table,
            "json": json.loads(as_json.stdout)}


def hint(result: Result) -> list[str]:
    """The command of the "See why with:" line, split as a shell would."""
    line = next(x for x in result.stderr.splitlines() if x.startswith("See why with: "))
    return shlex.split(line.removeprefix("See why with: "))


def test_the_hint_names_the_failed_instance_and_runs_as_printed(run):
    command = hint(run["table"])
    assert command[:5] == ["daskflow", "tasks", "logs", "mapped_failures",
                           "manual__2025-03-04T00:00:00+00:00"]
    assert command[5] == "check[3]"  # the first failed instance, as the table lists them
    shown = invoke(run["env"], *command[1:])
    assert shown.exit_code == 0 and "four is not allowed: 4" in shown.stdout


def test_tasks_logs_takes_an_instance_as_task_and_index(run):
    run_id = "manual__2025-03-04T00:00:00+00:00"
    bracketed = invoke(run["env"], "tasks", "logs", "mapped_failures", run_id, "check[3]")
    option = invoke(run["env"], "tasks", "logs", "mapped_failures", run_id, "check",
                    "--map-index", "3")
    assert bracketed.exit_code == 0 and "four is not allowed: 4" in bracketed.stdout
    assert bracketed.stdout == option.stdout
    assert "check[3] try 1: failed" in bracketed.stderr
    ok = invoke(run["env"], "tasks", "logs", "mapped_failures", run_id, "check[0]")
    assert ok.exit_code == 0 and "check[0] try 1: success" in ok.stderr


@pytest.mark.parametrize(("name", "extra", "expected"), [
    ("check", (), "task check of run 'manual__2025-03-04T00:00:00+00:00' is mapped: name "
                  "one of its 4 instances, e.g. 'check[3]'"),
    ("check[7]", (), "has no task instance check[7] (task instances: check[0], check[1]"),
    ("check[3]", ("--map-index", "2"), "'check[3]' and --map-index 2 disagree"),
])
def test_tasks_logs_of_an_instance_it_cannot_show(run, name, extra, expected):
    result = invoke(run["env"], "tasks", "logs", "mapped_failures",
                    "manual__2025-03-04T00:00:00+00:00", name, *extra)
    assert result.exit_code == 2 and result.stderr.startswith("Error: ")
    assert expected in result.stderr


def test_a_task_traceback_names_the_dag_file_and_line(run):
    log = invoke(run["env"], "tasks", "logs", "mapped_failures",
                 "manual__2025-03-04T00:00:00+00:00", "check[3]").stdout
    assert f'File "{run["file"]}", line {RAISE_LINE}, in check' in log
    assert "<dynamic-code>" not in log


def test_dags_test_json_gives_every_failed_try_its_error(run):
    tasks = run["json"]["tasks"]
    assert tasks["flaky"]["state"] == "failed"
    assert [(t["try_number"], t["state"], t["error"]) for t in tasks["flaky"]["tries"]] == [
        (1, "up_for_retry", "RuntimeError: flaky says no"),
        (2, "failed", "RuntimeError: flaky says no")]
    assert tasks["check[3]"]["tries"] == [
        {"try_number": 1, "state": "failed", "error": "ValueError: four is not allowed: 4"}]
    assert tasks["check[0]"]["tries"] == [
        {"try_number": 1, "state": "success", "error": None}]
    assert tasks["numbers"]["error"] is None


def test_tasks_states_json_gives_every_failed_try_its_error(run):
    rows = json.loads(invoke(run["env"], "tasks", "states", "mapped_failures",
                             run["json"]["run_id"], "-o", "json").stdout)
    flaky = next(r for r in rows if r["task_id"] == "flaky")
    assert [(t["try_number"], t["state"], t["error"]) for t in flaky["tries"]] == [
        (1, "up_for_retry", "RuntimeError: flaky says no"),
        (2, "failed", "RuntimeError: flaky says no")]
    check = next(r for r in rows if (r["task_id"], r["map_index"]) == ("check", 3))
    assert check["error"] == "ValueError: four is not allowed: 4"

