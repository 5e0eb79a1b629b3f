"""The DAG the dashboard tests run: a failure, a retry, mapping, a masked secret, a template.

``gate`` waits for a file the test creates, so a test can watch a page while
the run is active; without ``gate_file`` the run goes straight through.
"""

from __future__ import annotations

import os
import sys
import time

import cloudpickle

from daskflow import DAG, mask_secret, task
from daskflow.operators import BashOperator, PythonOperator

cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: Printed by ``fetch`` after it is registered as a secret: the page must show it masked.
SECRET = "".join(["tops", "ecret", "-4321"])
FAILURE = "disk full on purpose"


def _fetch() -> str:
    mask_secret(SECRET)
    print(f"fetched the password {SECRET}")
    return "fetched"


def _flaky(flag: str) -> str:
    if not os.path.exists(flag):
        open(flag, "w").close()
        raise RuntimeError("first try of flaky fails")
    print("flaky worked on its second try")
    return "ok"


def _broken() -> None:
    print("broken is about to fail")
    raise OSError(FAILURE)


def _gate(gate_file: str) -> str:
    while gate_file and not os.path.exists(gate_file):
        time.sleep(0.1)
    return "opened"


@task
def split() -> list[int]:
    return [1, 2, 3]


@task
def work(n: int) -> int:
    print(f"working on {n}")
    return n * 10


def build(flag: str, gate_file: str = "", dag_id: str = "monitored") -> DAG:
    with DAG(dag_id, schedule="@daily", tags=["dashboard", "test"],
             default_args={"owner": "ada"}) as dag:
        fetch = PythonOperator(task_id="fetch", python_callable=_fetch)
        gate = PythonOperator(task_id="gate", python_callable=_gate, op_args=[gate_file])
        flaky = PythonOperator(task_id="flaky", python_callable=_flaky, op_args=[flag],
                               retries=1, retry_delay=0)
        broken = PythonOperator(task_id="broken", python_callable=_broken)
        echo = BashOperator(task_id="echo", bash_command="echo run of {{ ds }}")
        fetch >> gate >> [flaky, broken, echo]
        gate >> work.expand(n=split())
    return dag
