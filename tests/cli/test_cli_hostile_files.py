"""DAG files that exit, crash, hang or eat memory, met by the real ``daskflow`` command.

Whatever a DAG file does while imported, a command's exit code is its own,
the file is reported as ``Import error in <file>: <reason>``, and the other
DAGs work, including ``dags test`` on worker processes and a scheduler that
keeps running while such files appear in its folder.
"""

from __future__ import annotations

import json
import signal
import textwrap
from pathlib import Path

import pytest
from cli_processes import Background, daskflow, environment, runs, wait_for

HOSTILE = {
    "os_exit.py": ("import os\nfrom daskflow import DAG\nos._exit(0)\n",
                   "exited with code 0"),
    "sys_exit.py": ("import sys\nfrom daskflow import DAG\nsys.exit(3)\n",
                    "called sys.exit(3) while being imported"),
    "system_exit.py": ("from daskflow import DAG\nraise SystemExit(5)\n",
                       "called sys.exit(5) while being imported"),
    "segfault.py": ("import ctypes\nfrom daskflow import DAG\nctypes.string_at(0)\n",
                    "was killed by SIGSEGV"),
}

# A task defined in the file calling a helper module of the DAG folder: worker
# processes have neither on their path, so both travel by value.
GOOD = '''
from daskflow import DAG, task
from _lib.words import shout

with DAG("good") as dag:
    @task
    def greet():
        return shout("hello")

    @task
    def check(text):
        if text != "HELLO!":
            raise ValueError(text)

    check(greet())
'''


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "dags"
    (path / "_lib").mkdir(parents=True)
    (path / "_lib" / "words.py").write_text("def shout(text):\n    return text.upper() + '!'\n")
    (path / "good.py").write_text(textwrap.dedent(GOOD))
    for name, (source, _) in HOSTILE.items():
        (path / name).write_text(source)
    return path


@pytest.fixture
def env(tmp_path: Path, folder: Path) -> dict[str, str]:
    return environment(tmp_path / "home", folder)


@pytest.mark.slow
def test_dags_list_names_each_file_and_why_and_exits_0(env, folder):
    done = daskflow(env, "dags", "list", "--output", "json")

    assert done.returncode == 0, done.stderr
    assert [row["dag_id"] for row in json.loads(done.stdout)] == ["good"]
    for name, (_, reason) in HOSTILE.items():
        [line] = [x for x in done.stderr.splitlines()
                  if x.startswith(f"Import error in {folder / name}: ")]
        assert reason in line and str(folder / name) in line.split(": ", 1)[1]


@pytest.mark.slow
def test_list_import_errors_before_any_scheduler_parses_the_folder(env, folder):
    done = daskflow(env, "dags", "list-import-errors", "--output", "json")

    assert done.returncode == 0, done.stderr
    errors = {Path(row["filename"]).name: row["traceback"] for row in json.loads(done.stdout)}
    assert sorted(errors) == sorted(HOSTILE)
    assert 'sys_exit.py", line 3, in <module>' in errors["sys_exit.py"]
    assert 'segfault.py", line 3 in <module>' in errors["segfault.py"]


@pytest.mark.slow
def test_dags_test_runs_a_good_dag_on_worker_processes_next_to_hostile_files(env):
    done = daskflow(env, "dags", "test", "good", "--workers", "1", "--processes",
                    "--output", "json")

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["state"] == "success"
    assert {t: v["state"] for t, v in result["tasks"].items()} == {
        "greet": "success", "check": "success"}


@pytest.mark.slow
def test_the_timeout_and_memory_limit_settings_apply_to_the_cli(env, folder):
    (folder / "hangs.py").write_text("import time\nfrom daskflow import DAG\ntime.sleep(600)\n")
    (folder / "hog.py").write_text(
        "from daskflow import DAG\nchunks = [bytearray(2**26) for _ in range(48)]\n")
    limited = {**env, "DASK_DASKFLOW__PARSE_TIMEOUT": "2",
               "DASK_DASKFLOW__PARSE_MEMORY_LIMIT": "512MiB"}

    done = daskflow(limited, "dags", "list")

    assert done.returncode == 0, done.stderr
    assert (f"Import error in {folder / 'hangs.py'}: DagImportError: parsing "
            f"{folder / 'hangs.py'} took longer than 2s (daskflow.parse-timeout)") in done.stderr
    assert (f"Import error in {folder / 'hog.py'}: DagImportError: importing {folder / 'hog.py'}"
            " needed more memory than daskflow.parse-memory-limit allows (512MiB)") in done.stderr


@pytest.mark.slow
def test_a_dag_id_in_two_files_is_reported_for_both_and_runs_from_neither(env, folder):
    (folder / "copy.py").write_text((folder / "good.py").read_text())

    listed = daskflow(env, "dags", "list", "--output", "json")
    tested = daskflow(env, "dags", "test", "good", "--threads", "--workers", "1")

    assert json.loads(listed.stdout) == []
    clash = f"DAG id 'good' is defined in both {folder / 'copy.py'} and {folder / 'good.py'}"
    assert f"Import error in {folder / 'copy.py'}: DagDefinitionError: {clash}" in listed.stderr
    assert f"Import error in {folder / 'good.py'}: DagDefinitionError: {clash}" in listed.stderr
    assert tested.returncode == 2 and "Traceback" not in tested.stderr
    assert clash in tested.stderr


@pytest.mark.slow
def test_the_scheduler_reports_hostile_files_at_start_and_outlives_new_ones(env, folder,
                                                                           tmp_path):
    late = {name: HOSTILE.pop(name) for name in ("sys_exit.py", "segfault.py")}
    for name in late:
        (folder / name).unlink()
    scheduler = Background(env, tmp_path / "scheduler.log", "scheduler", "--threads",
                           "--workers", "1")
    try:
        scheduler.wait_until_logged("Scheduler running")
        for name, (source, _) in late.items():
            (folder / name).write_text(source)

        def stored_errors() -> set[str]:
            done = daskflow(env, "dags", "list-import-errors", "--output", "json")
            return {Path(row["filename"]).name for row in json.loads(done.stdout)}

        wait_for(lambda: stored_errors() == {*HOSTILE, *late}, "the new files' import errors")
        run_id = daskflow(env, "dags", "trigger", "good").stdout.strip()
        wait_for(lambda: runs(env, "--dag-id", "good", "--state", "success"),
                 "the triggered run to succeed")
        assert scheduler.process.poll() is None, scheduler.stderr
    finally:
        code = scheduler.stop(signal.SIGINT)
    assert code == 0, scheduler.stderr
    assert run_id.startswith("manual__")
    assert (f"Import error in {folder / 'os_exit.py'}: DagImportError: the parse process "
            f"importing {folder / 'os_exit.py'} exited with code 0") in scheduler.stderr
