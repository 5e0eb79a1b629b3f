"""DAG files for the CLI tests, written into a temporary folder by each test module.

Besides working DAGs there are a file that fails to import and one whose DAG
has a cycle, so every command also meets a folder with broken files in it.
(A module rather than a ``conftest.py``: ``--doctest-modules`` imports every
``conftest.py`` under the name ``conftest``, and a second one clashes with
``tests/conftest.py``.)
"""

from __future__ import annotations

from pathlib import Path

DAG_FILES = {
    "hello.py": '''
from datetime import datetime

from daskflow import DAG, task
from daskflow.operators import BashOperator, EmptyOperator

with DAG("hello", schedule="@daily", start_date=datetime(2025, 1, 1), tags=["demo"],
         params={"rows": 1}) as dag:
    @task
    def extract():
        return 21

    @task(retries=2)
    def double(x):
        print("doubling", x)
        return 2 * x

    say = BashOperator(task_id="say", bash_command="echo day={{ ds }} rows={{ params.rows }}")
    done = EmptyOperator(task_id="done", trigger_rule="all_done")
    double(extract()) >> say >> done
''',
    "failing.py": '''
from daskflow import DAG, task

with DAG("failing") as dag:
    @task
    def boom():
        print("about to fail")
        raise ValueError("kaboom")

    @task
    def after(x):
        return x

    after(boom())
''',
    "greeting.py": '''
from daskflow import dag, task


@dag(dag_id="greeting")
def greeting(name="world"):
    @task
    def greet(who):
        print("greeting", who)
        return f"hello {who}"

    @task
    def shout(text):
        return text.upper()

    shout(greet(name))


greeting_dag = greeting()
''',
    "mapped.py": '''
from daskflow import DAG, task

with DAG("mapped") as dag:
    @task
    def square(x):
        return x * x

    square.expand(x=[1, 2, 3])
''',
    "broken.py": '''
from daskflow import DAG
import no_such_module_for_daskflow_cli_tests

with DAG("broken_dag") as dag:
    pass
''',
    "cycle.py": '''
from daskflow import DAG
from daskflow.operators import EmptyOperator

with DAG("cyclic") as dag:
    a = EmptyOperator(task_id="a")
    b = EmptyOperator(task_id="b")
    a >> b >> a
''',
}


def write_dags_folder(folder: Path) -> Path:
    """Fill ``folder`` with every file of :data:`DAG_FILES` and return it."""
    for name, source in DAG_FILES.items():
        (folder / name).write_text(source.lstrip())
    return folder
