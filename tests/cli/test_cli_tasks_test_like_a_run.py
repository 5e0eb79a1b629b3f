"""``daskflow tasks test`` runs the task through the same code as a node in a DAG run.

What a task goes through besides ``execute`` (its ``execution_timeout``, its
``on_execute_callback``, the ``multiple_outputs`` check) applies to a task
tested alone exactly as in a run.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from daskflow.cli.main import cli

DAG_FILE = '''
import time
from datetime import timedelta

from daskflow import DAG
from daskflow.operators import PythonOperator


def announce(context):
    print(f"about to run {context['ti'].task_id}")


def sleepy():
    time.sleep(30)
    return "woke up"


def not_a_dict():
    return [1, 2]


with DAG("alone", schedule=None):
    PythonOperator(task_id="sleepy", python_callable=sleepy,
                   execution_timeout=timedelta(seconds=1))
    PythonOperator(task_id="announced", python_callable=lambda: "ran",
                   on_execute_callback=announce)
    PythonOperator(task_id="outputs", python_callable=not_a_dict, multiple_outputs=True)
'''


def _tasks_test(tmp_path: Path, task_id: str):
    folder = tmp_path / "dags"
    folder.mkdir(exist_ok=True)
    (folder / "alone.py").write_text(textwrap.dedent(DAG_FILE))
    env = {"DASKFLOW_HOME": str(tmp_path / "home"), "DASKFLOW_DAGS_FOLDER": str(folder),
           "DASKFLOW_DB": None}
    return CliRunner(env=env).invoke(cli, ["tasks", "test", "alone", task_id],
                                     catch_exceptions=False)


@pytest.mark.slow
def test_execution_timeout_stops_a_task_tested_alone(tmp_path):
    result = _tasks_test(tmp_path, "sleepy")
    assert result.exit_code == 1
    assert "TaskTimeout" in result.stderr and "woke up" not in result.stdout
    assert result.stdout.splitlines()[-1] == "Task sleepy: failed"


def test_on_execute_callback_runs_for_a_task_tested_alone(tmp_path):
    result = _tasks_test(tmp_path, "announced")
    assert result.exit_code == 0
    assert "about to run announced" in result.stdout
    assert result.stdout.splitlines()[-1] == "Task announced: success"


def test_multiple_outputs_is_checked_for_a_task_tested_alone(tmp_path):
    result = _tasks_test(tmp_path, "outputs")
    assert result.exit_code == 1
    assert "multiple_outputs" in result.stderr
    assert result.stdout.splitlines()[-1] == "Task outputs: failed"
