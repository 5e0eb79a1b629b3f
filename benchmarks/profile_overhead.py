"""Where a daskflow run spends its time: the measurements behind docs/performance.md.

Run from the repository root::

    PYTHONPATH=. python benchmarks/profile_overhead.py functions   # time inside daskflow calls
    PYTHONPATH=. python benchmarks/profile_overhead.py cpu         # CPU per thread / process
    PYTHONPATH=. python benchmarks/profile_overhead.py keys        # key naming variants
    PYTHONPATH=. python benchmarks/profile_overhead.py tokenize    # client.get's graph token

Everything here instruments daskflow from the outside (wrapping or replacing
functions in this process only); nothing under ``daskflow/`` is changed.
The cluster is the one of ``overhead.py``: ``LocalCluster(2 workers x 1
thread, processes=True)``, whose scheduler runs in THIS process, on the
event-loop thread named "IO loop".
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import functools
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from overhead import daskflow_dag, raw_graph, time_raw_delayed, time_raw_graph  # noqa: E402

SHAPES = {"chain": 200, "fan-out/in": 1000, "independent": 1000}


def dag_id(prefix: str, shape: str) -> str:
    return prefix + "_" + shape.replace("/", "_").replace("-", "_")


class Runner:
    """Runs dag.test on one shared client, a new logical date each time."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.db = f"sqlite:///{tempfile.mkdtemp(prefix='daskflow-prof-')}/prof.db"
        self.day = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)

    def __call__(self, dag: Any) -> float:
        self.day += dt.timedelta(days=1)
        t0 = time.perf_counter()
        result = dag.test(logical_date=self.day, cluster=self.client, db=self.db)
        elapsed = time.perf_counter() - t0
        if not result.succeeded:
            raise RuntimeError(f"{dag.dag_id}: run ended {result.state}")
        return elapsed


# -- functions: wall time inside selected daskflow calls ---------------------------------
def functions(client: Any, runs: int) -> None:
    import distributed

    from daskflow.execution import driver, recorder, run, single_run

    spent: dict[str, float] = collections.defaultdict(float)
    calls: collections.Counter = collections.Counter()

    def wrap(owner: Any, name: str, label: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - t0
                calls[label] += 1

        setattr(owner, name, timed)

    wrap(single_run, "run_once", "dag.test (all)")
    wrap(single_run, "_execute", "_execute (graph, submit, run, final write)")
    wrap(single_run, "_create_run", "_create_run (DAG sync, version, DagRun row)")
    wrap(run.RunExecution, "__init__", "RunExecution.__init__")
    wrap(run.RunExecution, "_submit", "RunExecution._submit (graph build)")
    wrap(distributed.Client, "get", "Client.get (tokenize, pickle, send)")
    wrap(driver.Driver, "_watch", "Driver._watch (a done callback per future)")
    wrap(recorder.Recorder, "flush", "Recorder.flush (store writes)")
    wrap(run.RunExecution, "on_report", "RunExecution.on_report")
    if hasattr(run.RunExecution, "_send_done_marks"):
        wrap(run.RunExecution, "_send_done_marks", "RunExecution._send_done_marks")
    wrap(run.RunExecution, "release", "RunExecution.release (futures dropped)")
    runner = Runner(client)
    for shape, size in SHAPES.items():
        dag = daskflow_dag(shape, size, dag_id("prof_fn", shape))
        per_run: dict[str, list[float]] = collections.defaultdict(list)
        for i in range(runs + 1):
            spent.clear()
            calls.clear()
            runner(dag)
            if i:  # the first run warms up
                for label, seconds in spent.items():
                    per_run[label].append(seconds)
        n = len(dag.tasks)
        print(f"\n{shape} ({n} tasks), load {os.getloadavg()[0]:.1f}: median over {runs} runs")
        print(f"  {'function':48s} {'ms/run':>9s} {'us/task':>9s}")
        for label, values in sorted(per_run.items(), key=lambda kv: -statistics.median(kv[1])):
            m = statistics.median(values)
            print(f"  {label:48s} {m * 1e3:9.1f} {m * 1e6 / n:9.0f}")


# -- cpu: CPU seconds per thread of this process and of the workers ----------------------
def cpu(client: Any, runs: int) -> None:
    import psutil

    me = psutil.Process()
    workers = [psutil.Process(pid) for pid in client.run(os.getpid).values()]

    def snapshot() -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        out: dict[str, float] = collections.defaultdict(float)
        for t in me.threads():
            name = names.get(t.id, "other")
            name = name if name in ("MainThread", "IO loop") else "other threads"
            out[name] += t.user_time + t.system_time
        out["workers"] = sum(p.cpu_times().user + p.cpu_times().system for p in workers)
        return out

    runner = Runner(client)
    for shape, size in SHAPES.items():
        dag = daskflow_dag(shape, size, dag_id("prof_cpu", shape))
        variants = {
            "raw delayed": functools.partial(time_raw_delayed, client, shape, size),
            "raw graph": lambda s=shape, n=size: time_raw_graph(client, s, n,
                                                                str(time.time_ns())),
            "daskflow": functools.partial(runner, dag),
        }
        rows: dict[str, list[dict[str, float]]] = collections.defaultdict(list)
        for i in range(runs + 1):
            for name, fn in variants.items():
                before = snapshot()
                wall = fn()
                after = snapshot()
                if i:
                    rows[name].append({k: after[k] - before.get(k, 0.0) for k in after}
                                      | {"wall": wall})
        cols = ["wall", "MainThread", "IO loop", "other threads", "workers"]
        print(f"\n{shape}: seconds per run (median of {runs}); 'IO loop' hosts the scheduler")
        print("  " + f"{'variant':14s}" + "".join(f"{c:>14s}" for c in cols))
        for name, values in rows.items():
            print("  " + f"{name:14s}" + "".join(
                f"{statistics.median(v.get(c, 0.0) for v in values):14.3f}" for c in cols))


# -- keys: how the key naming changes the Dask scheduler's work ---------------------------
def keys(client: Any, runs: int) -> None:
    """Each DAG run with a Dask key prefix per task id, and with one per DAG (``<dag>.*``).

    ``daskflow.key-prefix-max-width`` chooses (``execution/keys.py``): 0 gives
    every task its own prefix, 1 makes any DAG wider than one task share one.
    """
    import dask

    variants = {"prefix per task id (width limit 0)": 0,
                "one prefix per DAG, <dag>.* (width limit 1)": 1}
    runner = Runner(client)
    for shape, size in SHAPES.items():
        dag = daskflow_dag(shape, size, dag_id("prof_keys", shape))
        times: dict[str, list[float]] = collections.defaultdict(list)
        for i in range(runs + 1):
            for name, width in variants.items():
                with dask.config.set({"daskflow.key-prefix-max-width": width}):
                    elapsed = runner(dag)
                if i:
                    times[name].append(elapsed)
        print(f"\n{shape}: dag.test seconds, median (min) of {runs}, load {os.getloadavg()[0]:.1f}")
        for name, values in times.items():
            print(f"  {name:44s} {statistics.median(values):7.3f} ({min(values):.3f})")


# -- tokenize: what client.get spends hashing the graph ----------------------------------
def tokenize_cost() -> None:
    from dask.tokenize import tokenize

    from daskflow.execution.node import NodeSpec
    from daskflow.execution.run import RunExecution
    from daskflow.models.context import DagRunInfo

    class Capture:
        def get(self, graph: dict, keys: list, sync: bool = False) -> list:
            self.graph = graph
            return [None] * len(keys)

        def nthreads(self) -> dict:
            return {"w": 2}

        def run_on_scheduler(self, *args: Any, **kwargs: Any) -> None:
            return None

    class NoRecorder:
        def __getattr__(self, name: str) -> Any:
            return lambda *args, **kwargs: None

    def first_token_ms(shape: str, size: int, round_: int) -> tuple[float, float]:
        dag = daskflow_dag(shape, size, dag_id(f"prof_tok{round_}", shape))
        day = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
        info = DagRunInfo(dag_id=dag.dag_id, run_id="r", logical_date=day,
                          data_interval_start=day, data_interval_end=day, run_type="manual",
                          conf={}, start_date=day)
        client = Capture()
        RunExecution(dag, info, client, NoRecorder(), "topic", token=f"t{round_}").start()
        t0 = time.perf_counter()
        tokenize(client.graph)
        ours = time.perf_counter() - t0
        plain = raw_graph(shape, size, f"t{round_}")
        t0 = time.perf_counter()
        tokenize(plain)
        return ours * 1e3, (time.perf_counter() - t0) * 1e3

    def report(label: str) -> None:
        for shape in ("fan-out/in", "independent"):
            results = [first_token_ms(shape, 1000, r) for r in range(3)]
            print(f"  {label:44s} {shape:12s} daskflow graph {min(r[0] for r in results):7.1f} ms"
                  f"   same shape, no-op tasks {min(r[1] for r in results):7.1f} ms")

    print("first tokenize() of a 1,000-task graph (what Client.get does before sending)")
    report("current NodeSpec")
    NodeSpec.__dask_tokenize__ = lambda self: (  # type: ignore[attr-defined]
        "daskflow-node", self.topic, self.run.dag_id, self.run.run_id, self.task.task_id,
        self.map_index, self.first_try)
    try:
        report("with NodeSpec.__dask_tokenize__ (prototype)")
    finally:
        del NodeSpec.__dask_tokenize__


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["functions", "cpu", "keys", "tokenize"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    os.environ["DASKFLOW_HOME"] = tempfile.mkdtemp(prefix="daskflow-prof-home-")
    if args.what == "tokenize":
        tokenize_cost()
        return 0
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        {"functions": functions, "cpu": cpu, "keys": keys}[args.what](client, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
