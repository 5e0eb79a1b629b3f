"""How much slower is a daskflow run than the same graph in plain Dask?

Run from the repository root::

    PYTHONPATH=. python benchmarks/overhead.py [--quick] [--repeat N] [--max-load L] [--out FILE]

One ``LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` and one
``Client`` serve every measurement. Three DAG shapes of no-op tasks:

* ``chain``        200 tasks, each depending on the previous one;
* ``fan-out/in``   one root -> 1,000 tasks -> one sink (1,002 tasks);
* ``independent``  5,000 tasks with no dependencies.

Each shape runs three ways (four with ``--compare-prefixes``):

* **raw delayed**: ``dask.delayed`` no-op functions, submitted with
  ``client.compute(...)`` and waited for with ``client.gather``. Building the
  delayed objects is NOT timed (a delayed chain is quadratic to build: each
  call merges its upstream graph); the time runs from the ``compute`` call to all results being
  back in the client. ``optimize_graph=False`` so that Dask cannot fuse the
  chain into fewer tasks than daskflow runs. The futures held are the natural
  ones: the last link of the chain, the sink of the fan, every independent task.
* **raw graph**: the same shape as a ``{key: Task}`` dict, its keys named as
  daskflow names them (a prefix per node for the chain, one shared prefix for
  the wide shapes), submitted with
  ``client.get(graph, all_keys, sync=False)`` with a future held for EVERY key,
  which is exactly how daskflow submits a run; timed from the call to all
  futures finished. Graph building is not timed.
* **daskflow**: a DAG of ``EmptyOperator`` tasks run with
  ``dag.test(cluster=client, db="sqlite:///<tmp>/bench.db")``, state recording
  included. ``total`` is the whole ``dag.test`` call; ``exec`` is the part from
  building the run's graph to the run's final state being written (the call of
  ``daskflow.execution.single_run._execute``, timed by wrapping it from this
  script); ``setup`` is the rest (store init, DAG sync, DagRun row, result).
  The fan-out/in and independent DAGs are wider than
  ``daskflow.key-prefix-max-width``, so their keys share one prefix per DAG
  (``execution/keys.py``); the chain's keys have one prefix per task.
* **daskflow, prefix per task** (``--compare-prefixes`` only): the same
  ``dag.test`` with ``daskflow.key-prefix-max-width`` set to 0, so every
  task id is a Dask key prefix of its own, as before the shared prefix.

The per-task overhead is ``(daskflow total - raw delayed) / tasks`` and the
ratio is ``daskflow total / raw delayed``. Every figure is the median of
``--repeat`` runs (default 3), after one warm-up run of every variant. The
table is printed and written to ``benchmarks/results/local/overhead.md`` (ignored by
git), or to ``--out FILE``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from benchmarks._loopbench import machine_versions, write_result  # noqa: E402

#: Targets: daskflow end-to-end at most this many times raw Dask end-to-end.
TARGETS = {"chain": 2.0, "fan-out/in": 1.5, "independent": 3.0}


def noop(*args: Any) -> None:
    """The raw Dask task: takes its upstream results, does nothing."""
    return None


# -- shapes ---------------------------------------------------------------------------
def shape_sizes(quick: bool) -> dict[str, int]:
    """The width or length of each shape (``--quick`` makes them five times smaller)."""
    if quick:
        return {"chain": 40, "fan-out/in": 200, "independent": 1000}
    return {"chain": 200, "fan-out/in": 1000, "independent": 5000}


def task_count(shape: str, size: int) -> int:
    return size + 2 if shape == "fan-out/in" else size


def raw_delayed(shape: str, size: int) -> list[Any]:
    """The delayed objects to compute for ``shape`` (what a Dask user would write)."""
    import dask

    fn = dask.delayed(noop, pure=False)
    if shape == "chain":
        node = fn()
        for _ in range(size - 1):
            node = fn(node)
        return [node]
    if shape == "fan-out/in":
        root = fn()
        return [fn(*[fn(root) for _ in range(size)])]
    return [fn() for _ in range(size)]


def raw_graph(shape: str, size: int, token: str) -> dict[str, Any]:
    """``{key: Task}`` for ``shape``, keys named as daskflow names them (``execution/keys.py``).

    The chain has a prefix per node; the wide shapes, wider than
    ``daskflow.key-prefix-max-width``, share one prefix, ``raw.*``.
    """
    from dask._task_spec import Task, TaskRef

    from daskflow import config
    from daskflow.execution.keys import KeyNames

    width = 1 if shape == "chain" else size
    limit = int(config.get("key-prefix-max-width", 100))
    name = KeyNames("raw", token.replace("-", "_"), shared_prefix=0 < limit < width).key
    if shape == "chain":
        graph: dict[str, Any] = {}
        previous = None
        for i in range(size):
            key = name(f"chain_{i}")
            graph[key] = Task(key, noop) if previous is None else Task(key, noop,
                                                                         TaskRef(previous))
            previous = key
        return graph
    if shape == "fan-out/in":
        root = name("root")
        graph = {root: Task(root, noop)}
        middle = [name(f"mid_{i}") for i in range(size)]
        for key in middle:
            graph[key] = Task(key, noop, TaskRef(root))
        sink = name("sink")
        graph[sink] = Task(sink, noop, *(TaskRef(k) for k in middle))
        return graph
    graph = {}
    for i in range(size):
        key = name(f"ind_{i}")
        graph[key] = Task(key, noop)
    return graph


def daskflow_dag(shape: str, size: int, dag_id: str) -> Any:
    """A DAG of EmptyOperator tasks with one distinct task id per task, as users write."""
    from daskflow import DAG
    from daskflow.operators.empty import EmptyOperator

    with DAG(dag_id, schedule=None, start_date=dt.datetime(2025, 1, 1)) as dag:
        if shape == "chain":
            previous = None
            for i in range(size):
                op = EmptyOperator(task_id=f"t{i}")
                if previous is not None:
                    previous >> op
                previous = op
        elif shape == "fan-out/in":
            root = EmptyOperator(task_id="root")
            sink = EmptyOperator(task_id="sink")
            middle = [EmptyOperator(task_id=f"t{i}") for i in range(size)]
            root >> middle
            for op in middle:
                op >> sink
        else:
            for i in range(size):
                EmptyOperator(task_id=f"t{i}")
    return dag


# -- timing ---------------------------------------------------------------------------
def time_raw_delayed(client: Any, shape: str, size: int) -> float:
    objs = raw_delayed(shape, size)
    t0 = time.perf_counter()
    futures = client.compute(objs, optimize_graph=False)
    client.gather(futures)
    elapsed = time.perf_counter() - t0
    del futures
    return elapsed


def time_raw_graph(client: Any, shape: str, size: int, token: str) -> float:
    from distributed import wait

    graph = raw_graph(shape, size, token)
    keys = list(graph)
    t0 = time.perf_counter()
    futures = client.get(graph, keys, sync=False)
    wait(futures)
    elapsed = time.perf_counter() - t0
    bad = [f for f in futures if f.status != "finished"]
    if bad:
        raise RuntimeError(f"raw graph {shape}: {len(bad)} keys did not finish")
    del futures
    return elapsed


class ExecTimer:
    """Times ``single_run._execute`` (graph build + submit + run + final write) from outside."""

    def __init__(self) -> None:
        from daskflow.execution import single_run

        self.module = single_run
        self.original = single_run._execute
        self.last = float("nan")

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.last = time.perf_counter() - t0

        self.module._execute = timed

    def close(self) -> None:
        self.module._execute = self.original


def time_daskflow(client: Any, dag: Any, db: str, logical_date: dt.datetime,
                  timer: ExecTimer, prefix_per_task: bool = False) -> tuple[float, float]:
    import dask

    settings = {"daskflow.key-prefix-max-width": 0} if prefix_per_task else {}
    t0 = time.perf_counter()
    with dask.config.set(settings):
        result = dag.test(logical_date=logical_date, cluster=client, db=db)
    total = time.perf_counter() - t0
    if not result.succeeded:
        raise RuntimeError(f"daskflow run of {dag.dag_id} ended {result.state}")
    return total, timer.last


def wait_for_quiet(max_load: float, timeout: float = 600.0) -> None:
    """Wait until the 1-minute load average is below ``max_load`` (or ``timeout`` passes)."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] > max_load and time.monotonic() < deadline:
        time.sleep(5)


# -- reporting ------------------------------------------------------------------------
def machine_info() -> dict[str, str]:
    return machine_versions()


def render(rows: list[dict[str, Any]], info: dict[str, str], repeat: int, quick: bool,
           max_load: float | None = None, out: str | None = None) -> str:
    lines = [
        "| shape | tasks | raw delayed (s) | raw graph, all keys held (s) | daskflow total (s) "
        "| daskflow exec (s) | daskflow setup (s) | overhead per task (us) | ratio total/raw "
        "| ratio exec/raw | target | met? |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        met = "yes" if r["ratio"] <= r["target"] else "no"
        lines.append(
            f"| {r['shape']} | {r['n']} | {r['raw']:.3f} | {r['graph']:.3f} | {r['total']:.3f} "
            f"| {r['exec']:.3f} | {r['total'] - r['exec']:.3f} | {r['per_task_us']:.0f} "
            f"| {r['ratio']:.2f}x | {r['exec_ratio']:.2f}x | <= {r['target']:g}x | {met} |")
    table = "\n".join(lines)
    spread = ["", "Spread over the measured runs (min - max, seconds):", "",
              "| shape | raw delayed | daskflow total |", "|---|---|---|"]
    for r in rows:
        spread.append(f"| {r['shape']} | {r['raw_range'][0]:.3f} - {r['raw_range'][1]:.3f} "
                      f"| {r['total_range'][0]:.3f} - {r['total_range'][1]:.3f} |")
    table += "\n" + "\n".join(spread)
    compared = [r for r in rows if r.get("per_task_prefix")]
    if compared:
        table += "\n".join([
            "", "", "The same DAGs with a Dask key prefix per task id "
            "(`daskflow.key-prefix-max-width: 0`), in the same rounds:", "",
            "| shape | daskflow total, shared prefix (s) | prefix per task (s) "
            "| prefix per task, min - max (s) | ratio to raw delayed |",
            "|---|---:|---:|---|---:|", *(
                f"| {r['shape']} | {r['total']:.3f} "
                f"| {statistics.median(r['per_task_prefix']):.3f} "
                f"| {min(r['per_task_prefix']):.3f} - {max(r['per_task_prefix']):.3f} "
                f"| {statistics.median(r['per_task_prefix']) / r['raw']:.2f}x |"
                for r in compared)])
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    head = [
        "# daskflow overhead against plain Dask",
        "",
        "Generated by `PYTHONPATH=. python benchmarks/overhead.py"
        f"{' --quick' if quick else ''} --repeat {repeat}"
        f"{f' --max-load {max_load:g}' if max_load is not None else ''}"
        f"{' --compare-prefixes' if any(r.get('per_task_prefix') for r in rows) else ''}"
        f"{f' --out {out}' if out is not None else ''}` "
        f"on {stamp}. Medians of {repeat} runs each, after a warm-up.",
        "",
        "Cluster: one `LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`, "
        "one Client, shared by every measurement. No-op tasks.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        "- raw delayed: `dask.delayed` no-ops, `client.compute(..., optimize_graph=False)` "
        "then `client.gather`; timed from compute to results (graph building not timed).",
        "- raw graph: the same shape as a `{key: Task}` dict with keys named as daskflow "
        "names them, `client.get(graph, all_keys, sync=False)` and `wait` on every future "
        "(how daskflow submits).",
        "- daskflow total: the whole `dag.test(cluster=client, db=sqlite file)` call "
        "(EmptyOperator tasks, states recorded); exec: graph build + submit + run + final "
        "write (`single_run._execute`); setup = total - exec.",
        "- overhead per task = (daskflow total - raw delayed) / tasks; ratio = daskflow / raw "
        "delayed.",
        "",
        table,
        "",
    ]
    return "\n".join(head)


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="shapes five times smaller and one repeat (a smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="runs per figure (default 3)")
    parser.add_argument("--max-load", type=float, default=None,
                        help="before each shape, wait (up to 10 min) for the 1-minute load "
                             "average to drop below this (the machine may be shared)")
    parser.add_argument("--compare-prefixes", action="store_true",
                        help="also time each DAG with a Dask key prefix per task id")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="results file (default: benchmarks/results/local/overhead.md, "
                             "ignored by git)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    repeat = args.repeat or (1 if args.quick else 3)

    from distributed import Client, LocalCluster

    sizes = shape_sizes(args.quick)
    info = machine_info()
    tmp = tempfile.mkdtemp(prefix="daskflow-bench-")
    db = f"sqlite:///{tmp}/bench.db"
    # Keep daskflow's home (and its result store) out of the user's ~/daskflow.
    os.environ["DASKFLOW_HOME"] = tmp
    loads = [os.getloadavg()[0]]
    rows = []
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0", silence_logs=40) as cluster, \
            Client(cluster) as client:
        timer = ExecTimer()
        try:
            day = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
            for shape, size in sizes.items():
                if args.max_load is not None:
                    wait_for_quiet(args.max_load)
                loads.append(os.getloadavg()[0])
                n = task_count(shape, size)
                name = shape.replace("/", "_").replace("-", "_")
                dag = daskflow_dag(shape, size, f"bench_{name}")
                raw, graph, total, exe, per_task = [], [], [], [], []
                for i in range(repeat + 1):  # the first round is the warm-up
                    r = time_raw_delayed(client, shape, size)
                    g = time_raw_graph(client, shape, size, f"{i}x{time.time_ns()}")
                    day += dt.timedelta(days=1)
                    t, e = time_daskflow(client, dag, db, day, timer)
                    p = float("nan")
                    if args.compare_prefixes:
                        day += dt.timedelta(days=1)
                        p, _ = time_daskflow(client, dag, db, day, timer, prefix_per_task=True)
                    label = "warm-up" if i == 0 else f"run {i}"
                    print(f"  {shape:12s} {label:8s} raw {r:7.3f}s  graph {g:7.3f}s  "
                          f"daskflow {t:7.3f}s (exec {e:7.3f}s)"
                          f"{f'  prefix per task {p:7.3f}s' if args.compare_prefixes else ''}"
                          f"  load {os.getloadavg()[0]:.1f}", flush=True)
                    if i:
                        raw.append(r), graph.append(g), total.append(t), exe.append(e)
                        per_task.append(p)
                row = {"shape": shape, "n": n, "raw": statistics.median(raw),
                       "total_range": (min(total), max(total)),
                       "raw_range": (min(raw), max(raw)),
                       "graph": statistics.median(graph), "total": statistics.median(total),
                       "exec": statistics.median(exe), "target": TARGETS[shape],
                       "per_task_prefix": per_task if args.compare_prefixes else None}
                row["per_task_us"] = (row["total"] - row["raw"]) / n * 1e6
                row["ratio"] = row["total"] / row["raw"]
                row["exec_ratio"] = row["exec"] / row["raw"]
                rows.append(row)
        finally:
            timer.close()
    loads.append(os.getloadavg()[0])
    info["load average (1 min) during the run"] = " / ".join(f"{x:.1f}" for x in loads)
    text = render(rows, info, repeat, args.quick, args.max_load, args.out)
    print()
    print(text)
    path = write_result("overhead", text, args.out)
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
