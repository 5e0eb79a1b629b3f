"""Kill, pause, starve and cut off ``daskflow scheduler``: is any work lost or repeated?

Run from the repository root::

    PYTHONPATH=. python benchmarks/fault_injection.py [--quick] [--scenario NAME ...] [--out FILE]

``--scenario`` is repeatable (``kill``, ``slow-parse``, ``sigstop``,
``store-outage``, ``pg-terminate``, ``worker-memory``, or ``all``, the
default). ``--quick`` uses smaller DAGs and shorter pauses (all scenarios in a
few minutes). The PostgreSQL scenarios use ``--pg`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), in a schema of their
own that is dropped at the end; without a server they are reported skipped.

Every scenario runs on a fresh store and temporary folder. Its loops are
``daskflow scheduler --workers 2 --threads-per-worker 1 --heartbeat 0.5
--stale-after 2 --loop-id NAME`` subprocesses, each in a session of its own,
stderr to a log file, with ``FAULTS_LOOP=NAME`` in their environment (their
LocalCluster workers inherit it). A loop the script does not kill on purpose
is stopped with SIGINT at the end and must exit 0. A run that has not ended
``--run-timeout`` seconds (420, beyond daskflow's 300 s stall-timeout) after
the script began waiting for it is reported as it stands. The DAGs are parallel
chains of ``PythonOperator`` tasks: each task appends ``<run_id> <task_id>
<loop name> <pid> start <epoch>`` to a journal, prints a log line, sleeps
0.1-0.3 s and appends the same line with ``end``. DAG sizes (chains x tasks;
``--quick`` in brackets, ``--chains``/``--length`` override both): kill 20x10
(5x6), slow-parse 8x20 (6x12), sigstop 10x12 (4x10), store-outage and
pg-terminate 8x10 (4x8), worker-memory 6x8 (3x5) plus three tasks.

Scenarios:

* ``kill`` (SQLite): DAG ``faults`` (20 chains of 10 tasks; ``--quick``: 5 of
  6), scheduled ``@once`` so that the loop itself creates the run (and a
  restarted loop must not create it again). Loops are named ``life-01``,
  ``life-02``, ... After a random delay (uniform in
  ``--min-delay`` .. ``--max-delay`` seconds after it printed "Scheduler
  running", so kills land in parsing, claiming and mid-run alike, however long
  the start takes on a busy machine) the loop's whole process group
  - the loop, its Dask scheduler and both worker processes - gets SIGKILL; the
  script reads the journal and the store right after, and starts a new loop,
  until ``--kills`` kills (default 20; ``--quick``: 3) were made. The last loop
  runs until the run succeeds. Reported as before: lost tasks, duplicate runs,
  succeeded tasks re-run after a kill (must be 0), tasks in flight at a kill
  that ran again (allowed), and every kill.
* ``slow-parse`` (PostgreSQL): two loops, each with its own DAG folder holding
  the same two DAG files (the chains, and a small 3-task DAG ``faults_small``).
  Once one loop drives the run, a new DAG file that sleeps ``--slow-import``
  seconds (15; ``--quick``: 8) at import is added to that loop's folder only,
  and a run of ``faults_small`` is queued right after. Expected: no adoption
  (heartbeats do not wait on parsing; the run's owner is polled every 0.1 s),
  every task once. Figure: trigger to success of the ``faults_small`` run
  (and which loop ran it); also the import window (the file journals its own
  start and end), the tasks started meanwhile, and the oldest heartbeat of the
  main run seen.
* ``sigstop`` (PostgreSQL): two loops on one folder; the owning loop's whole
  process group gets SIGSTOP for 3x ``--stale-after``, the other loop adopts
  the run and makes progress, then SIGCONT. Expected: only tasks in flight at
  the handover run twice; no task starts on the woken loop's cluster after
  SIGCONT; the woken loop stays up and logs that the run is "no longer driven
  by loop" it; each attempt in the store carries the ``loop_id`` of the loop
  whose cluster ran it. Figure: time from SIGSTOP to adoption.
* ``store-outage`` (SQLite): mid-run (a quarter of the tasks done) another
  process holds ``BEGIN EXCLUSIVE`` on the database file for ``--outage``
  seconds (40; ``--quick``: 35, still beyond SQLite's 30 s busy timeout, so that
  the loop's store calls fail rather than wait). Expected: the loop stays up,
  every task once, every attempt and log kept. Figure: the outage, and release
  to success.
* ``pg-terminate`` (PostgreSQL): mid-run, every session whose
  ``application_name`` is ``daskflow-<loop pid>`` is ended with
  ``pg_terminate_backend`` every 50 ms for ``--terminate-for`` seconds (6;
  ``--quick``: 3). Same expectations. Figure: sessions terminated.
* ``worker-memory`` (SQLite): the loop runs with
  ``DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE`` set so that a nanny kills its
  worker above ``--memory-budget`` MiB (512; the fraction is computed from the
  LocalCluster's per-worker limit, total memory / 2 workers). Besides the
  chains, the DAG has a task ``hog`` (``retries=1``, ``retry_delay`` 1 s) that
  allocates 4x the budget, its downstream ``after_hog`` and an ``all_done``
  ``cleanup``. Expected: ``hog`` starts exactly twice (once per Airflow try,
  not once per Dask allowed failure) and ends ``failed`` with a
  ``KilledWorker: the worker running the task died`` error naming the memory
  limit; ``after_hog`` ``upstream_failed``; ``cleanup`` and everything else
  ``success``, once; the run ``success`` (only leaves count). Figure: the
  memory limit and use the error names.

Reported per scenario (one summary row each, then a section):

* **executions started**: ``start`` lines in the journal.
* **duplicates**: starts beyond the expected (1 per task; 2 for ``hog``), with
  how many of them were tasks in flight at a kill or handover (allowed: a task
  that started before the kill or SIGSTOP and whose success the store did not
  have then). Duplicates beyond those must be 0.
* **lost attempts**: a task whose code ran to its end (journal ``end``) with no
  attempt in the store, a ``success`` without a ``success`` attempt, or an
  attempt without its log (or a log without the task's output). Must be 0.
* **wrong states**: task instances (or runs) whose final state is not the
  expected one, or missing; a task in its expected state with fewer executions
  than expected; an attempt whose ``loop_id`` is not the loop whose cluster ran
  it (tasks run once); an attempt of a task that never ran (``upstream_failed``,
  ``skipped``); and the scenario's own expectations (kill: a duplicate
  run; slow-parse: an adoption; sigstop: a start on the woken loop's cluster,
  no "no longer driven" line; worker-memory: ``hog``'s attempts). Must be 0.
* **loop exits**: a loop process that exited other than by the script's
  SIGKILL or SIGINT, or exited non-zero after SIGINT. Must be 0.
* wall time, from the first loop's start to the end of the last run; the load
  average (1/5/15 min) before and after.

Printed, and written to ``benchmarks/results/local/fault_injection.md`` (ignored by git)
or to ``--out FILE``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import traceback
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._loopbench import (  # noqa: E402
    child_env,
    load,
    machine_info,
    table,
    write_result,
)

SCENARIOS = ["kill", "slow-parse", "sigstop", "store-outage", "pg-terminate", "worker-memory"]
POSTGRES = {"slow-parse", "sigstop", "pg-terminate"}
#: (chains, length) per scenario: full run, --quick.
SIZES = {"kill": ((20, 10), (5, 6)), "slow-parse": ((8, 20), (6, 12)),
         "sigstop": ((10, 12), (4, 10)), "store-outage": ((8, 10), (4, 8)),
         "pg-terminate": ((8, 10), (4, 8)), "worker-memory": ((6, 8), (3, 5))}
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOOP_ENV = "FAULTS_LOOP"
HEARTBEAT = 0.5
STALE_AFTER = 2.0
LOOP_OPTIONS = ["--workers", "2", "--threads-per-worker", "1", "--heartbeat", f"{HEARTBEAT:g}",
                "--stale-after", f"{STALE_AFTER:g}"]
FINISHED = ("success", "failed")
#: Final states of task instances whose code never ran: they have no attempt.
NEVER_RAN = ("upstream_failed", "skipped", "removed")
DAG_ID = "faults"
SMALL_DAG_ID = "faults_small"

DAG_HEAD = '''
import os
import random
import time
from datetime import datetime, timedelta, timezone

from daskflow import DAG
from daskflow.operators import PythonOperator

JOURNAL = {journal!r}


def note(run, name, phase):
    loop = os.environ.get({env!r}, "?")
    with open(JOURNAL, "a") as f:
        f.write(f"{{run}} {{name}} {{loop}} {{os.getpid()}} {{phase}} {{time.time():.6f}}\\n")


def work(run, name):
    note(run, name, "start")
    print(f"log line of {{name}}")
    time.sleep(random.uniform(0.1, 0.3))
    note(run, name, "end")
    return name


def allocate(run, name, mib):
    note(run, name, "start")
    print(f"log line of {{name}}")
    held = []
    while len(held) * 64 < 4 * mib:
        held.append(b"x" * (64 * 2**20))
        time.sleep(0.05)
    time.sleep(30)
    note(run, name, "end")
    return len(held)

'''
CHAINS = '''
    for c in range({chains}):
        previous = None
        for i in range({length}):
            name = f"c{{c:02d}}_t{{i:02d}}"
            task = PythonOperator(task_id=name, python_callable=work,
                                  op_args=["{{{{ run_id }}}}", name])
            if previous is not None:
                previous >> task
            previous = task
'''
HOG = '''
    hog = PythonOperator(task_id="hog", python_callable=allocate,
                         op_args=["{{{{ run_id }}}}", "hog", {mib}], retries=1,
                         retry_delay=timedelta(seconds=1))
    after = PythonOperator(task_id="after_hog", python_callable=work,
                           op_args=["{{{{ run_id }}}}", "after_hog"])
    cleanup = PythonOperator(task_id="cleanup", python_callable=work,
                             op_args=["{{{{ run_id }}}}", "cleanup"], trigger_rule="all_done")
    hog >> after >> cleanup
'''
SLOW_DAG = '''
# A daskflow DAG file that takes {seconds:g} s to import.
import os
import time

from daskflow import DAG
from daskflow.operators import PythonOperator

with open({parse_log!r}, "a") as f:
    f.write(f"{{os.environ.get({env!r}, '?')}} {{os.getpid()}} start {{time.time():.6f}}\\n")
time.sleep({seconds})
with open({parse_log!r}, "a") as f:
    f.write(f"{{os.environ.get({env!r}, '?')}} {{os.getpid()}} end {{time.time():.6f}}\\n")

with DAG("faults_slow_import"):
    PythonOperator(task_id="noop", python_callable=print)
'''
LOCKER = '''
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)
conn.execute("BEGIN EXCLUSIVE")
print("locked", time.time(), flush=True)
time.sleep(float(sys.argv[2]))
conn.execute("COMMIT")
conn.close()
print("released", time.time(), flush=True)
'''


def dag_source(journal: Path, dag_id: str, chains: int, length: int, *,
               schedule: str | None = None, hog_mib: int | None = None) -> str:
    """A DAG file: ``chains`` parallel chains of ``length`` journaling tasks (and the hog)."""
    parts = [textwrap.dedent(DAG_HEAD.format(journal=str(journal), env=LOOP_ENV)),
             f"with DAG({dag_id!r}, schedule={schedule!r}, "
             "start_date=datetime(2025, 1, 1, tzinfo=timezone.utc), catchup=False):",
             CHAINS.format(chains=chains, length=length)]
    if hog_mib:
        parts.append(HOG.format(mib=hog_mib))
    return "\n".join(parts)


def chain_tasks(chains: int, length: int) -> list[str]:
    return [f"c{c:02d}_t{i:02d}" for c in range(chains) for i in range(length)]


# -- the journal ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Line:
    run: str
    task: str
    loop: str
    pid: int
    phase: str
    at: float


def read_journal(path: Path) -> list[Line]:
    """Complete lines of the journal, in the order written."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = []
    for raw in text.splitlines():
        parts = raw.split()
        if len(parts) == 6 and parts[4] in ("start", "end"):
            try:
                lines.append(Line(parts[0], parts[1], parts[2], int(parts[3]), parts[4],
                                  float(parts[5])))
            except ValueError:
                continue
    return lines


# -- loop processes ------------------------------------------------------------------------
def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Loop:
    """One ``daskflow scheduler`` subprocess in its own session (process group)."""

    def __init__(self, name: str, folder: Path, db: str, home: Path, log: Path,
                 env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log_path = log
        self.log = open(log, "w")
        self.started = time.monotonic()
        self.on_purpose = False  # killed or stopped by this script
        self.paused = False
        self.code: int | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "scheduler", "--dags-folder",
             str(folder), "--db", db, *LOOP_OPTIONS, "--loop-id", name],
            env={**child_env(home), LOOP_ENV: name, **(env or {})}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def age(self) -> float:
        return time.monotonic() - self.started

    def text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def ready(self) -> bool:
        return "Scheduler running" in self.text()

    def exited_unexpectedly(self) -> bool:
        return not self.on_purpose and self.proc.poll() is not None

    def signal(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def pause(self) -> None:
        self.paused = True
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.paused = False
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL the whole group (loop, Dask scheduler thread, worker processes)."""
        self.on_purpose = True
        self.signal(signal.SIGKILL)
        self.proc.wait()
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.log.close()

    def stop(self) -> int | None:
        """SIGINT (a clean stop), SIGKILL if it does not stop within a minute.

        The exit code, or ``None`` if the process had already exited by itself.
        """
        if self.on_purpose:
            return self.code
        if self.paused:
            self.resume()
        if self.proc.poll() is not None:  # it exited before being asked to
            self.log.close()
            self.code = self.proc.returncode
            return None
        self.on_purpose = True
        self.signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGUSR1)  # its threads' stacks, into its log
            time.sleep(2)
            self.signal(signal.SIGKILL)
            self.proc.wait()
        self.code = self.proc.returncode
        if group_alive(self.proc.pid):
            self.signal(signal.SIGKILL)
        self.log.close()
        return self.code


# -- one scenario's setting -----------------------------------------------------------------
class Workspace:
    """A fresh temp folder and store (SQLite file, or a PostgreSQL schema of its own)."""

    def __init__(self, scenario: str, backend: str, pg_url: str) -> None:
        from daskflow.store import Store

        self.scenario = scenario
        self.tmp = Path(tempfile.mkdtemp(prefix=f"daskflow-faults-{scenario}-"))
        self.journal = self.tmp / "journal"
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.loops: list[Loop] = []
        self.admin: Any = None
        self.schema: str | None = None
        if backend == "sqlite":
            self.db_path: Path | None = self.tmp / "faults.db"
            self.db = f"sqlite:///{self.db_path}"
        else:
            from sqlalchemy import create_engine, text

            self.db_path = None
            self.schema = f"faults_{scenario.replace('-', '_')}_{os.getpid()}"
            self.admin = create_engine(pg_url, connect_args={"connect_timeout": 5})
            with self.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            self.db = f"{pg_url}?options=-csearch_path%3D{self.schema}"
        self.store = Store(self.db)
        self.store.init()

    def folder(self, name: str = "dags") -> Path:
        path = self.tmp / name
        path.mkdir(exist_ok=True)
        return path

    def loop(self, name: str, folder: Path, env: dict[str, str] | None = None) -> Loop:
        loop = Loop(name, folder, self.db, self.home, self.tmp / f"{name}.log", env)
        self.loops.append(loop)
        return loop

    def queue(self, dag_id: str, run_id: str) -> None:
        now = datetime.now(timezone.utc)
        self.store.create_dag_run(dag_id, run_id, now, now, now, "manual", {}, state="queued")

    def run(self, dag_id: str, run_id: str) -> Any:
        return self.store.get_dag_run(dag_id, run_id)

    def succeeded(self, dag_id: str, run_id: str) -> set[str]:
        return {ti.task_id for ti in self.store.list_task_instances(dag_id, run_id)
                if ti.state == "success"}

    def close(self) -> None:
        for loop in self.loops:  # anything a failed scenario left running
            if not loop.on_purpose:
                loop.stop()
        self.store.dispose()
        if self.admin is not None:
            from sqlalchemy import text

            with self.admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
            self.admin.dispose()


def wait_for(condition: Callable[[], bool], timeout: float, loops: Iterable[Loop] = (),
             step: float = 0.1) -> bool:
    """Poll ``condition`` until true (True), ``timeout`` passes or a loop dies (False)."""
    deadline = time.monotonic() + timeout
    loops = list(loops)
    while time.monotonic() < deadline:
        if condition():
            return True
        if any(loop.exited_unexpectedly() for loop in loops):
            return condition()
        time.sleep(step)
    return False


def wait_ready(loops: list[Loop], timeout: float = 120) -> None:
    if not wait_for(lambda: all(loop.ready() for loop in loops), timeout, loops):
        raise RuntimeError("a loop did not start: "
                           + "; ".join(f"{lp.name}: {lp.text()[-500:]}" for lp in loops))


def run_finished(ws: Workspace, dag_id: str, run_id: str) -> bool:
    run = ws.run(dag_id, run_id)
    return run is not None and run.state in FINISHED


def wait_run(ws: Workspace, out: Outcome, args: argparse.Namespace, loops: list[Loop],
             dag_id: str = DAG_ID, run_id: str = "main") -> bool:
    """Wait up to ``--run-timeout`` for the run to end; say so in ``out`` if it did not."""
    started = time.monotonic()
    if wait_for(lambda: run_finished(ws, dag_id, run_id), args.run_timeout, loops):
        return True
    run = ws.run(dag_id, run_id)
    waiting = sorted(ti.task_id for ti in ws.store.list_task_instances(dag_id, run_id)
                     if ti.state not in ("success", "failed", *NEVER_RAN))
    out.notes.append(f"run {dag_id}/{run_id} still {run.state if run else 'missing'} "
                     f"{time.monotonic() - started:.0f} s later (--run-timeout); task "
                     f"instances not finished: {waiting[:10]}")
    return False


# -- the accounting -------------------------------------------------------------------------
@dataclass
class Outcome:
    """What one scenario measured."""

    scenario: str
    tasks: int = 0
    starts: int = 0
    duplicates: int = 0
    allowed: int = 0  # of the duplicates: in flight at a kill or handover
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)
    wrong_loop: list[str] = field(default_factory=list)
    wall: float | None = None
    figure: str = "-"
    section: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loads: list[str] = field(default_factory=list)
    error: str | None = None
    logs: str = ""

    @property
    def beyond(self) -> int:
        return self.duplicates - self.allowed

    def met(self) -> bool:
        return (self.error is None and self.beyond == 0 and not self.lost and not self.wrong
                and not self.exits and not self.wrong_loop)


@dataclass
class Expect:
    """One run to account for: the task states and execution counts it should end with."""

    dag_id: str
    run_id: str
    tasks: list[str]
    run_state: str = "success"
    states: dict[str, str] = field(default_factory=dict)  # default: success
    starts: dict[str, int] = field(default_factory=dict)  # default: 1
    output: set[str] = field(default_factory=set)  # tasks whose log need not show the print


def account(ws: Workspace, out: Outcome, expects: list[Expect],
            allowed: Counter | None = None) -> dict[str, Any]:
    """Fill ``out``'s counts from the journal and the store; ``allowed`` extra starts per
    ``(run_id, task_id)`` (in flight at a kill or handover)."""
    allowed = allowed or Counter()
    lines = read_journal(ws.journal)
    starts: Counter = Counter((ln.run, ln.task) for ln in lines if ln.phase == "start")
    ends: Counter = Counter((ln.run, ln.task) for ln in lines if ln.phase == "end")
    ran_on: dict[tuple[str, str], list[str]] = defaultdict(list)
    for ln in lines:
        if ln.phase == "start":
            ran_on[(ln.run, ln.task)].append(ln.loop)
    duplicated: list[str] = []
    for exp in expects:
        out.tasks += len(exp.tasks)
        run = ws.run(exp.dag_id, exp.run_id)
        if run is None or run.state != exp.run_state:
            out.wrong.append(f"run {exp.dag_id}/{exp.run_id}: "
                             f"{run.state if run else 'missing'} (expected {exp.run_state})")
        instances = {ti.task_id: ti for ti in ws.store.list_task_instances(exp.dag_id,
                                                                            exp.run_id)}
        attempts: dict[str, list[Any]] = defaultdict(list)
        for attempt in ws.store.list_run_attempts(exp.dag_id, exp.run_id):
            attempts[attempt.task_id].append(attempt)
        for task in exp.tasks:
            key = (exp.run_id, task)
            n, want = starts[key], exp.starts.get(task, 1)
            out.starts += n
            if n > want:
                extra = n - want
                ok = min(extra, allowed[key])
                out.duplicates += extra
                out.allowed += ok
                duplicated.append(f"{exp.run_id}/{task}: {n} starts on "
                                  f"{', '.join(ran_on[key])}"
                                  + (f" ({ok} in flight at a kill/handover)" if ok else ""))
            ti = instances.get(task)
            state = exp.states.get(task, "success")
            tries = attempts.get(task, [])
            if ti is None or ti.state != state:
                why = f"; last attempt's error: {tries[-1].error[:160]!r}" \
                    if tries and tries[-1].error else ""
                out.wrong.append(f"{exp.run_id}/{task}: {ti.state if ti else 'missing'} "
                                 f"(expected {state}), {n} executions started{why}")
            elif n < want:
                out.wrong.append(f"{exp.run_id}/{task}: {ti.state} with {n} executions "
                                 f"started, expected {want}")
            if ti is not None and ti.state in NEVER_RAN and tries:
                out.wrong.append(f"{exp.run_id}/{task}: {ti.state} (try_number "
                                 f"{ti.try_number}) but with attempt(s) "
                                 + ", ".join(f"try {a.try_number} {a.state} {a.error!r}"
                                             for a in tries))
            if ends[key] and not tries:
                out.lost.append(f"{exp.run_id}/{task}: ran to its end "
                                f"({ends[key]}x in the journal), no attempt in the store")
            if ti is not None and ti.state == "success" \
                    and not any(a.state == "success" for a in tries):
                out.lost.append(f"{exp.run_id}/{task}: success without a success attempt "
                                f"({[(a.try_number, a.state) for a in tries]})")
            for a in tries:
                log = ws.store.get_log(exp.dag_id, exp.run_id, task, a.map_index, a.try_number)
                if not log:
                    out.lost.append(f"{exp.run_id}/{task} try {a.try_number}: no log")
                elif a.state == "success" and task not in exp.output \
                        and f"log line of {task}" not in log:
                    out.lost.append(f"{exp.run_id}/{task} try {a.try_number}: log without "
                                    f"the task's output ({log[:80]!r})")
            if n == 1 and len(tries) == 1 and tries[0].loop_id != ran_on[key][0]:
                out.wrong_loop.append(f"{exp.run_id}/{task}: ran on {ran_on[key][0]}'s "
                                      f"cluster, attempt says loop {tries[0].loop_id}")
    return {"lines": lines, "starts": starts, "ends": ends, "duplicated": duplicated}


def note_exits(out: Outcome, loops: Iterable[Loop]) -> None:
    """Stop every loop still running with SIGINT and record those that exited otherwise."""
    for loop in loops:
        if loop.on_purpose and loop.code is None:
            continue  # killed by the script
        code = loop.stop()
        if code is None:
            out.exits.append(f"{loop.name} exited by itself with {loop.code}")
        elif code != 0:
            out.exits.append(f"{loop.name} exited with {code} after SIGINT")


def log_lines(loop: Loop, pattern: str, limit: int = 3) -> list[str]:
    found = [line for line in loop.text().splitlines() if re.search(pattern, line)]
    return found[:limit]


#: What a loop logs about an outage; ``raise LeaseExpired`` is in the traceback Dask logs
#: for a task its worker refused to start because the loop's lease had run out.
OUTAGE_WORDS = ["is unavailable", "is reachable again", "could not heartbeat",
                "heartbeats again", "raise LeaseExpired"]


def outage_lines(loop: Loop) -> str:
    """How often the loop's log says each of :data:`OUTAGE_WORDS`."""
    text = loop.text()
    counts = [f"{text.count(word)}x \"{word}\"" for word in OUTAGE_WORDS]
    return ", ".join(counts)


# -- scenarios -------------------------------------------------------------------------------
def scenario_kill(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                  length: int) -> None:
    kills = args.kills if args.kills is not None else (3 if args.quick else 20)
    tasks = chains * length
    rng = random.Random(args.seed)
    folder = ws.folder()
    (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length,
                                                 schedule="@once"))
    store = ws.store

    def run_state() -> tuple[str | None, str | None]:
        runs = store.list_dag_runs(DAG_ID)
        return (runs[0].run_id, runs[0].state) if runs else (None, None)

    def successes() -> set[tuple[str, str]]:
        return {(run.run_id, ti.task_id) for run in store.list_dag_runs(DAG_ID)
                for ti in store.list_task_instances(DAG_ID, run.run_id) if ti.state == "success"}

    kill_log: list[dict[str, Any]] = []
    lives = 0
    t_start = time.monotonic()
    succeeded_at = None
    while True:
        if time.monotonic() - t_start > args.timeout:
            raise RuntimeError(f"the run did not succeed within {args.timeout:g}s")
        lives += 1
        life = ws.loop(f"life-{lives:02d}", folder)
        if len(kill_log) < kills:
            delay = rng.uniform(args.min_delay, args.max_delay)
            done = False
            ready_at = None  # the delay counts from "Scheduler running", not from the start
            while ready_at is None or time.monotonic() - ready_at < delay:
                if ready_at is None and life.ready():
                    ready_at = time.monotonic()
                if run_state()[1] == "success":
                    done = True
                    break
                if life.exited_unexpectedly():
                    break
                time.sleep(0.05)
            if life.exited_unexpectedly():
                continue  # counted as a loop exit at the end; start the next life
            if done:
                succeeded_at = time.monotonic()
                break
            age = life.age()
            life.kill()
            lines = read_journal(ws.journal)
            done_in_store = successes()
            run_id, state = run_state()
            kill_log.append({"life": lives, "at": age, "offset": len(lines),
                             "succeeded": done_in_store, "run": run_id, "state": state})
            print(f"    kill {len(kill_log):2d} at {age:5.2f}s of life {lives}: run "
                  f"{state or 'not created yet'}, {len(done_in_store)}/{tasks} tasks success "
                  f"in the store, journal {len(lines)} lines", flush=True)
            continue
        left = t_start + args.timeout - time.monotonic()
        if not wait_for(lambda: run_state()[1] == "success", left, [life], step=0.05):
            if life.exited_unexpectedly():
                continue
            raise RuntimeError("the run did not succeed after the last restart")
        succeeded_at = time.monotonic()
        break
    out.wall = succeeded_at - t_start
    note_exits(out, ws.loops)

    lines = read_journal(ws.journal)
    runs = store.list_dag_runs(DAG_ID)
    per_date = Counter(r.logical_date for r in runs)
    duplicate_runs = sum(n - 1 for n in per_date.values())
    run_id = runs[0].run_id
    instances = store.list_task_instances(DAG_ID, run_id)
    states = Counter(ti.state for ti in instances)
    ended = {(ln.run, ln.task) for ln in lines if ln.phase == "end"}
    expected = {ti.task_id for ti in instances}
    not_success = [ti.task_id for ti in instances if ti.state != "success"]
    never_ran = sorted(t for t in expected if (run_id, t) not in ended)
    missing_rows = max(0, tasks - len(instances))
    lost_tasks = len(set(not_success) | set(never_ran)) + missing_rows

    starts_by_task: dict[tuple[str, str], list[int]] = defaultdict(list)
    ends_by_task: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, ln in enumerate(lines):
        (starts_by_task if ln.phase == "start" else ends_by_task)[(ln.run, ln.task)].append(index)
    rerun_success: set[tuple[int, str]] = set()
    rerun_finished: set[tuple[int, str]] = set()
    rerun_interrupted: set[tuple[int, str]] = set()
    in_flight_total = 0
    previous_offset = 0
    for k, kill in enumerate(kill_log, 1):
        offset = kill["offset"]
        for key, task_starts in starts_by_task.items():
            after = [i for i in task_starts if i >= offset]
            if key in kill["succeeded"]:
                if after:
                    rerun_success.add((k, key[1]))
                continue
            # In flight at this kill: an attempt started during this scheduler's life
            # (since the previous kill) whose success the store did not have.
            window = [i for i in task_starts if previous_offset <= i < offset]
            if not window:
                continue
            in_flight_total += 1
            last_start = max(window)
            finished = any(last_start < i < offset for i in ends_by_task.get(key, []))
            if after:
                (rerun_finished if finished else rerun_interrupted).add((k, key[1]))
        previous_offset = offset
    starts = Counter((ln.run, ln.task) for ln in lines if ln.phase == "start")
    extra = sum(n - 1 for n in starts.values())
    allowed = Counter((run_id, task) for _, task in rerun_finished | rerun_interrupted)
    found = account(ws, out, [Expect(DAG_ID, run_id, chain_tasks(chains, length))], allowed)
    final_code = ws.loops[-1].code

    summary_rows = [
        ["tasks in the DAG", f"{tasks} ({chains} chains of {length})", "-"],
        ["kills made (SIGKILL of loop + LocalCluster)", f"{len(kill_log)} of {kills}", "-"],
        ["scheduler processes started", lives, "-"],
        ["run state at the end", runs[0].state, "success"],
        ["lost tasks (not success, or never ran to the end)", lost_tasks, "0"],
        ["duplicate runs (extra runs per logical date)",
         f"{duplicate_runs} ({len(runs)} run(s) in all)", "0"],
        ["succeeded tasks re-run after a kill", len(rerun_success), "0"],
        ["tasks in flight at a kill (summed over kills)", in_flight_total, "-"],
        ["tasks in flight at a kill that ran again (allowed)",
         f"{len(rerun_interrupted) + len(rerun_finished)} "
         f"({len(rerun_interrupted)} interrupted mid-task, {len(rerun_finished)} finished "
         "but success not yet recorded)", "-"],
        ["task executions started / tasks", f"{sum(starts.values())} / {tasks} "
         f"({extra} extra)", "-"],
        ["total wall time (first start -> run success)", f"{out.wall:.1f} s", "-"],
        ["final scheduler exit code after SIGINT", final_code, "0"],
    ]
    kill_rows = [[k, f"{kill['at']:.2f}", kill["state"] or "not created",
                  len(kill["succeeded"]), kill["offset"]]
                 for k, kill in enumerate(kill_log, 1)]
    if duplicate_runs:
        out.wrong.append(f"{duplicate_runs} duplicate run(s) of {DAG_ID}")
    out.figure = (f"{len(kill_log)} kills, {len(rerun_interrupted) + len(rerun_finished)} "
                  "in-flight re-runs")
    out.section += [
        f"SQLite; each kill is `killpg(SIGKILL)` of the loop's session at a random "
        f"{args.min_delay:g}-{args.max_delay:g} s after it is running (seed {args.seed}); the "
        "store and the journal are read right after each kill.",
        "",
        table(["measure", "value", "must be"], summary_rows, align="lrr"),
        "",
        "Kills (seconds into the life of that scheduler; store and journal right after):",
        "",
        table(["kill", "at (s)", "run state", "tasks success in store", "journal lines"],
              kill_rows),
        "",
        f"Task instance states at the end: {dict(states)}.",
    ]
    if rerun_success:
        out.notes.append("Succeeded tasks that ran again: " + ", ".join(
            f"{t} (kill {k})" for k, t in sorted(rerun_success)))
    if never_ran or not_success:
        out.notes.append(f"Lost: not success {sorted(not_success)}; no end line {never_ran}")
    out.notes += found["duplicated"] if len(found["duplicated"]) <= 10 else []


def scenario_slow_parse(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                        length: int) -> None:
    seconds = args.slow_import if args.slow_import is not None else (8 if args.quick else 15)
    folders = {name: ws.folder(f"dags-{name}") for name in ("loop-a", "loop-b")}
    for folder in folders.values():
        (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length))
        (folder / "small.py").write_text(dag_source(ws.journal, SMALL_DAG_ID, 1, 3))
    parse_log = ws.tmp / "parse.log"
    t0 = time.monotonic()
    loops = [ws.loop(name, folder) for name, folder in folders.items()]
    wait_ready(loops)
    ws.queue(DAG_ID, "main")
    if not wait_for(lambda: (ws.run(DAG_ID, "main").owner_loop or None) is not None
                    and ws.run(DAG_ID, "main").state == "running", 60, loops):
        raise RuntimeError("no loop claimed the run")
    owner = ws.run(DAG_ID, "main").owner_loop
    added_at = time.time()
    (folders[owner] / "slow_import.py").write_text(textwrap.dedent(SLOW_DAG.format(
        seconds=seconds, parse_log=str(parse_log), env=LOOP_ENV)))
    ws.queue(SMALL_DAG_ID, "small")
    queued, queued_at = time.monotonic(), time.time()
    done_at = len(ws.succeeded(DAG_ID, "main"))
    owners_seen: set[str] = set()
    oldest_beat = 0.0
    small_done: float | None = None
    small_claimed: float | None = None
    deadline = time.monotonic() + args.run_timeout
    while time.monotonic() < deadline:
        if small_claimed is None and ws.run(SMALL_DAG_ID, "small").state != "queued":
            small_claimed = time.monotonic() - queued  # the loop's share of the latency
        run = ws.run(DAG_ID, "main")
        if run.owner_loop:
            owners_seen.add(run.owner_loop)
        if run.state == "running" and run.heartbeat is not None:
            oldest_beat = max(oldest_beat, time.time() - run.heartbeat.timestamp())
        if small_done is None and run_finished(ws, SMALL_DAG_ID, "small"):
            small_done = time.monotonic() - queued
        if run.state in FINISHED and small_done is not None:
            break
        if any(lp.exited_unexpectedly() for lp in loops):
            break
        time.sleep(0.1)
    out.wall = time.monotonic() - t0
    parsed = wait_for(lambda: parse_log.exists() and " end " in parse_log.read_text(), 60)
    note_exits(out, loops)
    account(ws, out, [Expect(DAG_ID, "main", chain_tasks(chains, length)),
                      Expect(SMALL_DAG_ID, "small", chain_tasks(1, 3))])
    lines = read_journal(ws.journal)
    small_loops = sorted({ln.loop for ln in lines if ln.run == "small"})
    main_loops = Counter(ln.loop for ln in lines if ln.run == "main" and ln.phase == "start")
    parse = [raw.split() for raw in parse_log.read_text().splitlines()] if parse_log.exists() \
        else []
    window = ""
    if len(parse) >= 2:
        begin, end = float(parse[0][3]), float(parse[-1][3])
        window = (f"the owner ({parse[0][0]}) imported the slow file from "
                  f"{begin - added_at:.1f} s to {end - added_at:.1f} s after it was added")
        gap_starts = [ln.at for ln in lines if ln.run == "main" and ln.phase == "start"
                      and ln.loop == owner and begin <= ln.at <= end]
        window += f"; tasks of the main run started on its cluster meanwhile: {len(gap_starts)}"
    adopted = owners_seen - {owner}
    if adopted:
        out.wrong.append(f"main run adopted by {sorted(adopted)} while {owner} parsed")
    if not parsed:
        out.notes.append("the slow file's import never ended (parse log has no end line)")
    small = f"{small_done:.1f} s" if small_done is not None else "not finished"
    who = ", ".join(f"{name} ({'the parsing owner' if name == owner else 'the other loop'})"
                    for name in small_loops) or "nothing"
    small_ends = [ln.at - queued_at for ln in lines if ln.run == "small" and ln.phase == "end"]
    last_end = f"{max(small_ends):.1f} s" if small_ends else "never"
    claimed = f"{small_claimed:.1f} s" if small_claimed is not None else "never"
    out.figure = (f"faults_small trigger -> claimed {claimed}, -> success {small}, ran on "
                  f"{who}")
    out.section += [
        f"PostgreSQL; loops `loop-a` and `loop-b`, each on its own folder with the same "
        f"`{DAG_ID}` ({chains} chains of {length}) and `{SMALL_DAG_ID}` (3 tasks). Run "
        f"`main` was claimed by **{owner}**; with {done_at} of its tasks done, "
        f"`slow_import.py` (sleeps {seconds:g} s at import) was added to {owner}'s folder "
        "and a `faults_small` run queued.",
        "",
        f"- {window or 'the slow file was not imported'}",
        f"- `faults_small` trigger -> claimed by a loop: **{claimed}** (what a loop blocked "
        f"by parsing would delay); -> success: **{small}**, run on: {who}; its last task "
        f"ended {last_end} after the trigger (its tasks wait for the cluster's 2 threads "
        f"behind the {chains * length} tasks of `main` when the owner runs both)",
        f"- owners of `main` seen (polled every 0.1 s): {sorted(owners_seen)}; oldest "
        f"heartbeat seen while running: {oldest_beat:.2f} s (stale after {STALE_AFTER:g} s)",
        f"- `main` task starts per loop: {dict(main_loops)}",
    ]


def scenario_sigstop(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                     length: int) -> None:
    pause_for = 3 * STALE_AFTER
    folder = ws.folder()
    (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length))
    tasks = chain_tasks(chains, length)
    t0 = time.monotonic()
    loops = [ws.loop(name, folder) for name in ("loop-a", "loop-b")]
    wait_ready(loops)
    ws.queue(DAG_ID, "main")
    need = max(4, len(tasks) // 6)
    if not wait_for(lambda: len(ws.succeeded(DAG_ID, "main")) >= need, args.run_timeout,
                    loops):
        raise RuntimeError("the run made no progress before the pause")
    owner = ws.run(DAG_ID, "main").owner_loop
    paused = next(lp for lp in loops if lp.name == owner)
    other = next(lp for lp in loops if lp is not paused)
    paused.pause()
    stopped_mono = time.monotonic()
    offset = len(read_journal(ws.journal))
    done_at_stop = ws.succeeded(DAG_ID, "main")
    adopted = wait_for(lambda: ws.run(DAG_ID, "main").owner_loop == other.name, 60, [other],
                       step=0.05)
    adopted_after = time.monotonic() - stopped_mono if adopted else None

    def progressed() -> bool:
        return sum(1 for ln in read_journal(ws.journal)[offset:]
                   if ln.loop == other.name and ln.phase == "end") >= 2

    wait_for(progressed, 60, [other])
    time.sleep(max(0.0, pause_for - (time.monotonic() - stopped_mono)))
    resumed_at = time.time()
    paused.resume()
    state_at_resume = ws.run(DAG_ID, "main").state
    wait_run(ws, out, args, loops)
    out.wall = time.monotonic() - t0
    time.sleep(3)  # the woken loop has time to do whatever it would do
    alive = paused.proc.poll() is None
    note_exits(out, loops)

    lines = read_journal(ws.journal)
    before = lines[:offset]
    in_flight = {ln.task for ln in before if ln.phase == "start"} - done_at_stop
    allowed = Counter(("main", task) for task in in_flight)
    found = account(ws, out, [Expect(DAG_ID, "main", tasks)], allowed)
    late = [ln for ln in lines if ln.loop == paused.name and ln.phase == "start"
            and ln.at > resumed_at]
    if late:
        out.wrong.append(f"{len(late)} task(s) started on {paused.name}'s cluster after "
                         f"SIGCONT: {sorted(ln.task for ln in late)[:10]}")
    said = log_lines(paused, f"no longer driven by loop {paused.name}")
    if not said:
        out.wrong.append(f"{paused.name}'s log does not say the run is no longer driven by it")
    attempts = ws.store.list_run_attempts(DAG_ID, "main")
    by_loop = Counter(a.loop_id for a in attempts)
    starts_by_loop = Counter(ln.loop for ln in lines if ln.phase == "start")
    adopted_text = f"{adopted_after:.1f} s" if adopted_after is not None else "never"
    out.figure = f"adopted {adopted_text} after SIGSTOP; {len(in_flight)} in flight"
    out.section += [
        f"PostgreSQL; loops `loop-a` and `loop-b` on one folder, `{DAG_ID}` ({chains} chains "
        f"of {length}). With {len(done_at_stop)} tasks done, the owner **{paused.name}** "
        f"(loop, Dask scheduler and workers) got SIGSTOP for {pause_for:g} s "
        f"({pause_for / STALE_AFTER:g}x --stale-after).",
        "",
        f"- adopted by {other.name} {adopted_text} after SIGSTOP; run {state_at_resume} at "
        f"SIGCONT",
        f"- tasks in flight at the handover (started, success not in the store): "
        f"{len(in_flight)} {sorted(in_flight)}",
        f"- task starts on {paused.name}'s cluster after SIGCONT: {len(late)} (must be 0)",
        f"- {paused.name} alive 3 s after the run ended: {alive}; its log: "
        + (f"`{said[0].strip()[:200]}`" if said else "no 'no longer driven' line"),
        f"- executions started per loop: {dict(starts_by_loop)}; attempts per `loop_id`: "
        f"{dict(by_loop)}; attempts whose `loop_id` is not the loop that ran them: "
        f"{len(out.wrong_loop)}",
    ]
    out.notes += found["duplicated"][:10]


def scenario_store_outage(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                          length: int) -> None:
    seconds = args.outage if args.outage is not None else (35 if args.quick else 40)
    folder = ws.folder()
    (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length))
    tasks = chain_tasks(chains, length)
    t0 = time.monotonic()
    loop = ws.loop("loop-a", folder)
    wait_ready([loop])
    ws.queue(DAG_ID, "main")
    if not wait_for(lambda: len(ws.succeeded(DAG_ID, "main")) >= len(tasks) // 4,
                    args.run_timeout, [loop]):
        raise RuntimeError("the run made no progress before the outage")
    done_before = len(ws.succeeded(DAG_ID, "main"))
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(ws.db_path), str(seconds)],
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    first = locker.stdout.readline().split()
    if not first or first[0] != "locked":
        raise RuntimeError("the locker did not lock the database")
    locked_at = float(first[1])
    died_during = None
    while locker.poll() is None:
        if died_during is None and loop.exited_unexpectedly():
            died_during = time.time() - locked_at
        time.sleep(0.2)
    rest = locker.stdout.read().split()
    released_at = float(rest[1]) if len(rest) >= 2 and rest[0] == "released" else time.time()
    released_mono = time.monotonic()
    done_after = len(ws.succeeded(DAG_ID, "main"))
    wait_run(ws, out, args, [loop])
    out.wall = time.monotonic() - t0
    recovery = time.monotonic() - released_mono
    note_exits(out, [loop])
    found = account(ws, out, [Expect(DAG_ID, "main", tasks)])
    if died_during is not None:
        out.notes.append(f"the loop exited {died_during:.1f} s into the outage")
    held = released_at - locked_at
    during = [ln for ln in found["lines"] if locked_at <= ln.at <= released_at]
    out.figure = f"store locked {held:.1f} s; release -> success {recovery:.1f} s"
    out.section += [
        f"SQLite; one loop, `{DAG_ID}` ({chains} chains of {length}). With {done_before} "
        f"tasks done, another process held `BEGIN EXCLUSIVE` on the database for "
        f"**{held:.1f} s**; {done_after} tasks were success right after the release, and the "
        f"run ended {recovery:.1f} s after it.",
        "",
        f"- while locked, tasks started {sum(ln.phase == 'start' for ln in during)} and "
        f"ended {sum(ln.phase == 'end' for ln in during)} times on the loop's cluster "
        f"(their leases run out {STALE_AFTER - HEARTBEAT:g} s after the last heartbeat)",
        f"- the loop's log: {outage_lines(loop)}",
    ]
    out.notes += found["duplicated"][:10]


def scenario_pg_terminate(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                          length: int) -> None:
    from sqlalchemy import text

    seconds = args.terminate_for if args.terminate_for is not None else (
        3 if args.quick else 6)
    folder = ws.folder()
    (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length))
    tasks = chain_tasks(chains, length)
    t0 = time.monotonic()
    loop = ws.loop("loop-a", folder)
    wait_ready([loop])
    ws.queue(DAG_ID, "main")
    if not wait_for(lambda: len(ws.succeeded(DAG_ID, "main")) >= len(tasks) // 4,
                    args.run_timeout, [loop]):
        raise RuntimeError("the run made no progress before the terminations")
    done_before = len(ws.succeeded(DAG_ID, "main"))
    terminated = rounds = 0
    name = f"daskflow-{loop.pid}"
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with ws.admin.begin() as conn:
            terminated += conn.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = :name"), {"name": name}).scalar() or 0
        rounds += 1
        time.sleep(0.05)
    stopped_mono = time.monotonic()
    wait_run(ws, out, args, [loop])
    out.wall = time.monotonic() - t0
    recovery = time.monotonic() - stopped_mono
    note_exits(out, [loop])
    found = account(ws, out, [Expect(DAG_ID, "main", tasks)])
    out.figure = f"{terminated} sessions terminated in {seconds:g} s"
    out.section += [
        f"PostgreSQL; one loop, `{DAG_ID}` ({chains} chains of {length}). With {done_before} "
        f"tasks done, every session named `{name}` was terminated every 50 ms for "
        f"{seconds:g} s: **{terminated}** sessions in {rounds} rounds; the run ended "
        f"{recovery:.1f} s after the last round.",
        "",
        f"- the loop's log: {outage_lines(loop)}",
    ]
    if terminated == 0:
        out.notes.append("no session was terminated: the scenario did not test anything")
    out.notes += found["duplicated"][:10]


def scenario_worker_memory(ws: Workspace, out: Outcome, args: argparse.Namespace, chains: int,
                           length: int) -> None:
    from distributed.system import MEMORY_LIMIT

    budget = args.memory_budget
    per_worker = MEMORY_LIMIT / 2  # LocalCluster: total memory / workers
    fraction = budget * 2**20 / per_worker
    folder = ws.folder()
    (folder / "faults.py").write_text(dag_source(ws.journal, DAG_ID, chains, length,
                                                 hog_mib=budget))
    tasks = chain_tasks(chains, length) + ["hog", "after_hog", "cleanup"]
    t0 = time.monotonic()
    loop = ws.loop("loop-a", folder,
                   env={"DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE": f"{fraction:.5f}"})
    wait_ready([loop])
    ws.queue(DAG_ID, "main")
    wait_run(ws, out, args, [loop])
    out.wall = time.monotonic() - t0
    note_exits(out, [loop])
    expect = Expect(DAG_ID, "main", tasks,
                    states={"hog": "failed", "after_hog": "upstream_failed"},
                    starts={"hog": 2, "after_hog": 0})
    found = account(ws, out, [expect])
    attempts = ws.store.list_attempts(DAG_ID, "main", "hog")
    errors = [a.error or "" for a in attempts]
    for a in attempts:
        if not (a.error or "").startswith("KilledWorker: the worker running the task died") \
                or "memory limit" not in (a.error or ""):
            out.wrong.append(f"hog try {a.try_number} ({a.state}): error does not name the "
                             f"memory limit: {(a.error or '')[:200]!r}")
    if len(attempts) != 2:
        out.wrong.append(f"hog has {len(attempts)} attempts in the store, expected 2")
    limit = re.search(r"used ([\d.]+ \w+) of its ([\d.]+ \w+) memory limit", " ".join(errors))
    hog_starts = found["starts"][("main", "hog")]
    out.figure = (f"hog started {hog_starts}x; "
                  + (f"killed at {limit.group(1)} of a {limit.group(2)} limit" if limit
                     else "no memory limit named"))
    out.section += [
        f"SQLite; one loop with `DASK_DISTRIBUTED__WORKER__MEMORY__TERMINATE={fraction:.5f}`: "
        f"the LocalCluster's per-worker limit is {per_worker / 2**30:.2f} GiB (total memory "
        f"/ 2 workers), so a nanny restarts its worker above {budget} MiB. `{DAG_ID}`: "
        f"{chains} chains of {length}, plus `hog` (allocates {4 * budget} MiB, retries=1) "
        "-> `after_hog` -> `cleanup` (all_done).",
        "",
        f"- `hog` executions started: {hog_starts} (expected 2); attempts: "
        + "; ".join(f"try {a.try_number} {a.state} on loop {a.loop_id}: `{(a.error or '')[:220]}`"
                    for a in attempts),
        "- final states: " + ", ".join(
            f"{ti.task_id} {ti.state}" for ti in ws.store.list_task_instances(DAG_ID, "main")
            if ti.task_id in ("hog", "after_hog", "cleanup")),
    ]
    out.notes += found["duplicated"][:10]


RUNNERS = {"kill": scenario_kill, "slow-parse": scenario_slow_parse,
           "sigstop": scenario_sigstop, "store-outage": scenario_store_outage,
           "pg-terminate": scenario_pg_terminate, "worker-memory": scenario_worker_memory}


def postgres_reachable(url: str) -> str | None:
    """``None`` if PostgreSQL answers at ``url``, else why not."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    finally:
        engine.dispose()
    return None


def run_scenario(name: str, args: argparse.Namespace) -> Outcome:
    out = Outcome(name)
    full, quick = SIZES[name]
    chains, length = quick if args.quick else full
    chains, length = args.chains or chains, args.length or length
    out.loads.append(load())
    try:
        ws = Workspace(name, "postgresql" if name in POSTGRES else "sqlite", args.pg)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        return out
    out.logs = str(ws.tmp)
    try:
        RUNNERS[name](ws, out, args, chains, length)
    except Exception as exc:
        out.error = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
        for loop in ws.loops:
            if loop.exited_unexpectedly():
                out.exits.append(f"{loop.name} exited by itself with {loop.proc.returncode}")
    finally:
        ws.close()
    out.loads.append(load())
    return out


def summary_row(out: Outcome) -> list[Any]:
    if out.error and not out.tasks:
        return [out.scenario, "-", "-", "-", "-", "-", len(out.exits) or "-", "-",
                f"ERROR: {out.error[:120]}"]
    dups = f"{out.duplicates} ({out.allowed} in flight)"
    wall = f"{out.wall:.1f}" if out.wall is not None else "-"
    return [out.scenario, out.tasks, out.starts, dups, len(out.lost),
            len(out.wrong) + len(out.wrong_loop), len(out.exits), wall,
            out.figure + (f"; ERROR: {out.error[:80]}" if out.error else "")]


def section(out: Outcome) -> str:
    verdict = "met" if out.met() else "**NOT met**"
    parts = [f"## {out.scenario}", ""] + out.section
    parts += ["", f"Targets (0 duplicates beyond in-flight, 0 lost attempts, 0 wrong states, 0 "
              f"loop exits): {verdict}. Executions started {out.starts} for {out.tasks} tasks; "
              f"duplicates {out.duplicates}, of which {out.allowed} in flight at a "
              f"kill/handover. Wall {out.wall or 0:.1f} s; load average before / after "
              f"{' ; '.join(out.loads)}."]
    problems = ([("error", [out.error])] if out.error else []) + [
        ("lost attempts", out.lost), ("wrong states", out.wrong),
        ("attempts credited to the wrong loop", out.wrong_loop), ("loop exits", out.exits),
        ("notes", out.notes)]
    for title, items in problems:
        if items:
            parts += ["", f"{title.capitalize()} ({len(items)}):", ""]
            parts += [f"- {item}" for item in items[:15]]
            if len(items) > 15:
                parts.append(f"- ... {len(items) - 15} more")
    return "\n".join(parts)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=SCENARIOS + ["all"],
                        help="a scenario to run (repeatable; default all)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller DAGs, 3 kills, shorter pauses (smoke test)")
    parser.add_argument("--kills", type=int, default=None, help="kill: kills (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chains", type=int, default=None, help="chains in every DAG")
    parser.add_argument("--length", type=int, default=None, help="tasks per chain")
    parser.add_argument("--min-delay", type=float, default=1.0)
    parser.add_argument("--max-delay", type=float, default=6.0)
    parser.add_argument("--slow-import", type=float, default=None,
                        help="slow-parse: seconds the added file sleeps (default 15)")
    parser.add_argument("--outage", type=float, default=None,
                        help="store-outage: seconds the database stays locked (default 40)")
    parser.add_argument("--terminate-for", type=float, default=None,
                        help="pg-terminate: seconds of terminations (default 6)")
    parser.add_argument("--memory-budget", type=int, default=512,
                        help="worker-memory: MiB above which a nanny restarts its worker")
    parser.add_argument("--pg", default=PG_URL, help="PostgreSQL URL (a schema is made there)")
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="kill: give up if the run has not succeeded after this many s")
    parser.add_argument("--run-timeout", type=float, default=420.0,
                        help="other scenarios: stop waiting for a run after this many s "
                        "(beyond daskflow's 300 s stall-timeout)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="results file (default: benchmarks/results/local/"
                             "fault_injection.md, ignored by git)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # SIGTERM (e.g. from `timeout`) unwinds like Ctrl-C, so each scenario stops its loops.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    chosen = args.scenario or ["all"]
    names = SCENARIOS if "all" in chosen else [s for s in SCENARIOS if s in chosen]
    info = machine_info()
    loads = [load()]
    no_pg = postgres_reachable(args.pg) if POSTGRES & set(names) else None

    outcomes: list[Outcome] = []
    for name in names:
        if name in POSTGRES and no_pg:
            outcomes.append(Outcome(name, error=f"skipped: no PostgreSQL ({no_pg})"))
            print(f"== {name}: skipped, {no_pg}", flush=True)
            continue
        print(f"== {name}", flush=True)
        started = time.monotonic()
        out = run_scenario(name, args)
        outcomes.append(out)
        print(f"   {name}: {'met' if out.met() else 'NOT met'} in "
              f"{time.monotonic() - started:.0f} s; logs in {out.logs}", flush=True)
    loads.append(load())

    command = ("PYTHONPATH=. python benchmarks/fault_injection.py"
               + (" --quick" if args.quick else "")
               + "".join(f" --scenario {s}" for s in (args.scenario or []))
               + (f" --kills {args.kills}" if args.kills is not None else "")
               + f" --seed {args.seed}"
               + ("" if args.out is None else f" --out {args.out}"))
    failing = [o.scenario for o in outcomes if not o.met()]
    verdict = "met" if not failing else f"NOT met in {', '.join(failing)}"
    header = ["scenario", "tasks", "executions started", "duplicates (in flight)",
              "lost attempts", "wrong states", "loop exits", "wall (s)", "scenario figure"]
    text = "\n".join([
        "# Fault injection: kill, pause, starve and cut off the scheduler",
        "",
        f"Generated by `{command}` on {datetime.now():%Y-%m-%d %H:%M}.",
        "",
        f"Every loop is `daskflow scheduler {' '.join(LOOP_OPTIONS)} --loop-id NAME` in a "
        "session of its own, on a fresh store and folder per scenario. Tasks journal their "
        "start and end (with the loop whose cluster ran them), print a log line and sleep "
        "0.1-0.3 s. What each scenario does: the module docstring of "
        "`benchmarks/fault_injection.py`.",
        "",
        f"Machine: {info}. Load average (1/5/15 min) before / after: {' ; '.join(loads)}.",
        "",
        f"Targets (0 duplicates beyond tasks in flight at a kill or handover, 0 lost "
        f"attempts, 0 wrong states, 0 loop exits): **{verdict}**.",
        "",
        table(header, [summary_row(o) for o in outcomes], align="lrrrrrrrl"),
        "",
        "Duplicates: executions started beyond one per task (two for `hog`); in flight: "
        "those of tasks that had started and were not recorded success at a kill or "
        "handover (allowed). Lost attempts: a task that ran to its end with no attempt in "
        "the store, or an attempt without its log. Wrong states: final task or run states "
        "other than expected (and, for sigstop, attempts credited to another loop than the "
        "one that ran them). Loop exits: a loop that exited other than by the script's "
        "SIGKILL or SIGINT, or non-zero after SIGINT.",
        "",
        "\n\n".join(section(o) for o in outcomes),
        "",
    ])
    print()
    print(text)
    path = write_result("fault_injection", text, args.out)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
