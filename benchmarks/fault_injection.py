"""Kill the scheduler (loop + LocalCluster) again and again: is any work lost or repeated?

Run from the repository root::

    PYTHONPATH=. python benchmarks/fault_injection.py [--quick] [--kills N] [--seed S]

One DAG, ``faults``: 20 parallel chains of 10 ``PythonOperator`` tasks (200
tasks; ``--quick``: 5 chains of 6), scheduled ``@once`` so that the loop itself
creates the run (and a restarted loop must not create it again). Each task
appends ``<run_id> <task_id> <pid> start <epoch>`` to a journal on entry,
sleeps 0.1-0.3 s, and appends the same line with ``end`` before returning.

A ``daskflow scheduler`` subprocess (SQLite, ``--workers 2
--threads-per-worker 1 --heartbeat 0.5 --stale-after 2``, in a session of its
own) is started, and after a random delay (uniform in ``--min-delay`` ..
``--max-delay`` seconds from its start, so kills land in start-up, parsing,
claiming and mid-run alike) its whole process group - the loop, its Dask
scheduler and both worker processes - gets SIGKILL. Right after each kill the
script reads the journal's length and the store (which task instances are
``success``). Then it starts a new scheduler, until ``--kills`` kills were made;
the last scheduler runs until the run succeeds (and is then stopped with
SIGINT). If the run succeeds before all kills are spent, fewer kills are made.

Reported:

* **lost tasks**: task instances not ``success`` at the end, or without an
  ``end`` line in the journal (never executed to the end). Must be 0.
* **duplicate runs**: runs per logical date beyond the first. Must be 0.
* **succeeded tasks re-run**: a task whose success was in the store right after
  kill *k* and that has a ``start`` line written after kill *k*. Must be 0.
* **in flight at a kill and ran again**: a task with a ``start`` line before
  kill *k*, not ``success`` in the store after kill *k*, and a ``start`` line
  after it; split into those whose code had finished (``end`` line written, the
  success not yet recorded) and those interrupted mid-sleep. Allowed
  (at-least-once for work in flight).
* total wall time, from the first start to the run's success.

Printed and written to ``benchmarks/results/fault_injection.md``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict
from datetime import datetime
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

DAG_ID = "faults"
DAG_SOURCE = '''
import os
import random
import time
from datetime import datetime, timezone

from daskflow import DAG
from daskflow.operators import PythonOperator

JOURNAL = {journal!r}


def work(run, name):
    with open(JOURNAL, "a") as f:
        f.write(f"{{run}} {{name}} {{os.getpid()}} start {{time.time():.6f}}\\n")
    time.sleep(random.uniform(0.1, 0.3))
    with open(JOURNAL, "a") as f:
        f.write(f"{{run}} {{name}} {{os.getpid()}} end {{time.time():.6f}}\\n")
    return name


with DAG({dag_id!r}, schedule="@once", start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
         catchup=False):
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


def read_journal(path: Path) -> list[tuple[str, str, int, str, float]]:
    """Complete lines ``(run_id, task_id, pid, phase, epoch)`` of the journal."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 5:
            lines.append((parts[0], parts[1], int(parts[2]), parts[3], float(parts[4])))
    return lines


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Scheduler:
    """One ``daskflow scheduler`` subprocess in its own session (process group)."""

    def __init__(self, folder: Path, db: str, home: Path, log: Path) -> None:
        self.log = open(log, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "daskflow.cli.main", "scheduler", "--dags-folder",
             str(folder), "--db", db, "--workers", "2", "--threads-per-worker", "1",
             "--heartbeat", "0.5", "--stale-after", "2"],
            env=child_env(home), stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def age(self) -> float:
        return time.monotonic() - self.started

    def kill(self) -> None:
        """SIGKILL the whole group (loop, Dask scheduler thread, worker processes)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        deadline = time.monotonic() + 10
        while group_alive(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        self.log.close()

    def stop(self) -> int:
        """SIGINT (a clean stop), SIGKILL if it does not stop within a minute."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        code = self.proc.returncode
        if group_alive(self.proc.pid):
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()
        return code


def run_state(store: Any) -> tuple[str | None, str | None]:
    runs = store.list_dag_runs(DAG_ID)
    if not runs:
        return None, None
    return runs[0].run_id, runs[0].state


def successes(store: Any) -> set[tuple[str, str]]:
    found = set()
    for run in store.list_dag_runs(DAG_ID):
        for ti in store.list_task_instances(DAG_ID, run.run_id):
            if ti.state == "success":
                found.add((run.run_id, ti.task_id))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 chains of 6 tasks, 3 kills (smoke test)")
    parser.add_argument("--kills", type=int, default=None, help="kills (default 20)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chains", type=int, default=None)
    parser.add_argument("--length", type=int, default=None)
    parser.add_argument("--min-delay", type=float, default=1.0)
    parser.add_argument("--max-delay", type=float, default=6.0)
    parser.add_argument("--timeout", type=float, default=900.0,
                        help="give up if the run has not succeeded after this many seconds")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    kills = args.kills if args.kills is not None else (3 if args.quick else 20)
    chains = args.chains or (5 if args.quick else 20)
    length = args.length or (6 if args.quick else 10)
    tasks = chains * length
    rng = random.Random(args.seed)

    from daskflow.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="daskflow-faults-"))
    folder, journal, home = tmp / "dags", tmp / "journal", tmp / "home"
    folder.mkdir()
    home.mkdir()
    (folder / "faults.py").write_text(textwrap.dedent(DAG_SOURCE.format(
        journal=str(journal), dag_id=DAG_ID, chains=chains, length=length)))
    db = f"sqlite:///{tmp}/faults.db"
    store = Store(db)
    store.init()
    info = machine_info()
    loads = [load()]

    kill_log: list[dict[str, Any]] = []
    lives = 0
    t_start = time.monotonic()
    succeeded_at = None
    final_code = None
    while True:
        if time.monotonic() - t_start > args.timeout:
            raise RuntimeError(f"the run did not succeed within {args.timeout:g}s")
        lives += 1
        sched = Scheduler(folder, db, home, tmp / f"life_{lives:02d}.log")
        if len(kill_log) < kills:
            delay = rng.uniform(args.min_delay, args.max_delay)
            done = False
            while sched.age() < delay:
                if run_state(store)[1] == "success":
                    done = True
                    break
                if sched.proc.poll() is not None:
                    raise RuntimeError(f"scheduler life {lives} exited with "
                                       f"{sched.proc.returncode}; see {sched.log.name}")
                time.sleep(0.05)
            if done:
                succeeded_at = time.monotonic()
                final_code = sched.stop()
                break
            age = sched.age()
            sched.kill()
            lines = read_journal(journal)
            done_in_store = successes(store)
            run_id, state = run_state(store)
            kill_log.append({"life": lives, "at": age, "offset": len(lines),
                             "succeeded": done_in_store, "run": run_id, "state": state})
            print(f"  kill {len(kill_log):2d} at {age:5.2f}s of life {lives}: run "
                  f"{state or 'not created yet'}, {len(done_in_store)}/{tasks} tasks success "
                  f"in the store, journal {len(lines)} lines", flush=True)
            continue
        deadline = t_start + args.timeout
        while run_state(store)[1] != "success":
            if time.monotonic() > deadline:
                sched.kill()
                raise RuntimeError("the run did not succeed after the last restart")
            if sched.proc.poll() is not None:
                raise RuntimeError(f"scheduler life {lives} exited with "
                                   f"{sched.proc.returncode}; see {sched.log.name}")
            time.sleep(0.05)
        succeeded_at = time.monotonic()
        final_code = sched.stop()
        break
    wall = succeeded_at - t_start
    loads.append(load())

    # -- the accounting ---------------------------------------------------------------
    lines = read_journal(journal)
    runs = store.list_dag_runs(DAG_ID)
    per_date = Counter(r.logical_date for r in runs)
    duplicate_runs = sum(n - 1 for n in per_date.values())
    run_id = runs[0].run_id
    instances = store.list_task_instances(DAG_ID, run_id)
    states = Counter(ti.state for ti in instances)
    ended = {(r, t) for r, t, _, phase, _ in lines if phase == "end"}
    expected = {ti.task_id for ti in instances}
    not_success = [ti.task_id for ti in instances if ti.state != "success"]
    never_ran = sorted(t for t in expected if (run_id, t) not in ended)
    missing_rows = max(0, tasks - len(instances))
    lost = len(set(not_success) | set(never_ran)) + missing_rows

    starts_by_task: dict[tuple[str, str], list[int]] = defaultdict(list)
    ends_by_task: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, (r, t, _, phase, _) in enumerate(lines):
        (starts_by_task if phase == "start" else ends_by_task)[(r, t)].append(index)
    rerun_success: set[tuple[int, str]] = set()
    rerun_finished: set[tuple[int, str]] = set()
    rerun_interrupted: set[tuple[int, str]] = set()
    in_flight_total = 0
    previous_offset = 0
    for k, kill in enumerate(kill_log, 1):
        offset = kill["offset"]
        for key, starts in starts_by_task.items():
            after = [i for i in starts if i >= offset]
            if key in kill["succeeded"]:
                if after:
                    rerun_success.add((k, key[1]))
                continue
            # In flight at this kill: an attempt started during this scheduler's life
            # (since the previous kill) whose success the store did not have.
            window = [i for i in starts if previous_offset <= i < offset]
            if not window:
                continue
            in_flight_total += 1
            last_start = max(window)
            finished = any(last_start < i < offset for i in ends_by_task.get(key, []))
            if after:
                (rerun_finished if finished else rerun_interrupted).add((k, key[1]))
        previous_offset = offset
    starts = Counter((r, t) for r, t, _, phase, _ in lines if phase == "start")
    extra = sum(n - 1 for n in starts.values())

    command = ("PYTHONPATH=. python benchmarks/fault_injection.py"
               + (" --quick" if args.quick else "") + f" --kills {kills} --seed {args.seed}"
               + ("" if args.out is None else f" --out {args.out}"))
    summary_rows = [
        ["tasks in the DAG", f"{tasks} ({chains} chains of {length})", "-"],
        ["kills made (SIGKILL of loop + LocalCluster)", f"{len(kill_log)} of {kills}", "-"],
        ["scheduler processes started", lives, "-"],
        ["run state at the end", runs[0].state, "success"],
        ["lost tasks (not success, or never ran to the end)", lost, "0"],
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
        ["total wall time (first start -> run success)", f"{wall:.1f} s", "-"],
        ["final scheduler exit code after SIGINT", final_code, "0"],
    ]
    kill_rows = [[k, f"{kill['at']:.2f}", kill["state"] or "not created",
                  len(kill["succeeded"]), kill["offset"]]
                 for k, kill in enumerate(kill_log, 1)]
    verdict = ("met" if lost == 0 and duplicate_runs == 0 and not rerun_success
               and runs[0].state == "success" else "NOT met")
    text = "\n".join([
        "# Fault injection: SIGKILL the scheduler and its LocalCluster, restart, repeat",
        "",
        f"Generated by `{command}` on {datetime.now():%Y-%m-%d %H:%M}.",
        "",
        f"`daskflow scheduler --workers 2 --threads-per-worker 1 --heartbeat 0.5 "
        f"--stale-after 2` on SQLite; each kill is `killpg(SIGKILL)` of the scheduler's "
        f"session at a random {args.min_delay:g}-{args.max_delay:g} s after its start "
        f"(seed {args.seed}); the store and the journal are read right after each kill. "
        "Tasks sleep 0.1-0.3 s and journal their start and end.",
        "",
        f"Machine: {info}. Load average (1/5/15 min) before / after: {' ; '.join(loads)}.",
        "",
        f"Correctness targets (0 lost, 0 duplicate runs, 0 succeeded re-runs): **{verdict}**.",
        "",
        table(["measure", "value", "must be"], summary_rows, align="lrr"),
        "",
        "Kills (seconds into the life of that scheduler; store and journal right after):",
        "",
        table(["kill", "at (s)", "run state", "tasks success in store", "journal lines"],
              kill_rows),
        "",
        f"Task instance states at the end: {dict(states)}.",
        "",
    ])
    if rerun_success:
        text += "\nSucceeded tasks that ran again: " + ", ".join(
            f"{t} (kill {k})" for k, t in sorted(rerun_success)) + "\n"
    if never_ran or not_success:
        text += (f"\nLost: not success {sorted(not_success)}; no end line {never_ran}\n")
    print()
    print(text)
    path = write_result("fault_injection", text, args.out)
    print(f"written to {path}; scheduler logs in {tmp}")
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
