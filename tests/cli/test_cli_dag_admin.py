"""``dags trigger|pause|unpause|next-runs|versions|show --version|list-import-errors``, ``pools``.

Through click's CliRunner on a SQLite file per test; none of these commands
needs a cluster. What they write is checked in the store itself.
"""

from __future__ import annotations

import json
import textwrap
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daskflow.cli.main import cli
from daskflow.scheduler.dag_folder import DagFolder
from daskflow.scheduler.dag_sync import dag_record
from daskflow.store import Store

DAILY = '''
from datetime import datetime

from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("daily", schedule="@daily", start_date=datetime(2025, 1, 1), catchup=True) as dag:
    EmptyOperator(task_id="only")
'''

MANUAL = '''
from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("manual_only") as dag:
    EmptyOperator(task_id="only")
'''

BROKEN = '''
from daskflow import DAG

raise RuntimeError("this DAG file is broken on purpose")
'''


def invoke(env: dict[str, Any], *args: Any) -> Result:
    return CliRunner(env=env).invoke(cli, [str(a) for a in args], catch_exceptions=False)


def error(result: Result) -> str:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    return result.stderr


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "dags"
    path.mkdir()
    for name, source in (("daily", DAILY), ("manual_only", MANUAL), ("broken", BROKEN)):
        (path / f"{name}.py").write_text(textwrap.dedent(source))
    return path


@pytest.fixture
def env(tmp_path: Path, folder: Path) -> dict[str, Any]:
    return {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DAGS_FOLDER": str(folder),
            "DASKFLOW_DB": None, "CI": None}


@pytest.fixture
def store(env: dict[str, Any]):
    """The store the commands use (created by the first command that writes)."""
    opened: list[Store] = []

    def open_store() -> Store:
        if not opened:
            opened.append(Store(f"sqlite:///{Path(env['DASKFLOW_HOME']) / 'daskflow.db'}"))
        return opened[0]

    yield open_store
    for s in opened:
        s.dispose()


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


# -- trigger ---------------------------------------------------------------------------------
def test_trigger_queues_a_manual_run_with_the_schedules_data_interval(env, store):
    result = invoke(env, "dags", "trigger", "daily", "--logical-date", "2025-03-04T06:00",
                    "--conf", '{"rows": 3}')
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "manual__2025-03-04T06:00:00+00:00\n"
    run = store().get_dag_run("daily", "manual__2025-03-04T06:00:00+00:00")
    assert (run.state, run.run_type, run.external_trigger) == ("queued", "manual", True)
    assert run.logical_date == utc(2025, 3, 4, 6)
    assert (run.data_interval_start, run.data_interval_end) == (utc(2025, 3, 3), utc(2025, 3, 4))
    assert dict(run.conf) == {"rows": 3}
    # Only the DAG id and conf: the loop that starts the run records the code it runs.
    assert run.dag_version is None and store().list_dag_versions("daily") == []


def test_trigger_json_is_the_run_and_run_id_can_be_chosen(env):
    before = datetime.now(timezone.utc)
    result = invoke(env, "dags", "trigger", "manual_only", "--run-id", "by-hand", "-o", "json")
    after = datetime.now(timezone.utc)
    run = json.loads(result.stdout)
    assert run["run_id"] == "by-hand" and run["state"] == "queued"
    assert run["data_interval_start"] == run["data_interval_end"] == run["logical_date"]
    # Without --logical-date the run is for the moment it was triggered.
    assert before <= datetime.fromisoformat(run["logical_date"]) <= after


def test_a_second_trigger_for_the_same_logical_date_is_refused(env, store):
    invoke(env, "dags", "trigger", "daily", "-d", "2025-03-04")
    message = error(invoke(env, "dags", "trigger", "daily", "-d", "2025-03-04",
                           "--run-id", "other"))
    assert "already has run 'manual__2025-03-04T00:00:00+00:00'" in message
    assert "--logical-date" in message
    assert [r.run_id for r in store().list_dag_runs("daily")] == [
        "manual__2025-03-04T00:00:00+00:00"]


def test_triggering_an_unknown_dag_names_the_known_ones(env, tmp_path):
    message = error(invoke(env, "dags", "trigger", "nope"))
    assert "nope" in message and "daily" in message
    assert not (tmp_path / "home" / "daskflow.db").exists()


# -- pause -----------------------------------------------------------------------------------
def test_pause_and_unpause_a_dag_the_store_has_not_seen_yet(env, store):
    assert invoke(env, "dags", "pause", "daily").stdout == "DAG daily paused\n"
    assert store().paused_dag_ids() == {"daily"}
    listed = json.loads(invoke(env, "dags", "list", "-o", "json").stdout)
    assert {d["dag_id"]: d["paused"] for d in listed}["daily"] is True
    assert json.loads(invoke(env, "dags", "unpause", "daily", "-o", "json").stdout) == {
        "dag_id": "daily", "is_paused": False}
    assert store().paused_dag_ids() == set()


def test_pause_works_for_a_dag_only_the_store_knows(env, store, tmp_path):
    invoke(env, "db", "init")
    store().sync_dags([dag_record(_gone_dag())])
    result = invoke(env, "dags", "pause", "gone", "--dags-folder", str(tmp_path / "empty"))
    assert result.exit_code == 0, result.stderr
    assert store().paused_dag_ids() == {"gone"}


def _gone_dag() -> Any:
    from daskflow.models.dag import DAG

    return DAG("gone", fileloc="/somewhere/gone.py")


def test_pausing_an_unknown_dag_fails(env):
    assert "nope" in error(invoke(env, "dags", "pause", "nope"))


# -- next-runs -------------------------------------------------------------------------------
def test_next_runs_start_at_start_date_then_after_the_latest_scheduled_run(env, store):
    rows = json.loads(invoke(env, "dags", "next-runs", "daily", "-n", "2", "-o", "json").stdout)
    assert [(r["logical_date"], r["run_after"]) for r in rows] == [
        ("2025-01-01T00:00:00+00:00", "2025-01-02T00:00:00+00:00"),
        ("2025-01-02T00:00:00+00:00", "2025-01-03T00:00:00+00:00")]

    invoke(env, "dags", "pause", "daily")  # creates the store and syncs the DAG
    store().create_dag_run("daily", "scheduled__2025-01-05", utc(2025, 1, 5), utc(2025, 1, 5),
                           utc(2025, 1, 6), "scheduled", {})
    store().create_dag_run("daily", "manual__2025-06-01", utc(2025, 6, 1), utc(2025, 5, 31),
                           utc(2025, 6, 1), "manual", {})  # manual runs do not move it
    result = invoke(env, "dags", "next-runs", "daily", "--count", "1", "-o", "json")
    [row] = json.loads(result.stdout)
    assert row == {"logical_date": "2025-01-06T00:00:00+00:00",
                   "data_interval_start": "2025-01-06T00:00:00+00:00",
                   "data_interval_end": "2025-01-07T00:00:00+00:00",
                   "run_after": "2025-01-07T00:00:00+00:00"}
    assert "paused" in result.stderr


def test_next_runs_of_an_unscheduled_dag_is_empty_and_says_why(env):
    result = invoke(env, "dags", "next-runs", "manual_only")
    assert json.loads(invoke(env, "dags", "next-runs", "manual_only", "-o", "json").stdout) == []
    assert "no schedule" in result.stderr


# -- versions --------------------------------------------------------------------------------
def _parsed(store_at: Any, folder: Path) -> str:
    """Parse the folder as a scheduler loop does (which stores versions); the version id."""
    opened = store_at()
    opened.init()
    dag_folder = DagFolder(folder, opened)
    dag_folder.refresh()
    return dag_folder.versions["daily"]


def test_versions_list_and_show_the_stored_source_of_each(env, store, folder):
    first = _parsed(store, folder)
    (folder / "daily.py").write_text(DAILY.replace('task_id="only"', 'task_id="renamed"'))
    second = _parsed(store, folder)
    assert first != second

    listed = json.loads(invoke(env, "dags", "versions", "daily", "-o", "json").stdout)
    assert {v["version_id"] for v in listed} == {first, second}
    old = invoke(env, "dags", "show", "daily", "--version", first)
    assert 'task_id="only"' in old.stdout and 'task_id="renamed"' not in old.stdout
    as_json = json.loads(invoke(env, "dags", "show", "daily", "--version", second,
                                "-o", "json").stdout)
    assert 'task_id="renamed"' in as_json["source"] and as_json["dag_id"] == "daily"


def test_show_of_an_unknown_version_lists_the_known_ones(env, store, folder):
    known = _parsed(store, folder)
    message = error(invoke(env, "dags", "show", "daily", "--version", "0000"))
    assert "no version '0000'" in message and known in message


# -- from another terminal, with only the store ------------------------------------------------
@pytest.fixture
def away(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Another terminal: the same store and secret key, no --dags-folder, no folder here."""
    monkeypatch.setenv("DASKFLOW_SECRET_KEY", "one key for the loop and the terminal")
    return {**env, "DASKFLOW_DAGS_FOLDER": None}


def test_dag_commands_need_only_the_store_a_loop_recorded_the_dag_in(away, store, folder):
    _parsed(store, folder)  # what a running `daskflow scheduler --dags-folder ...` records
    assert not (Path(away["DASKFLOW_HOME"]) / "dags").exists()

    triggered = invoke(away, "dags", "trigger", "daily", "-d", "2025-03-04T06:00")
    assert triggered.exit_code == 0, triggered.stderr
    run = store().get_dag_run("daily", "manual__2025-03-04T06:00:00+00:00")
    assert (run.data_interval_start, run.data_interval_end) == (utc(2025, 3, 3), utc(2025, 3, 4))

    rows = json.loads(invoke(away, "dags", "next-runs", "daily", "-n", "1", "-o", "json").stdout)
    assert [r["logical_date"] for r in rows] == ["2025-01-01T00:00:00+00:00"]
    assert invoke(away, "dags", "pause", "daily").stdout == "DAG daily paused\n"
    assert store().paused_dag_ids() == {"daily"}
    assert invoke(away, "dags", "unpause", "daily").exit_code == 0
    versions = json.loads(invoke(away, "dags", "versions", "daily", "-o", "json").stdout)
    assert [v["fileloc"] for v in versions] == [str(folder / "daily.py")]


def test_a_recorded_file_not_on_this_host_is_read_from_the_stored_version(away, store, folder):
    _parsed(store, folder)
    (folder / "daily.py").rename(folder.parent / "moved.py")  # as if on the loop's host only
    rows = json.loads(invoke(away, "dags", "next-runs", "daily", "-n", "1", "-o", "json").stdout)
    assert [r["run_after"] for r in rows] == ["2025-01-02T00:00:00+00:00"]
    assert invoke(away, "dags", "trigger", "daily", "-d", "2025-03-04").exit_code == 0


def test_a_recorded_file_that_no_longer_defines_the_dag_is_named(away, store, folder):
    _parsed(store, folder)
    (folder / "daily.py").write_text(MANUAL)
    message = error(invoke(away, "dags", "trigger", "daily"))
    assert f"DAG 'daily': its file {folder / 'daily.py'} no longer defines it" in message


@pytest.mark.parametrize("command", [("trigger",), ("next-runs",), ("pause",), ("unpause",),
                                     ("versions",)])
def test_a_dag_the_store_does_not_know_is_one_error_naming_it(away, store, folder, command):
    _parsed(store, folder)
    message = error(invoke(away, "dags", *command, "nope"))
    assert "'nope'" in message.splitlines()[0]
    assert "daily" in message or "does not know it" in message
    assert store().get_dag("nope") is None and store().list_dag_runs("nope") == []


def test_without_a_store_or_a_folder_the_error_names_the_dag_and_the_store(away):
    message = error(invoke(away, "dags", "trigger", "daily"))
    assert "DAG 'daily' not found: there is no metadata store at" in message
    assert "--dags-folder" in message
    assert not (Path(away["DASKFLOW_HOME"]) / "daskflow.db").exists()


# -- import errors ---------------------------------------------------------------------------
def test_import_errors_before_any_store_are_the_folders_parsed_now(env):
    before = json.loads(invoke(env, "dags", "list-import-errors", "-o", "json").stdout)
    assert [Path(e["filename"]).name for e in before] == ["broken.py"]
    assert before[0]["timestamp"] is None  # no store yet: parsed just now


def test_import_errors_of_the_folder_are_parsed_now_even_when_the_store_has_none(env, store,
                                                                                folder):
    # `dags test` creates the store but records no import errors: no loop parsed the folder.
    invoke(env, "db", "init")
    table = invoke(env, "dags", "list-import-errors")
    assert "No import errors" not in table.stdout
    assert f"{folder / 'broken.py'} (parsed now):" in table.stdout
    assert "this DAG file is broken on purpose" in table.stdout


def test_import_errors_recorded_by_a_loop_are_listed_and_the_folder_checked_again(env, store,
                                                                                 folder,
                                                                                 tmp_path):
    invoke(env, "db", "init")
    elsewhere = str(tmp_path / "other-host" / "other.py")
    store().set_import_errors({elsewhere: "Traceback ...\nValueError: x\n",
                               str(folder / "daily.py"): "Traceback ...\nOldError: fixed\n"},
                              clear_others_under=None)
    listed = json.loads(invoke(env, "dags", "list-import-errors", "-o", "json").stdout)
    assert [(Path(e["filename"]).name, e["timestamp"] is None) for e in listed] == [
        ("broken.py", True), ("other.py", False)]  # daily.py imports now: not listed
    table = invoke(env, "dags", "list-import-errors").stdout
    assert f"{elsewhere} (recorded by a scheduler loop " in table and "ValueError: x" in table


def test_import_errors_without_a_folder_here_say_what_was_checked(env, store, folder):
    away = {**env, "DASKFLOW_DAGS_FOLDER": None}
    invoke(env, "db", "init")
    table = invoke(away, "dags", "list-import-errors").stdout
    assert table.startswith("No import errors recorded by scheduler loops in ")
    assert "no DAG folder here to parse (pass --dags-folder" in table
    _parsed(store, folder)  # a loop records the broken file
    listed = json.loads(invoke(away, "dags", "list-import-errors", "-o", "json").stdout)
    assert [Path(e["filename"]).name for e in listed] == ["broken.py"]


# -- pools -----------------------------------------------------------------------------------
def test_pools_set_list_resize_and_delete(env, store):
    assert invoke(env, "pools", "set", "db", "4", "--description", "the warehouse").exit_code == 0
    invoke(env, "pools", "set", "db", "2")  # resizing keeps the description
    listed = json.loads(invoke(env, "pools", "list", "-o", "json").stdout)
    assert {p["name"]: (p["slots"], p["description"]) for p in listed} == {
        "default_pool": (128, ""), "db": (2, "the warehouse")}
    assert invoke(env, "pools", "delete", "db").stdout == "Pool db deleted\n"
    assert store().get_pool("db") is None


def test_default_pool_cannot_be_deleted_and_unknown_pools_are_named(env, store):
    invoke(env, "db", "init")
    message = error(invoke(env, "pools", "delete", "default_pool"))
    assert "default_pool cannot be deleted" in message and "pools set default_pool" in message
    assert store().get_pool("default_pool") is not None
    assert "no pool 'nope'" in error(invoke(env, "pools", "delete", "nope"))
