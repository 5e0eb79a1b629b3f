"""How long from "a run is due" to its first task starting?

Run from the repository root::

    PYTHONPATH=. python benchmarks/schedule_latency.py [--runs N | --quick] [--max-wait S]
        [--out FILE]

Two measurements, one after the other, each with its own DAG folder, SQLite
file and :class:`~daskflow.scheduler.loop.SchedulerLoop` driven by ``serve()``
in a thread of this process. Both loops use one
``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)``.

* **scheduled**: a DAG with ``schedule=timedelta(seconds=1)``, ``catchup=False``
  and ``start_date`` on a whole second, so one interval ends every second. The
  latency of a run is ``first task start - data_interval_end`` (for a timedelta
  schedule ``run_after`` is the interval's end). The first runs (those whose
  interval ended before the loop was warm) are not counted.
* **manual**: a DAG without a schedule. The script inserts one queued manual
  run row (``Store.create_dag_run(..., state="queued", run_type="manual")``,
  what ``daskflow dags trigger`` writes) at a known time ``T``, waits for the run
  to finish, pauses a random 0.2-0.6 s (so triggers land at random points of
  the loop's cycle), and inserts the next one. Latency = ``first task start - T``.

"First task start" is ``time.time()`` taken by the task's callable on entry (in
the worker process) and appended to a journal file. Both DAGs are
``first >> second``; only ``first`` is timed.

Each latency is split in two with the run row the loop wrote: *wait for tick*
is from the due time to the start of the loop tick that claimed the run (the
run's ``start_date`` is that tick's ``now``), *tick to task* is the rest
(creating and claiming the run, building and submitting its graph, Dask
dispatching the key and the worker starting the node).

``--max-wait`` is passed to ``serve()`` (its default, 0.2 s, when omitted):
the longest the loop waits for cluster events between two ticks. Median, p90,
p99 and max over ``--runs`` runs (default 100; ``--quick``: 10) are printed and
written to ``benchmarks/results/local/schedule_latency.md`` (ignored by git) or to
``--out FILE``. Targets: median < 200 ms, p99 < 1 s. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._loopbench import (  # noqa: E402
    load,
    loop_defaults,
    machine_info,
    summary,
    table,
    write_result,
)

TARGET_MEDIAN = 0.200
TARGET_P99 = 1.0

DAG_SOURCE = '''
import time
from datetime import datetime, timedelta, timezone

from daskflow import DAG
from daskflow.operators import EmptyOperator, PythonOperator

JOURNAL = {journal!r}


def mark(run):
    entered = time.time()
    with open(JOURNAL, "a") as f:
        f.write(f"{{run}} {{entered:.6f}}\\n")


with DAG({dag_id!r}, schedule={schedule}, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
         catchup=False, max_active_runs=16):
    first = PythonOperator(task_id="first", python_callable=mark, op_args=["{{{{ run_id }}}}"])
    second = EmptyOperator(task_id="second")
    first >> second
'''


class Journal:
    """The lines ``run_id epoch`` the timed task appends, read as they arrive."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.entries: dict[str, float] = {}

    def poll(self) -> dict[str, float]:
        try:
            with open(self.path) as f:
                f.seek(self.offset)
                chunk = f.read()
        except FileNotFoundError:
            return self.entries
        complete = chunk[:chunk.rfind("\n") + 1]
        self.offset += len(complete)
        for line in complete.splitlines():
            run_id, stamp = line.rsplit(" ", 1)
            self.entries.setdefault(run_id, float(stamp))
        return self.entries

    def wait_for(self, run_id: str, timeout: float = 60.0) -> float:
        deadline = time.monotonic() + timeout
        while run_id not in self.poll():
            if time.monotonic() > deadline:
                raise RuntimeError(f"run {run_id} did not start within {timeout:g}s")
            time.sleep(0.005)
        return self.entries[run_id]


def epoch(value: datetime) -> float:
    return value.replace(tzinfo=value.tzinfo or timezone.utc).timestamp()


class LoopThread:
    """A SchedulerLoop over ``folder`` served in a thread until :meth:`stop`."""

    def __init__(self, folder: Path, db: str, client: Any, max_wait: float | None) -> None:
        from daskflow.scheduler.dag_folder import DagFolder
        from daskflow.scheduler.loop import SchedulerLoop
        from daskflow.store import Store

        self.store = Store(db)
        self.store.init()
        self.folder = DagFolder(folder, self.store)
        self.folder.refresh()
        if self.folder.errors:
            self.store.dispose()
            raise RuntimeError(f"the benchmark's DAG file does not import: {self.folder.errors}")
        self.loop = SchedulerLoop(self.folder, self.store, client)
        self.event = threading.Event()
        kwargs = {} if max_wait is None else {"max_wait": max_wait}
        self.thread = threading.Thread(target=self.loop.serve, args=(self.event,), kwargs=kwargs,
                                       name="bench-loop", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.event.set()
        self.thread.join(60)
        self.store.dispose()


def wait_state(store: Any, dag_id: str, run_id: str, states: tuple[str, ...],
               timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = store.get_dag_run(dag_id, run_id)
        if run is not None and run.state in states:
            return run
        if time.monotonic() > deadline:
            raise RuntimeError(f"run {run_id} not in {states} after {timeout:g}s "
                               f"(state {run.state if run else None})")
        time.sleep(0.02)


def measure_manual(tmp: Path, client: Any, runs: int, warmup: int, max_wait: float | None,
                   rng: random.Random) -> list[dict[str, float]]:
    folder, journal = tmp / "manual_dags", Journal(tmp / "manual.journal")
    folder.mkdir()
    (folder / "latency_manual.py").write_text(textwrap.dedent(DAG_SOURCE.format(
        journal=str(journal.path), dag_id="latency_manual", schedule="None")))
    bench = LoopThread(folder, f"sqlite:///{tmp}/manual.db", client, max_wait)
    rows = []
    try:
        version = bench.folder.versions.get("latency_manual")
        for i in range(warmup + runs):
            time.sleep(rng.uniform(0.2, 0.6))
            run_id = f"manual__bench_{i:04d}"
            created = time.time()
            moment = datetime.fromtimestamp(created, tz=timezone.utc)
            bench.store.create_dag_run("latency_manual", run_id, moment, moment, moment,
                                       "manual", {}, state="queued", external_trigger=True,
                                       dag_version=version)
            started = journal.wait_for(run_id)
            run = wait_state(bench.store, "latency_manual", run_id, ("success", "failed"))
            if run.state != "success":
                raise RuntimeError(f"manual run {run_id} ended {run.state}")
            claimed = epoch(run.start_date)
            label = "warm-up" if i < warmup else f"run {i - warmup + 1}"
            print(f"  manual    {label:9s} latency {1e3 * (started - created):7.1f} ms "
                  f"(wait for tick {1e3 * (claimed - created):6.1f} ms)", flush=True)
            if i >= warmup:
                rows.append({"latency": started - created, "wait": claimed - created,
                             "rest": started - claimed})
    finally:
        bench.stop()
    return rows


def measure_scheduled(tmp: Path, client: Any, runs: int, warmup: int, max_wait: float | None
                      ) -> list[dict[str, float]]:
    folder, journal = tmp / "scheduled_dags", Journal(tmp / "scheduled.journal")
    folder.mkdir()
    (folder / "latency_scheduled.py").write_text(textwrap.dedent(DAG_SOURCE.format(
        journal=str(journal.path), dag_id="latency_scheduled",
        schedule="timedelta(seconds=1)")))
    bench = LoopThread(folder, f"sqlite:///{tmp}/scheduled.db", client, max_wait)
    rows: list[dict[str, float]] = []
    seen: set[str] = set()
    warm_after = time.time() + warmup  # intervals ending before this are warm-up
    deadline = time.monotonic() + 3 * (warmup + runs) + 60
    try:
        while len(rows) < runs:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(rows)} scheduled runs measured in time")
            time.sleep(0.05)
            failed = bench.store.list_dag_runs("latency_scheduled", state="failed")
            if failed:
                raise RuntimeError(f"scheduled run {failed[0].run_id} failed")
            for run_id, started in sorted(journal.poll().items(), key=lambda kv: kv[1]):
                if run_id in seen:
                    continue
                run = bench.store.get_dag_run("latency_scheduled", run_id)
                if run is None or run.start_date is None:
                    continue
                seen.add(run_id)
                due = epoch(run.data_interval_end)
                claimed = epoch(run.start_date)
                if due < warm_after:
                    print(f"  scheduled warm-up   {run_id} latency "
                          f"{1e3 * (started - due):7.1f} ms", flush=True)
                    continue
                rows.append({"latency": started - due, "wait": claimed - due,
                             "rest": started - claimed,
                             "create": epoch(run.queued_at) - due})
                print(f"  scheduled run {len(rows):<5d} latency {1e3 * (started - due):7.1f} ms "
                      f"(wait for tick {1e3 * (claimed - due):6.1f} ms)", flush=True)
        runs_made = bench.store.list_dag_runs("latency_scheduled")
        logical = [r.logical_date for r in runs_made]
        if len(logical) != len(set(logical)):
            raise RuntimeError("two runs for one logical date")
    finally:
        bench.stop()
    return rows[:runs]


def render(results: dict[str, list[dict[str, float]]], args: argparse.Namespace,
           info: str, loads: list[str]) -> str:
    rows = []
    parts = []
    for kind, measured in results.items():
        s = summary([r["latency"] for r in measured])
        met = s["median"] < TARGET_MEDIAN and s["p99"] < TARGET_P99
        rows.append([kind, s["n"], f"{1e3 * s['median']:.0f}", f"{1e3 * s['p90']:.0f}",
                     f"{1e3 * s['p99']:.0f}", f"{1e3 * s['max']:.0f}",
                     "< 200 / < 1000", "yes" if met else "no"])
        wait = summary([r["wait"] for r in measured])
        rest = summary([r["rest"] for r in measured])
        parts.append([kind, f"{1e3 * wait['median']:.0f}", f"{1e3 * wait['p99']:.0f}",
                      f"{1e3 * wait['max']:.0f}", f"{1e3 * rest['median']:.0f}",
                      f"{1e3 * rest['p99']:.0f}", f"{1e3 * rest['max']:.0f}"])
    main = table(["trigger", "runs", "median (ms)", "p90 (ms)", "p99 (ms)", "max (ms)",
                  "target median / p99 (ms)", "met?"], rows)
    split = table(["trigger", "wait for tick: median", "p99", "max", "tick to task: median",
                   "p99", "max"], parts)
    wait_text = "serve() default (0.2 s)" if args.max_wait is None else f"{args.max_wait:g} s"
    command = ("PYTHONPATH=. python benchmarks/schedule_latency.py"
               + (" --quick" if args.quick else f" --runs {args.runs}")
               + ("" if args.max_wait is None else f" --max-wait {args.max_wait:g}")
               + ("" if args.out is None else f" --out {args.out}"))
    return "\n".join([
        "# Schedule latency: due -> first task start",
        "",
        f"Generated by `{command}` on {datetime.now():%Y-%m-%d %H:%M}.",
        "",
        "In-process `SchedulerLoop.serve()` in a thread (max_wait " + wait_text + "; loop "
        f"defaults: {loop_defaults()}), LocalCluster 2 workers x 1 thread (processes), "
        "SQLite in a temporary directory. scheduled: `first task start - data_interval_end` of "
        "a `timedelta(seconds=1)` DAG (catchup=False); manual: `first task start - T`, T the "
        "insert of a queued manual run row, one run at a time. First task start = "
        "`time.time()` on entry of the task's callable.",
        "",
        f"Machine: {info}. Load average (1/5/15 min) before / between / after: "
        f"{' ; '.join(loads)}.",
        "",
        main,
        "",
        "Where the time goes (ms): *wait for tick* = due -> start of the loop tick that claimed "
        "the run (the run's `start_date`); *tick to task* = that tick start -> first task "
        "start (create/claim the run, build and submit its graph, Dask dispatch, node start).",
        "",
        split,
        "",
    ])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100, help="runs measured per kind")
    parser.add_argument("--quick", action="store_true", help="10 runs per kind (smoke test)")
    parser.add_argument("--max-wait", type=float, default=None,
                        help="max_wait passed to SchedulerLoop.serve() (default: its own)")
    parser.add_argument("--only", choices=("scheduled", "manual"), default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="results file (default: benchmarks/results/local/"
                             "schedule_latency.md, ignored by git)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    runs = 10 if args.quick else args.runs
    warmup = 2 if args.quick else 3

    from distributed import Client, LocalCluster

    tmp = Path(tempfile.mkdtemp(prefix="daskflow-latency-"))
    os.environ["DASKFLOW_HOME"] = str(tmp)  # result store etc. out of ~/daskflow
    info = machine_info()
    loads = [load()]
    results: dict[str, list[dict[str, float]]] = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        if args.only in (None, "scheduled"):
            results["scheduled"] = measure_scheduled(tmp, client, runs, warmup, args.max_wait)
            loads.append(load())
        if args.only in (None, "manual"):
            results["manual"] = measure_manual(tmp, client, runs, warmup, args.max_wait,
                                               random.Random(args.seed))
    loads.append(load())
    text = render(results, args, info, loads)
    print()
    print(text)
    path = write_result("schedule_latency", text, args.out)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
