"""The commands through click's CliRunner, on SQLite files in tmp_path and real clusters.

Runs whose logs are checked go to the session's LocalCluster of worker
processes (``--cluster``); the rest use an in-process LocalCluster of one
threaded worker (``--threads --workers 1``), the cheapest real cluster.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cli_dag_files import write_dags_folder
from click.testing import CliRunner, Result

from daskflow.cli.main import cli
from daskflow.store import Store

THREADED = ("--threads", "--workers", "1")


def invoke(env: dict[str, Any], *args: Any) -> Result:
    """Run ``daskflow ARGS`` in this process; unexpected exceptions propagate."""
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def environment(home: Path, dags_folder: Path) -> dict[str, Any]:
    return {"DASKFLOW_HOME": str(home), "DASKFLOW_DAGS_FOLDER": str(dags_folder),
            "DASKFLOW_DB": None, "CI": None}


def one_error(result: Result) -> str:
    """The stderr of a command that failed on bad input: an ``Error:`` and no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    return result.stderr


@pytest.fixture(scope="module")
def dags_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dags_folder(tmp_path_factory.mktemp("dags"))


@pytest.fixture
def env(tmp_path: Path, dags_folder: Path) -> dict[str, Any]:
    return environment(tmp_path / "home", dags_folder)


@pytest.fixture
def home(env: dict[str, Any]) -> Path:
    return Path(env["DASKFLOW_HOME"])


@dataclass
class Recorded:
    """Two runs recorded in one store: ``hello`` succeeded, ``failing`` failed."""

    env: dict[str, Any]
    db: str
    hello: Result
    failing: Result

    @property
    def hello_run(self) -> str:
        return json.loads(self.hello.stdout)["run_id"]

    @property
    def failing_run(self) -> str:
        return "manual__2025-03-05T00:00:00+00:00"


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, dags_folder: Path,
             dask_client: Any) -> Recorded:
    home = tmp_path_factory.mktemp("recorded")
    env = environment(home, dags_folder)
    address = dask_client.cluster.scheduler_address
    hello = invoke(env, "dags", "test", "hello", "--cluster", address, "--logical-date",
                   "2025-03-04", "--conf", '{"rows": 5}', "--output", "json")
    failing = invoke(env, "dags", "test", "failing", "--cluster", address,
                     "--logical-date", "2025-03-05T00:00:00+00:00")
    return Recorded(env, f"sqlite:///{home / 'daskflow.db'}", hello, failing)


# -- version and db ---------------------------------------------------------------------
def test_version_prints_daskflow_and_dask_versions(env):
    import daskflow

    table = invoke(env, "version")
    data = json.loads(invoke(env, "version", "--output", "json").stdout)
    assert table.stdout.startswith(f"daskflow {daskflow.__version__} (dask ")
    assert data["daskflow"] == daskflow.__version__
    assert data["distributed"]


def test_db_init_creates_the_schema_and_is_safe_to_repeat(env, home):
    first = json.loads(invoke(env, "db", "init", "--output", "json").stdout)
    second = json.loads(invoke(env, "db", "upgrade", "--output", "json").stdout)
    assert first["revision"] and first["revision"] == second["revision"]
    assert (home / "daskflow.db").exists()
    assert Store(f"sqlite:///{home / 'daskflow.db'}").list_pools()[0].name == "default_pool"


def test_db_reset_without_a_terminal_requires_yes(env, tmp_path):
    db = f"sqlite:///{tmp_path / 'reset.db'}"
    invoke(env, "db", "init", "--db", db)
    store = Store(db)
    store.set_pool("etl", 3)

    refused = one_error(invoke(env, "db", "reset", "--db", db))
    assert "--yes" in refused
    assert store.get_pool("etl") is not None

    done = invoke(env, "db", "reset", "--db", db, "--yes")
    assert done.exit_code == 0
    assert store.get_pool("etl") is None
    store.dispose()


def test_reading_commands_do_not_create_a_store(env, home):
    message = one_error(invoke(env, "runs", "list"))
    assert "daskflow db init" in message
    assert not (home / "daskflow.db").exists()


def test_a_store_without_tables_is_reported_not_queried(env, tmp_path):
    empty = tmp_path / "empty.db"
    Store(f"sqlite:///{empty}").dispose()
    message = one_error(invoke(env, "runs", "list", "--db", f"sqlite:///{empty}"))
    assert "no daskflow tables" in message


# -- dags -------------------------------------------------------------------------------
def test_dags_list_shows_each_dag_and_names_the_broken_files(env):
    table = invoke(env, "dags", "list")
    rows = json.loads(invoke(env, "dags", "list", "--output", "json").stdout)
    assert table.exit_code == 0
    by_id = {row["dag_id"]: row for row in rows}
    assert sorted(by_id) == ["failing", "greeting", "hello", "mapped"]
    assert by_id["hello"]["schedule"] == "@daily"
    assert by_id["hello"]["tags"] == ["demo"]
    assert by_id["hello"]["fileloc"].endswith("hello.py")
    assert by_id["hello"]["paused"] is None
    assert "ModuleNotFoundError: No module named 'no_such_module_for_daskflow_cli_tests'" in \
        table.stderr
    assert "cycle.py" in table.stderr and "a >> b >> a" in table.stderr
    assert "Traceback" not in table.stderr
    assert table.stdout.splitlines()[0].split() == ["dag_id", "fileloc", "schedule", "tags",
                                                    "paused"]


def test_dags_list_shows_paused_as_recorded_in_the_store(recorded):
    Store(recorded.db).set_paused("failing", True)
    rows = json.loads(invoke(recorded.env, "dags", "list", "-o", "json").stdout)
    paused = {row["dag_id"]: row["paused"] for row in rows}
    assert paused == {"failing": True, "hello": False, "greeting": None, "mapped": None}


def test_dags_show_lists_tasks_in_topological_order(env):
    data = json.loads(invoke(env, "dags", "show", "hello", "-o", "json").stdout)
    table = invoke(env, "dags", "show", "hello").stdout.splitlines()
    tasks = {t["task_id"]: t for t in data["tasks"]}
    assert [t["task_id"] for t in data["tasks"]] == ["extract", "double", "say", "done"]
    assert tasks["double"]["upstream"] == ["extract"]
    assert tasks["double"]["retries"] == 2
    assert tasks["say"]["operator"] == "BashOperator"
    assert tasks["done"]["trigger_rule"] == "all_done"
    assert [line.split()[0] for line in table[2:]] == ["extract", "double", "say", "done"]


def test_a_dag_with_a_cycle_is_reported_with_its_file_and_the_cycle(env):
    message = one_error(invoke(env, "dags", "show", "cyclic"))
    assert "cycle.py" in message and "a >> b >> a" in message


def test_a_dag_whose_file_fails_to_import_names_the_file_and_the_error(env):
    message = one_error(invoke(env, "dags", "test", "broken_dag", *THREADED))
    assert "broken.py" in message
    assert "No module named 'no_such_module_for_daskflow_cli_tests'" in message


def test_an_unknown_dag_id_lists_the_known_ones(env, dags_folder):
    message = one_error(invoke(env, "dags", "test", "nope", *THREADED))
    assert "'nope'" in message and "failing, greeting, hello, mapped" in message
    alone = one_error(invoke(env, "dags", "show", "nope", "--dags-folder",
                             dags_folder / "hello.py"))
    assert "DAGs found: hello" in alone


@pytest.mark.parametrize(("option", "value", "expected"), [
    ("--conf", "{oops", "--conf is not valid JSON"),
    ("--conf", "[1, 2]", "--conf must be a JSON object"),
    ("--conf", '"text"', "got a string"),
    ("--logical-date", "31/01/2025", "--logical-date '31/01/2025' is not an ISO date"),
    ("--cluster", "http://127.0.0.1:8787", "--cluster 'http://127.0.0.1:8787' is not a Dask"),
    ("--cluster", "localhost", "missing port number"),
])
def test_bad_run_input_fails_in_one_line_before_anything_is_written(env, home, option, value,
                                                                     expected):
    message = one_error(invoke(env, "dags", "test", "hello", option, value, *THREADED))
    assert expected in message
    assert len(message.strip().splitlines()) == 1
    assert not home.exists()


def test_an_unreachable_store_fails_with_its_url(env):
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
    message = one_error(invoke(env, "dags", "test", "hello", "--db", url, *THREADED))
    assert "postgresql+psycopg://postgres@127.0.0.1:1/nowhere" in message


def test_dags_test_json_reports_every_task_of_a_successful_run(recorded):
    data = json.loads(recorded.hello.stdout)
    assert recorded.hello.exit_code == 0
    assert data["dag_id"] == "hello" and data["state"] == "success"
    assert data["run_id"] == "manual__2025-03-04T00:00:00+00:00"
    assert {t: v["state"] for t, v in data["tasks"].items()} == dict.fromkeys(
        ["done", "double", "extract", "say"], "success")
    assert all(v["try_number"] == 1 and v["duration"] >= 0 for v in data["tasks"].values())


def test_dags_test_table_shows_the_failure_and_exits_1(recorded):
    result = recorded.failing
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:4]}
    assert result.exit_code == 1
    assert rows["boom"][1:3] == ["failed", "1"]
    assert "ValueError: kaboom" in result.stdout
    assert rows["after"][1] == "upstream_failed"
    assert result.stdout.splitlines()[-1] == f"DAG run failing {recorded.failing_run}: failed"
    assert "Dask dashboard: http" in result.stderr
    assert "tasks: 1 failed, 1 upstream_failed" in result.stderr
    # Quoted for a shell only where it needs it: this run id does not.
    assert f"See why with: daskflow tasks logs failing {recorded.failing_run} boom\n" in (
        result.stderr)


def test_dags_test_on_an_in_process_threaded_cluster(env, home):
    result = invoke(env, "dags", "test", "mapped", *THREADED, "--output", "json")
    data = json.loads(result.stdout)
    assert result.exit_code == 0
    assert {t: v["state"] for t, v in data["tasks"].items()} == {
        "square[0]": "success", "square[1]": "success", "square[2]": "success"}
    assert (home / "daskflow.db").exists()


def test_dags_test_passes_conf_to_the_run(env, dags_folder, dask_client, tmp_path):
    db = f"sqlite:///{tmp_path / 'conf.db'}"
    result = invoke(env, "dags", "test", "greeting", "--conf", '{"name": "ada"}', "--db", db,
                    "--cluster", dask_client.cluster.scheduler_address, "-o", "json")
    run_id = json.loads(result.stdout)["run_id"]
    xcoms = {x.task_id: json.loads(x.value) for x in Store(db).list_xcoms("greeting", run_id)}
    assert result.exit_code == 0
    assert xcoms == {"greet": "hello ada", "shout": "HELLO ADA"}


# -- tasks ------------------------------------------------------------------------------
def test_tasks_list_gives_ids_in_run_order(env):
    rows = json.loads(invoke(env, "tasks", "list", "hello", "-o", "json").stdout)
    assert rows == [{"task_id": "extract", "operator": "DecoratedPythonOperator"},
                    {"task_id": "double", "operator": "DecoratedPythonOperator"},
                    {"task_id": "say", "operator": "BashOperator"},
                    {"task_id": "done", "operator": "EmptyOperator"}]


def test_tasks_states_of_a_recorded_run(recorded, dask_client):
    rows = json.loads(invoke(recorded.env, "tasks", "states", "hello", recorded.hello_run,
                             "-o", "json").stdout)
    workers = set(dask_client.scheduler_info()["workers"])
    assert [r["task_id"] for r in rows] == ["done", "double", "extract", "say"]
    assert all(r["state"] == "success" and r["try_number"] == 1 for r in rows)
    assert all(r["map_index"] == -1 and r["hostname"] for r in rows)
    assert {r["worker"] for r in rows} <= workers


def test_tasks_states_say_why_a_try_failed(recorded):
    table = invoke(recorded.env, "tasks", "states", "failing", recorded.failing_run)
    rows = json.loads(invoke(recorded.env, "tasks", "states", "failing", recorded.failing_run,
                             "-o", "json").stdout)
    assert table.stdout.splitlines()[0].split()[-1] == "error"
    assert "ValueError: kaboom" in table.stdout
    boom = next(r for r in rows if r["task_id"] == "boom")
    assert boom["error"] == "ValueError: kaboom"
    assert [(t["try_number"], t["state"], t["error"]) for t in boom["tries"]] == [
        (1, "failed", "ValueError: kaboom")]
    after = next(r for r in rows if r["task_id"] == "after")
    assert (after["state"], after["error"], after["tries"]) == ("upstream_failed", None, [])


def test_dags_test_json_carries_the_error(env, dask_client, tmp_path):
    data = json.loads(invoke(env, "dags", "test", "failing", "-o", "json",
                             "--db", f"sqlite:///{tmp_path / 'json.db'}",
                             "--cluster", dask_client.cluster.scheduler_address).stdout)
    assert data["tasks"]["boom"]["error"] == "ValueError: kaboom"
    assert data["tasks"]["after"]["error"] is None


def test_tasks_states_of_an_unknown_run(recorded):
    message = one_error(invoke(recorded.env, "tasks", "states", "hello", "manual__nope"))
    assert "no run 'manual__nope'" in message and recorded.hello_run in message


def test_tasks_logs_show_what_the_task_printed_with_conf_and_templates(recorded):
    say = invoke(recorded.env, "tasks", "logs", "hello", recorded.hello_run, "say")
    double = invoke(recorded.env, "tasks", "logs", "hello", recorded.hello_run, "double",
                    "--try", "1", "-o", "json")
    assert "day=2025-03-04 rows=5" in say.stdout
    assert "say try 1: success" in say.stderr
    assert "doubling 21" in json.loads(double.stdout)["log"]


def test_tasks_logs_of_a_failed_task_hold_its_traceback(recorded):
    result = invoke(recorded.env, "tasks", "logs", "failing", recorded.failing_run, "boom")
    assert result.exit_code == 0
    assert "about to fail" in result.stdout and "ValueError: kaboom" in result.stdout


def test_tasks_logs_of_a_task_that_never_ran(recorded):
    result = invoke(recorded.env, "tasks", "logs", "failing", recorded.failing_run, "after")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "never ran" in result.stderr and "upstream_failed" in result.stderr


@pytest.mark.parametrize(("args", "expected"), [
    (("hello", "manual__nope", "say"), "no run 'manual__nope'"),
    (("hello", "RUN", "nope"), "no task instance nope (task instances: done, double"),
    (("hello", "RUN", "say", "--try", "4"), "has no try 4 (tries recorded: 1)"),
    (("hello", "RUN", "say", "--map-index", "2"), "no task instance say[2]"),
])
def test_tasks_logs_of_something_not_recorded(recorded, args, expected):
    args = [recorded.hello_run if a == "RUN" else a for a in args]
    assert expected in one_error(invoke(recorded.env, "tasks", "logs", *args))


def test_tasks_test_runs_one_task_here_and_records_nothing(env, home):
    result = invoke(env, "tasks", "test", "hello", "say", "--logical-date", "2025-02-03")
    assert result.exit_code == 0
    assert "day=2025-02-03 rows=1" in result.stdout
    assert "Returned value: 'day=2025-02-03 rows=1'" in result.stdout
    assert result.stdout.splitlines()[-1] == "Task say: success"
    assert not home.exists()


def test_tasks_test_takes_params_from_conf_and_notes_missing_upstream_values(env):
    greet = invoke(env, "tasks", "test", "greeting", "greet", "--conf", '{"name": "ada"}',
                   "-o", "json")
    shout = invoke(env, "tasks", "test", "greeting", "shout")
    assert json.loads(greet.stdout)["return_value"] == "hello ada"
    assert "greeting ada" in greet.stderr
    assert shout.exit_code == 1
    assert "'shout' has upstream tasks (greet)" in shout.stderr
    assert "AttributeError: 'NoneType' object has no attribute 'upper'" in shout.stderr
    assert shout.stdout.splitlines()[-1] == "Task shout: failed"


def test_tasks_test_runs_one_instance_of_a_mapped_task(env):
    third = invoke(env, "tasks", "test", "mapped", "square", "--map-index", "2", "-o", "json")
    assert json.loads(third.stdout)["return_value"] == 9
    message = one_error(invoke(env, "tasks", "test", "mapped", "square", "--map-index", "3"))
    assert "has 3 instances" in message
    unmapped = one_error(invoke(env, "tasks", "test", "hello", "say", "--map-index", "0"))
    assert "not mapped" in unmapped


def test_tasks_test_of_an_unknown_task(env):
    message = one_error(invoke(env, "tasks", "test", "hello", "nope"))
    assert "no task 'nope'" in message and "daskflow tasks list" in message


# -- runs -------------------------------------------------------------------------------
def test_runs_list_filters_by_dag_state_and_limit(recorded):
    def run_ids(*args: str) -> list[str]:
        result = invoke(recorded.env, "runs", "list", *args, "-o", "json")
        return [(row["dag_id"], row["state"]) for row in json.loads(result.stdout)]

    assert run_ids() == [("failing", "failed"), ("hello", "success")]
    assert run_ids("--dag-id", "hello") == [("hello", "success")]
    assert run_ids("--state", "failed") == [("failing", "failed")]
    assert run_ids("--limit", "1") == [("failing", "failed")]
    table = invoke(recorded.env, "runs", "list").stdout.splitlines()
    assert table[0].split() == ["dag_id", "run_id", "state", "logical_date", "start", "end",
                                "run_type", "dag_version", "reason"]
    assert len(table) == 4


def test_a_missing_dags_folder_says_how_to_point_at_one(env, tmp_path):
    message = one_error(invoke(env, "dags", "list", "--dags-folder", tmp_path / "nope"))
    assert "does not exist" in message and "--dags-folder" in message


def test_what_a_dag_file_prints_while_imported_stays_off_stdout(env, tmp_path):
    (tmp_path / "noisy.py").write_text(
        "from daskflow import DAG\nprint('importing noisy')\nwith DAG('noisy') as dag:\n"
        "    pass\n")
    result = invoke(env, "dags", "list", "--dags-folder", tmp_path / "noisy.py", "-o", "json")
    assert [row["dag_id"] for row in json.loads(result.stdout)] == ["noisy"]
    assert "importing noisy" in result.stderr


DEFERRING_DAG = '''
from datetime import datetime, timedelta, timezone
from daskflow import DAG
from daskflow.models.baseoperator import BaseOperator
from daskflow.triggers import TimeDeltaTrigger


class Waits(BaseOperator):
    def execute(self, context):
        print("deferring")
        self.defer(trigger=TimeDeltaTrigger(timedelta(seconds=0.5)), method_name="done",
                   kwargs={"started": datetime.now(timezone.utc).isoformat()})

    def done(self, context, event=None, started=None):
        waited = (event - datetime.fromisoformat(started)).total_seconds()
        return f"resumed after {waited:.1f}s"


with DAG("defers_here", schedule=None):
    Waits(task_id="waits")
'''


def test_tasks_test_waits_on_a_deferred_tasks_trigger_here_and_resumes_it(tmp_path):
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "defers.py").write_text(DEFERRING_DAG)
    result = invoke(environment(tmp_path / "home", folder), "tasks", "test", "defers_here",
                    "waits", "-o", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["return_value"] == "resumed after 0.5s"
    assert "deferring" in result.stderr + result.stdout
