"""Task code pickled by value keeps its file name, so tracebacks name the DAG file."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
import traceback
import types

import cloudpickle

from daskflow.execution import code_pickling
from daskflow.scheduler.dag_pickling import dumps_dags, loads_dags

SOURCE = textwrap.dedent('''
    from daskflow import DAG, task

    with DAG("traced") as dag:
        @task
        def divide(x):
            helper = lambda y: 1 / y
            return helper(x)

        divide(0)
''')


def _dag_from(path: str) -> object:
    """The DAG of SOURCE compiled as ``path``, in a module nobody can import (by value)."""
    module = types.ModuleType("daskflow_test_unimportable_dag")
    module.__file__ = path
    exec(compile(SOURCE, path, "exec"), module.__dict__)
    return module.dag


def _failure(function: types.FunctionType) -> traceback.FrameSummary:
    try:
        function(0)
    except ZeroDivisionError as exc:
        return traceback.extract_tb(exc.__traceback__)[-1]
    raise AssertionError("expected a ZeroDivisionError")


def test_dags_sent_by_a_parse_process_keep_their_file_and_lines(tmp_path):
    path = str(tmp_path / "traced.py")
    dag = loads_dags(dumps_dags([_dag_from(path)]))[0]
    frame = _failure(dag.get_task("divide").python_callable)
    assert (frame.filename, frame.lineno, frame.name) == (path, 7, "<lambda>")


def test_once_installed_cloudpickle_keeps_file_names_of_code_pickled_by_value(tmp_path):
    path = str(tmp_path / "traced.py")
    function = _dag_from(path).get_task("divide").python_callable
    assert code_pickling.install()
    frame = _failure(pickle.loads(cloudpickle.dumps(function)))
    assert (frame.filename, frame.lineno) == (path, 7)


def test_code_pickled_by_value_loads_where_daskflow_is_not_imported(tmp_path):
    path = str(tmp_path / "traced.py")
    code_pickling.install()
    blob = cloudpickle.dumps(_dag_from(path).get_task("divide").python_callable)
    # A plain Python with cloudpickle only, as on a worker that never imported daskflow:
    # nothing but marshal and cloudpickle's own helpers are needed to load it.
    check = textwrap.dedent('''
        import pickle, sys
        sys.modules["daskflow"] = None  # importing daskflow would fail
        blob = sys.stdin.buffer.read()
        try:
            function = pickle.loads(blob)
        except ImportError as exc:
            sys.exit(f"needs {exc}")
        print(function.__code__.co_filename)
    ''')
    done = subprocess.run([sys.executable, "-c", check], input=blob, capture_output=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == path
