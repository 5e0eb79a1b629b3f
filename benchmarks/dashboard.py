"""How fast the dashboard's grid renders in Chromium: 500 tasks x 100 runs, and a run
with 10,000 mapped instances.

Builds a SQLite store with both DAGs (task instances in mixed states, no
cluster work), serves the pages from an embedded cluster's dashboard and
opens each grid in headless Chromium (Debian's ``chromium``, driven by
Playwright) several times. A render is timed from the start of navigation
until the browser holds every cell of the grid and has painted two frames
since; the store read behind a refresh is timed on its own. Prints the
median, the spread and the load average. The target is under 2 s for the
500 x 100 grid.

    python benchmarks/dashboard.py [--repeat 5] [--tasks 500] [--runs 100] [--mapped 10000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _loopbench as bench  # noqa: E402

from daskflow.store import Store  # noqa: E402
from daskflow.store.records import DagRecord, TaskInstanceRecord  # noqa: E402

STATES = ("success", "success", "success", "failed", "skipped", "upstream_failed",
          "up_for_retry", "running", "queued")
DAY = datetime(2025, 1, 1, tzinfo=timezone.utc)


def build_store(url: str, tasks: int, runs: int, mapped: int) -> None:
    """``wide``: ``tasks`` tasks x ``runs`` runs; ``mapped``: one run, one task x ``mapped``."""
    store = Store(url)
    store.init()
    task_ids = [f"task_{i:04d}" for i in range(tasks)]
    store.sync_dags([DagRecord("wide", "/dags/wide.py", schedule="@daily"),
                     DagRecord("mapped", "/dags/mapped.py", schedule=None)])
    structure = {"tasks": {t: {} for t in task_ids}}
    store.save_dag_version("wide-v1", "wide", "/dags/wide.py", "# generated", structure)
    store.save_dag_version("mapped-v1", "mapped", "/dags/mapped.py", "# generated",
                           {"tasks": {"split": {}, "work": {"mapped": True}}})
    for r in range(runs):
        run = store.create_dag_run("wide", f"scheduled__{r:03d}", DAY + timedelta(days=r),
                                   None, None, "scheduled", None, state="success",
                                   dag_version="wide-v1")
        store.create_task_instances([
            TaskInstanceRecord("wide", run.run_id, t, state=STATES[(r + i) % len(STATES)],
                               try_number=1) for i, t in enumerate(task_ids)])
    run = store.create_dag_run("mapped", "manual__big", DAY, None, None, "manual", None,
                               state="running", dag_version="mapped-v1")
    store.create_task_instances(
        [TaskInstanceRecord("mapped", "manual__big", "split", state="success", try_number=1)]
        + [TaskInstanceRecord("mapped", "manual__big", "work", i, try_number=1,
                              state=STATES[i % len(STATES)]) for i in range(mapped)])
    store.dispose()


def time_render(chromium, url: str, cells: int) -> tuple[float, float]:
    """Seconds from navigation start until all ``cells`` are in the page and painted,
    and until the data had arrived (the rest is drawing)."""
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    arrived = page.wait_for_function("""(n) => {
        const doc = window.Bokeh && Bokeh.documents[0];
        const source = doc && doc.get_model_by_name("grid-cells");
        if (!source) return false;
        const data = source.data;
        const x = data instanceof Map ? data.get("x") : data["x"];
        return x && x.length === n && performance.now();
    }""", arg=cells, timeout=120_000, polling="raf").json_value()
    elapsed = page.evaluate("""() => new Promise(done => requestAnimationFrame(
        () => requestAnimationFrame(() => done(performance.now()))))""")
    page.close()
    return elapsed / 1000, arrived / 1000


def time_dask_page(chromium, url: str) -> float:
    """Seconds until one of Dask's own pages has drawn its Bokeh document, for comparison."""
    page = chromium.new_page(viewport={"width": 1400, "height": 900})
    page.goto(url)
    page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0",
                           timeout=120_000, polling="raf")
    elapsed = page.evaluate("""() => new Promise(done => requestAnimationFrame(
        () => requestAnimationFrame(() => done(performance.now()))))""")
    page.close()
    return elapsed / 1000


def time_reads(dag_id: str, runs: int, url: str, repeat: int) -> list[float]:
    from daskflow.dashboard.grid_reader import read_grid

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        read_grid(dag_id, runs, url)
        times.append(time.perf_counter() - start)
    return times


def describe(name: str, seconds: list[float]) -> str:
    return (f"{name}: median {statistics.median(seconds):.3f} s, min {min(seconds):.3f} s, "
            f"max {max(seconds):.3f} s ({len(seconds)} runs)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--mapped", type=int, default=10_000)
    args = parser.parse_args()
    chromium_path = shutil.which("chromium")
    if chromium_path is None:
        sys.exit("no chromium: apt-get install -y chromium")
    import dask.config
    from playwright.sync_api import sync_playwright

    from daskflow.dashboard.store_access import show_store
    from daskflow.execution.cluster import connect, dashboard_url

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/dashboard.db"
        start = time.perf_counter()
        build_store(url, args.tasks, args.runs, args.mapped)
        print(f"built the store in {time.perf_counter() - start:.1f} s "
              f"({args.tasks * args.runs + args.mapped + 1} task instances)")
        show_store(url)
        print(bench.machine_info())
        print(f"load before: {bench.load()}")
        print(describe(f"store read for the {args.tasks} x {args.runs} grid",
                       time_reads("wide", args.runs, url, args.repeat)))
        print(describe(f"store read for the run with {args.mapped} mapped instances",
                       time_reads("mapped", args.runs, url, args.repeat)))
        with dask.config.set({"daskflow.dashboard.recent-runs": args.runs}), \
                connect(workers=1, threads_per_worker=1, processes=False) as client, \
                sync_playwright() as playwright:
            root = dashboard_url(client).rsplit("/", 1)[0]
            chromium = playwright.chromium.launch(executable_path=chromium_path)
            time_render(chromium, f"{root}/daskflow/grid?dag_id=mapped", 2)  # warm up
            wide = [time_render(chromium, f"{root}/daskflow/grid?dag_id=wide",
                                args.tasks * args.runs) for _ in range(args.repeat)]
            mapped = [time_render(chromium, f"{root}/daskflow/grid?dag_id=mapped", 2)
                      for _ in range(args.repeat)]
            dask_page = [time_dask_page(chromium, f"{root}/individual-task-stream")
                         for _ in range(args.repeat)]
            chromium.close()
        print(describe(f"grid of {args.tasks} tasks x {args.runs} runs in Chromium "
                       "(target under 2 s)", [total for total, _ in wide]))
        print(describe("the same, until its data had arrived", [at for _, at in wide]))
        print(describe(f"grid of a run with {args.mapped} mapped instances in Chromium",
                       [total for total, _ in mapped]))
        print(describe("Dask's own task stream page, for comparison", dask_page))
        print(f"load after: {bench.load()}")


if __name__ == "__main__":
    main()
