"""The peer workloads on Apache Airflow 3: ``dag.test()`` and the real scheduler.

Runs inside Airflow's own venv (``run_peers.py`` makes it); prints one JSON
line per workload and mode (``common.py``). Modes:

- ``dag.test``: ``dag.test()`` in this process, Airflow's own way to run a
  DAG once from Python; it runs the tasks one after another, in process;
- ``scheduler``: ``airflow scheduler``, ``dag-processor`` and ``api-server``
  started here with the LocalExecutor (parallelism 8) on a SQLite database;
  each run is triggered by ``airflow dags trigger`` and timed from its
  ``queued_at`` to its ``end_date`` as Airflow recorded them.

Both write ``$AIRFLOW_HOME/dags/peer_dags.py`` first, which builds the same DAGs.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def build(workload: str):
    """The workload as an Airflow 3 DAG (``airflow.sdk``), tasks from the standard provider."""
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG

    dag_id = "peer_" + workload.replace("-", "_")
    with DAG(dag_id, schedule=None, start_date=START, catchup=False,
             max_active_tasks=common.PARALLELISM) as dag:
        if workload == "noop":
            EmptyOperator(task_id="noop")
        elif workload == "chain":
            previous = None
            for i in range(common.CHAIN):
                op = EmptyOperator(task_id=f"t{i}")
                if previous is not None:
                    previous >> op
                previous = op
        elif workload == "fan-out":
            root = EmptyOperator(task_id="root")
            root >> [EmptyOperator(task_id=f"t{i}") for i in range(common.FAN)]
        elif workload == "sleep":
            for i in range(common.SLEEPS):
                PythonOperator(task_id=f"sleep{i}", python_callable=common.nap)
        elif workload == "cpu":
            for i in range(common.CPUS):
                PythonOperator(task_id=f"cpu{i}", python_callable=common.spin)
        elif workload == "retry":
            PythonOperator(task_id="flaky", python_callable=common.flaky,
                           retries=common.RETRIES,
                           retry_delay=dt.timedelta(seconds=common.RETRY_DELAY_S))
    return dag


def run_dag_test(workload: str) -> bool:
    dag = build(workload)
    run = dag.test(logical_date=dt.datetime.now(dt.timezone.utc))
    return str(getattr(run, "state", "")).endswith("success")


# -- the scheduler -------------------------------------------------------------------------
class Services:
    """Airflow's scheduler, DAG processor and API server, each in a session of its own."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.procs: list[subprocess.Popen] = []

    def __enter__(self) -> Services:
        airflow = str(Path(sys.executable).with_name("airflow"))
        for command in ("api-server", "scheduler", "dag-processor"):
            log = open(self.home / f"{command}.log", "w")
            args = [airflow, command] + (["--port", "28793"] if command == "api-server" else [])
            self.procs.append(subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _db() -> sqlite3.Connection:
    url = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    return sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)


def wait_parsed(dag_ids: list[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with _db() as conn:
                found = {r[0] for r in conn.execute("SELECT dag_id FROM dag")}
            if set(dag_ids) <= found:
                return
        except sqlite3.Error:
            pass
        time.sleep(1)
    raise TimeoutError(f"Airflow did not parse {dag_ids} in {timeout} s")


def run_scheduled(workload: str, timeout: float = 600) -> tuple[bool, float]:
    """Trigger one run and wait for it; (succeeded, seconds from queued to end)."""
    dag_id = "peer_" + workload.replace("-", "_")
    airflow = str(Path(sys.executable).with_name("airflow"))
    run_id = f"peer_{time.time_ns()}"
    subprocess.run([airflow, "dags", "trigger", dag_id, "--run-id", run_id], check=True,
                   capture_output=True, text=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with _db() as conn:
            row = conn.execute("SELECT state, queued_at, end_date FROM dag_run "
                               "WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)).fetchone()
        if row and row[0] in ("success", "failed") and row[2]:
            queued = dt.datetime.fromisoformat(row[1])
            ended = dt.datetime.fromisoformat(row[2])
            return row[0] == "success", (ended - queued).total_seconds()
        time.sleep(0.2)
    return False, timeout


def scheduler_mode(names: list[str], repeat: int) -> None:
    home = Path(os.environ["AIRFLOW_HOME"])
    wait_parsed(["peer_" + n.replace("-", "_") for n in names])
    for name in names:
        runs, ok = [], True
        for i in range(repeat + 1):
            if name == "retry":
                common.reset_counter()
            succeeded, seconds = run_scheduled(name)
            ok = ok and succeeded
            if i:
                runs.append(round(seconds, 4))
        print(common.json.dumps({"peer": "airflow", "mode": "scheduler", "workload": name,
                                 "runs": runs, "ok": ok,
                                 "note": f"queued_at to end_date; logs in {home}"}),
              flush=True)


DAG_FILE = '''"""Written by airflow_peer.py: the peer workloads for Airflow's scheduler."""
import sys
sys.path.insert(0, {here!r})
import airflow_peer
for _name in {names!r}:
    _dag = airflow_peer.build(_name)
    _dag.fileloc = __file__  # the DagBag keeps only the DAGs of the file it imports
    globals()["peer_" + _name.replace("-", "_")] = _dag
del _dag
'''


def write_dags(folder: Path, names: list[str]) -> None:
    """The DAG file Airflow parses: both modes need it (``dag.test`` in Airflow 3 runs only
    a DAG its bundle holds)."""
    folder.mkdir(parents=True, exist_ok=True)
    here = str(Path(__file__).resolve().parent)
    (folder / "peer_dags.py").write_text(DAG_FILE.format(here=here, names=names))


def main() -> None:
    modes, names, repeat = common.arguments()
    write_dags(Path(os.environ["AIRFLOW_HOME"]) / "dags", list(common.WORKLOADS))
    for mode in modes or ["dag.test"]:
        if mode == "dag.test":
            for name in names:
                common.measure("airflow", "dag.test", name, lambda n=name: run_dag_test(n),
                               repeat, note="tasks run one at a time in this process")
        elif mode == "scheduler":
            with Services(Path(os.environ["AIRFLOW_HOME"])):
                scheduler_mode(names, repeat)
        else:
            raise SystemExit(f"unknown mode {mode!r}; use dag.test or scheduler")


if __name__ == "__main__":
    main()
