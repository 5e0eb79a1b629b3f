"""What does one scheduler-loop tick cost with 1,000 DAGs and 100 active runs, and idling?

Run from the repository root::

    PYTHONPATH=. python benchmarks/loop_cost.py [--quick] [--dags N] [--active N] [--ticks N]
        [--idle S] [--max-wait S] [--out FILE]

Set-up, in a temporary directory:

* a DAG folder of ``--dags`` files (default 1,000), one DAG of 10 tasks each
  (``PythonOperator`` root -> 8 ``EmptyOperator`` -> ``PythonOperator`` sink),
  scheduled daily at a random minute of the hour twelve hours from now,
  ``catchup=False``; each DAG's latest complete interval is already in the store
  as a successful scheduled run, so no DAG is due while the benchmark runs;
* one more file, ``sleeper.py``: no schedule, ``max_active_runs`` 1,000, a chain
  of 10 tasks that each sleep an hour;
* SQLite, and a separate ``dask scheduler`` + ``dask worker --nworkers 2
  --nthreads 1`` (subprocesses of this script), so that the Dask scheduler and
  the workers do not run in the loop's process.

Measured, in order:

1. **parse**: the first ``DagFolder.refresh()`` (every file parsed, versions
   and DAG rows written), then a refresh with nothing changed (the scan the
   loop does every ``parse_interval``).
2. **idle CPU**: a ``SchedulerLoop`` on that folder, ``serve()`` in a thread for
   ``--idle`` seconds (default 20) after a warm-up, no run active and nothing
   due. CPU = this process's user+system time (``resource.getrusage``, every
   thread: the loop, the Dask client, the idle main thread) / wall time. The
   same for a folder holding only ``sleeper.py``, to separate the cost of the
   folder from the loop's fixed cost, and for the big folder with one queued
   run of a paused DAG in the store (a run no loop may start: does every tick
   then pay for a full claim?). Then the idle loop over the big folder
   again, driven in the main thread as ``serve()`` drives it, under cProfile.
3. **tick with active runs**: ``--active`` (default 100) queued manual runs of
   ``sleeper`` are claimed by a loop with ``max_runs`` above that; once every
   one is submitted, ``--ticks`` (default 200) ticks are timed as ``serve()``
   does them (``tick(now)`` then ``driver.step(max_wait)``; only ``tick`` timed). The
   first tick of that loop (every DAG evaluated, the runs claimed and
   submitted) is reported on its own. Ticks are also split by whether they
   included the folder scan and the check of the loop's runs (every heartbeat
   interval; the heartbeat itself runs in a thread of its own, not in the tick).
4. **profile**: ``--profile-ticks`` more ticks (default 100) under cProfile; the
   top functions by own time and by cumulative time go into the results.

Printed and written to ``benchmarks/results/local/loop_cost.md`` (ignored by git) or to
``--out FILE``. Targets: tick < 100 ms, idle CPU < 2 %. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import sys
import tempfile
import textwrap
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._loopbench import (  # noqa: E402
    ROOT,
    ExternalCluster,
    load,
    loop_defaults,
    machine_info,
    summary,
    table,
    write_result,
)

#: ``serve()``'s max_wait, also used between timed ticks (``--max-wait``; serve()'s default).
MAX_WAIT = 0.2
TARGET_TICK = 0.100
TARGET_IDLE = 0.02

DAG_FILE = '''
from datetime import datetime, timezone

from daskflow import DAG
from daskflow.operators import EmptyOperator, PythonOperator


def extract():
    return 1


def load(**context):
    return None


with DAG({dag_id!r}, schedule={cron!r}, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
         catchup=False, tags=["bench"]):
    root = PythonOperator(task_id="extract", python_callable=extract)
    sink = PythonOperator(task_id="load", python_callable=load)
    for i in range(8):
        root >> EmptyOperator(task_id=f"step_{{i}}") >> sink
'''

SLEEPER_FILE = '''
import time
from datetime import datetime, timezone

from daskflow import DAG
from daskflow.operators import PythonOperator


def nap():
    time.sleep(3600)


with DAG("sleeper", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
         max_active_runs=1000):
    previous = None
    for i in range(10):
        task = PythonOperator(task_id=f"nap_{i}", python_callable=nap)
        if previous is not None:
            previous >> task
        previous = task
'''


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def write_folder(folder: Path, dags: int, rng: random.Random) -> None:
    folder.mkdir(parents=True)
    hour = (utcnow().hour + 12) % 24  # never due while this benchmark runs
    for i in range(dags):
        cron = f"{rng.randrange(60)} {hour} * * *"
        (folder / f"bench_{i:04d}.py").write_text(
            textwrap.dedent(DAG_FILE.format(dag_id=f"bench_{i:04d}", cron=cron)))
    (folder / "sleeper.py").write_text(textwrap.dedent(SLEEPER_FILE))


def seed_history(store: Any, folder: Any) -> int:
    """Each scheduled DAG's latest complete interval as a successful run: nothing is due."""
    from daskflow.scheduler.planning import scheduled_run_id

    now = utcnow()
    seeded = 0
    for dag in folder.dags.values():
        if not dag.timetable.can_be_scheduled:
            continue
        info = dag.timetable.next_run(None, start_date=dag.start_date, end_date=dag.end_date,
                                      catchup=dag.catchup, now=now)
        if info is None:
            continue
        store.create_dag_run(dag.dag_id, scheduled_run_id(info.logical_date), info.logical_date,
                             info.data_interval.start, info.data_interval.end, "scheduled", {},
                             state="success", dag_version=folder.versions.get(dag.dag_id))
        seeded += 1
    return seeded


def measure_idle(folder: Any, store: Any, client: Any, seconds: float, warmup: float
                 ) -> dict[str, float]:
    """CPU share of this process while a loop serves an idle folder."""
    from daskflow.scheduler.loop import SchedulerLoop

    loop = SchedulerLoop(folder, store, client)
    ticks = [0]
    original = loop.tick

    def counted(now: datetime) -> None:
        ticks[0] += 1
        original(now)

    loop.tick = counted  # type: ignore[method-assign]
    stop = threading.Event()
    thread = threading.Thread(target=loop.serve, args=(stop,), kwargs={"max_wait": MAX_WAIT},
                              name="bench-idle-loop", daemon=True)
    thread.start()
    time.sleep(warmup)
    created = len(store.list_dag_runs(states=("queued", "running")))
    cpu0, wall0, ticks0 = cpu_seconds(), time.perf_counter(), ticks[0]
    time.sleep(seconds)
    cpu1, wall1, ticks1 = cpu_seconds(), time.perf_counter(), ticks[0]
    stop.set()
    thread.join(60)
    return {"cpu": cpu1 - cpu0, "wall": wall1 - wall0, "share": (cpu1 - cpu0) / (wall1 - wall0),
            "ticks": ticks1 - ticks0, "active": created}


def profile_idle(folder: Any, store: Any, client: Any, seconds: float) -> dict[str, Any]:
    """cProfile of an idle loop's own thread: serve()'s body (tick, then step) in this thread.

    cProfile sees only the thread it runs in, so the loop is driven here exactly as
    ``serve()`` drives it (minus the final shutdown). Returns the profile, the wall
    time, the loop thread's CPU time (``time.thread_time``) and the tick count.
    """
    from daskflow.scheduler.loop import SchedulerLoop

    loop = SchedulerLoop(folder, store, client)
    try:
        for _ in range(5):  # warm: the first tick evaluates every DAG
            loop.tick(utcnow())
            loop.step(MAX_WAIT)
        profiler = cProfile.Profile(time.thread_time)  # CPU time: waits do not count
        ticks = 0
        cpu0, wall0 = time.thread_time(), time.perf_counter()
        end = wall0 + seconds
        profiler.enable()
        while time.perf_counter() < end:
            loop.tick(utcnow())
            loop.step(MAX_WAIT)
            ticks += 1
        profiler.disable()
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    finally:
        loop.shutdown()
    return {"profile": profiler, "wall": wall, "cpu": cpu, "ticks": ticks}


def idle_parts(folder: Any, store: Any, client: Any, ticks_per_second: float,
               repeat: int = 40) -> list[list[Any]]:
    """Each recurring part of an idle tick timed on its own (no profiler), as table rows.

    A part's CPU share = median time per call x calls per second (ticks per
    second measured while idle; the folder scan runs once per parse interval).
    The loop's own calls are timed (``claim``, ``create_due_runs``), plus the
    full ``Store.claim_runs`` with and without the ``dag_ids`` filter, to show
    what a claim costs when it is not skipped and what that filter adds. Rows
    that are not calls of an idle tick (the full claim when it is skipped) are
    shown for comparison only.
    """
    from daskflow.scheduler.loop import SchedulerLoop

    loop = SchedulerLoop(folder, store, client)
    loop.tick(utcnow())  # every DAG evaluated once; from now on none is due
    caps = {d.dag_id: d.max_active_runs for d in folder.dags.values()}

    def timed(call: Any) -> float:
        values = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            call()
            values.append(time.perf_counter() - t0)
        return summary(values)["median"]

    every = set(folder.dags)
    parts = [
        ("`SchedulerLoop.claim`, as the loop calls it every tick",
         timed(lambda: loop.claim(utcnow())), ticks_per_second),
        ("`Store.claim_runs` with dag_ids = every DAG of the folder (the full claim)",
         timed(lambda: store.claim_runs(loop.loop_id, utcnow(), 64, loop.stale_after, caps,
                                        dag_ids=every)), ticks_per_second),
        ("`Store.claim_runs` without dag_ids (for comparison)",
         timed(lambda: store.claim_runs(loop.loop_id, utcnow(), 64, loop.stale_after, caps)),
         ticks_per_second),
        ("`DagFolder.refresh`, nothing changed (scan of the folder)",
         timed(folder.refresh), 1.0 / loop.parse_interval),
        ("`SchedulerLoop.create_due_runs`, nothing due",
         timed(lambda: loop.create_due_runs(utcnow())), ticks_per_second),
    ]
    if hasattr(store, "has_claimable"):
        parts.insert(1, ("`Store.has_claimable` (the read that gates the full claim)",
                         timed(lambda: store.has_claimable(loop.loop_id, utcnow(),
                                                           loop.stale_after)),
                         ticks_per_second))
    loop.shutdown()
    return [[name, f"{1e3 * per_call:.3f}", f"{rate:.1f}", f"{1e3 * per_call * rate:.1f}",
             f"{100 * per_call * rate:.2f} %"] for name, per_call, rate in parts]


def measure_ticks(folder: Any, store: Any, client: Any, active: int, ticks: int,
                  profile_ticks: int) -> dict[str, Any]:
    """Tick times with ``active`` runs of ``sleeper`` claimed and submitted."""
    from daskflow.scheduler.loop import SchedulerLoop

    version = folder.versions.get("sleeper")
    base = datetime(2025, 6, 1, tzinfo=timezone.utc)
    for i in range(active):
        logical = base + timedelta(minutes=i)
        store.create_dag_run("sleeper", f"manual__sleeper_{i:04d}", logical, logical, logical,
                             "manual", {}, state="queued", external_trigger=True,
                             dag_version=version)
    loop = SchedulerLoop(folder, store, client, max_runs=active + 28)
    result: dict[str, Any] = {}
    try:
        t0 = time.perf_counter()
        loop.tick(utcnow())
        result["first_tick"] = time.perf_counter() - t0
        result["claimed_first"] = len(loop.executions)
        deadline = time.monotonic() + 300
        while len(loop.executions) < active:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {len(loop.executions)} of {active} runs claimed")
            loop.step(MAX_WAIT)
            loop.tick(utcnow())
        for _ in range(10):  # warm: the recorder writes the queued states, Dask settles
            loop.step(MAX_WAIT)
            loop.tick(utcnow())
        samples = []
        for _ in range(ticks):
            loop.step(MAX_WAIT)
            parse_due = time.monotonic() >= loop._next_parse
            check_due = time.monotonic() >= loop._next_check
            t0 = time.perf_counter()
            loop.tick(utcnow())
            samples.append((time.perf_counter() - t0, parse_due, check_due))
        result["samples"] = samples
        result["executions"] = len(loop.executions)
        profiler = cProfile.Profile()
        for _ in range(profile_ticks):
            loop.step(MAX_WAIT)
            profiler.enable()
            loop.tick(utcnow())
            profiler.disable()
        result["profile"] = profiler
        result["profile_ticks"] = profile_ticks
    finally:
        loop.shutdown()
    return result


def profile_text(profiler: cProfile.Profile, ticks: float, top: int = 15,
                 unit: str = "tick") -> str:
    """Top functions by own and by cumulative time, per ``unit`` (``ticks`` of them)."""
    stats = pstats.Stats(profiler)
    rows_own, rows_cum = [], []
    for (filename, line, name), (_, nc, tt, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename
        for prefix in (str(ROOT) + os.sep, sys.prefix + os.sep, sys.base_prefix + os.sep):
            if where.startswith(prefix):
                where = where[len(prefix):]
                break
        label = f"{where}:{line} {name}"
        rows_own.append((tt, ct, nc, label))
        rows_cum.append((ct, tt, nc, label))
    rows_own.sort(reverse=True)
    rows_cum.sort(reverse=True)
    own = table(["function (file:line name)", f"own ms/{unit}", f"cum ms/{unit}",
                 f"calls/{unit}"],
                [[f"`{label}`", f"{1e3 * tt / ticks:.2f}", f"{1e3 * ct / ticks:.2f}",
                  f"{nc / ticks:.1f}"] for tt, ct, nc, label in rows_own[:top]])
    cum = table(["function (file:line name)", f"cum ms/{unit}", f"own ms/{unit}",
                 f"calls/{unit}"],
                [[f"`{label}`", f"{1e3 * ct / ticks:.2f}", f"{1e3 * tt / ticks:.2f}",
                  f"{nc / ticks:.1f}"] for ct, tt, nc, label in rows_cum
                 if "daskflow/" in label][:top])
    return ("By own time:\n\n" + own + "\n\nBy cumulative time (daskflow functions):\n\n"
            + cum)


def ms(value: float) -> str:
    return f"{1e3 * value:.1f}"


def render(args: argparse.Namespace, info: str, loads: list[str], parse: dict[str, float],
           idle: dict[str, dict[str, float]], ticks: dict[str, Any],
           idle_profile: dict[str, Any], parts: list[list[Any]]) -> str:
    samples = ticks["samples"]
    all_ticks = summary([s[0] for s in samples])
    groups = {
        "all ticks": [s[0] for s in samples],
        "with folder scan": [s[0] for s in samples if s[1]],
        "without folder scan": [s[0] for s in samples if not s[1]],
        "with run check": [s[0] for s in samples if s[2]],
        "neither scan nor run check": [s[0] for s in samples if not s[1] and not s[2]],
    }
    tick_rows = []
    for name, values in groups.items():
        if not values:
            continue
        s = summary(values)
        tick_rows.append([name, s["n"], ms(s["median"]), ms(s["p90"]), ms(s["p99"]),
                          ms(s["max"])])
    met_tick = all_ticks["median"] < TARGET_TICK and all_ticks["p99"] < TARGET_TICK
    idle_rows = []
    for name, m in idle.items():
        idle_rows.append([name, f"{m['wall']:.1f}", f"{m['cpu']:.2f}",
                          f"{100 * m['share']:.2f} %", m["ticks"], m["active"],
                          "< 2 %", "yes" if m["share"] < TARGET_IDLE else "no"])
    big_idle = idle[f"{args.dags:,} DAG files"]
    headline = table(
        ["measure", "figure", "target", "met?"],
        [[f"tick, {args.active} active runs, {args.dags:,} DAGs: median / p99",
          f"{ms(all_ticks['median'])} / {ms(all_ticks['p99'])} ms", "< 100 ms",
          "yes" if met_tick else "no"],
         [f"idle loop process CPU, {args.dags:,} DAGs",
          f"{100 * big_idle['share']:.2f} %", "< 2 %",
          "yes" if big_idle["share"] < TARGET_IDLE else "no"],
         [f"first parse of the folder ({args.dags:,} + 1 files)", f"{parse['first']:.1f} s",
          "-", "-"],
         ["folder re-scan, nothing changed (median)", f"{ms(parse['rescan'])} ms", "-", "-"],
         ["first tick of a loop (all DAGs evaluated, runs claimed and submitted)",
          f"{ticks['first_tick']:.2f} s", "-", "-"]], align="lrrr")
    command = ("PYTHONPATH=. python benchmarks/loop_cost.py"
               + (" --quick" if args.quick else "")
               + f" --dags {args.dags} --active {args.active} --ticks {args.ticks}"
               + f" --idle {args.idle:g}"
               + ("" if args.max_wait is None else f" --max-wait {args.max_wait:g}")
               + ("" if args.out is None else f" --out {args.out}"))
    return "\n".join([
        "# Scheduler loop cost: one tick, and idling",
        "",
        f"Generated by `{command}` on {datetime.now():%Y-%m-%d %H:%M}.",
        "",
        f"{args.dags:,} DAG files of 10 tasks (daily cron, not due: history seeded), one "
        "`sleeper` DAG (chain of 10 one-hour sleeps); SQLite; a separate `dask scheduler` + "
        "`dask worker --nworkers 2 --nthreads 1` (subprocesses), so this process is the loop "
        f"and its Dask client only. Loop defaults: {loop_defaults()}; max_wait used here: "
        f"{MAX_WAIT:g} s.",
        "",
        f"Machine: {info}. Load average (1/5/15 min) at the start of each phase: "
        f"{' ; '.join(loads)}.",
        "",
        headline,
        "",
        f"Tick times with {ticks['executions']} runs driven ({args.active * 10} task keys on "
        "the cluster, 2 running), ms, timed as serve() runs them (`tick(now)` after "
        f"`driver.step({MAX_WAIT:g})`):",
        "",
        table(["ticks", "n", "median", "p90", "p99", "max"], tick_rows),
        "",
        "Idle loop process (no run active, nothing due), `serve()` in a thread; CPU = "
        "`getrusage(RUSAGE_SELF)` user+sys of the whole process:",
        "",
        table(["folder", "wall (s)", "CPU (s)", "CPU share", "ticks", "queued or running runs",
               "target", "met?"], idle_rows),
        "",
        f"The recurring parts of an idle tick over the {args.dags:,} DAG files, each timed "
        "alone (median of 40 calls, no profiler); CPU share = time per call x calls per "
        "second (the part's wall time, which is nearly all CPU for these). The `claim_runs` "
        "rows are what each tick would pay if the claim were not skipped:",
        "",
        table(["part", "ms per call", "calls/s", "ms per s", "share of a CPU"], parts),
        "",
        f"Profile of the idle loop's thread, {args.dags:,} DAG files, {idle_profile['wall']:.0f} s "
        f"({idle_profile['ticks']} ticks; that thread used "
        f"{100 * idle_profile['cpu'] / idle_profile['wall']:.2f} % of a CPU, profiler overhead "
        "included). The profiler's clock is the thread's CPU time (`time.thread_time`), so "
        "waiting for events costs nothing here; figures are CPU ms per second of wall time:",
        "",
        profile_text(idle_profile["profile"], idle_profile["wall"], unit="s"),
        "",
        f"Profile of {ticks['profile_ticks']} ticks with the active runs (cProfile; per tick):",
        "",
        profile_text(ticks["profile"], ticks["profile_ticks"]),
        "",
    ])


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="100 DAGs, 20 active runs, 30 ticks, 5 s idle (smoke test)")
    parser.add_argument("--dags", type=int, default=None, help="DAG files (default 1000)")
    parser.add_argument("--active", type=int, default=None, help="active runs (default 100)")
    parser.add_argument("--ticks", type=int, default=None, help="timed ticks (default 200)")
    parser.add_argument("--idle", type=float, default=None, help="idle seconds (default 20)")
    parser.add_argument("--profile-ticks", type=int, default=None)
    parser.add_argument("--max-wait", type=float, default=None,
                        help="serve()'s max_wait for the loops measured (default: serve()'s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="results file (default: benchmarks/results/local/"
                             "loop_cost.md, ignored by git)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    global MAX_WAIT
    if args.max_wait is not None:
        MAX_WAIT = args.max_wait
    quick = args.quick
    args.dags = args.dags or (100 if quick else 1000)
    args.active = args.active or (20 if quick else 100)
    args.ticks = args.ticks or (30 if quick else 200)
    args.idle = args.idle or (5.0 if quick else 20.0)
    profile_ticks = args.profile_ticks or (20 if quick else 100)

    from daskflow.scheduler.dag_folder import DagFolder
    from daskflow.store import Store

    tmp = Path(tempfile.mkdtemp(prefix="daskflow-loopcost-"))
    os.environ["DASKFLOW_HOME"] = str(tmp)
    info = machine_info()
    loads = [load()]
    rng = random.Random(args.seed)
    write_folder(tmp / "dags", args.dags, rng)
    (tmp / "small").mkdir()
    (tmp / "small" / "sleeper.py").write_text(textwrap.dedent(SLEEPER_FILE))
    print(f"wrote {args.dags} DAG files + sleeper.py to {tmp / 'dags'}", flush=True)

    store = Store(f"sqlite:///{tmp}/loop.db")
    store.init()
    folder = DagFolder(tmp / "dags", store)
    t0 = time.perf_counter()
    changes = folder.refresh()
    parse = {"first": time.perf_counter() - t0}
    if folder.errors:
        raise RuntimeError(f"import errors: {folder.errors}")
    rescans = []
    for _ in range(5):
        t0 = time.perf_counter()
        folder.refresh()
        rescans.append(time.perf_counter() - t0)
    parse["rescan"] = summary(rescans)["median"]
    print(f"parsed {len(changes.changed)} DAGs in {parse['first']:.1f} s; re-scan "
          f"{1e3 * parse['rescan']:.1f} ms", flush=True)
    t0 = time.perf_counter()
    seeded = seed_history(store, folder)
    print(f"seeded {seeded} scheduled runs in {time.perf_counter() - t0:.1f} s", flush=True)

    small_store = Store(f"sqlite:///{tmp}/small.db")
    small_store.init()
    small = DagFolder(tmp / "small", small_store)
    small.refresh()

    from distributed import Client

    idle: dict[str, dict[str, float]] = {}
    with ExternalCluster(tmp / "cluster") as cluster, Client(cluster.address) as client:
        loads.append(load())
        idle[f"{args.dags:,} DAG files"] = measure_idle(folder, store, client, args.idle, 3.0)
        print(f"idle, {args.dags} DAGs: {idle[f'{args.dags:,} DAG files']}", flush=True)
        idle["1 DAG file"] = measure_idle(small, small_store, client, args.idle, 3.0)
        print(f"idle, 1 DAG: {idle['1 DAG file']}", flush=True)
        # A queued run that no loop may start (its DAG is paused) keeps the claim's gate
        # open: every tick then pays the full claim.
        blocked = "bench_0000"
        store.set_paused(blocked, True)
        moment = datetime(2025, 3, 1, tzinfo=timezone.utc)
        store.create_dag_run(blocked, "manual__paused_waits", moment, moment, moment,
                             "manual", {}, state="queued", external_trigger=True)
        name = f"{args.dags:,} DAG files + 1 queued run of a paused DAG"
        idle[name] = measure_idle(folder, store, client, args.idle, 3.0)
        print(f"idle, paused DAG's queued run: {idle[name]}", flush=True)
        store.delete_dag_run(blocked, "manual__paused_waits")
        store.set_paused(blocked, False)
        big = idle[f"{args.dags:,} DAG files"]
        parts = idle_parts(folder, store, client, big["ticks"] / big["wall"])
        idle_profile = profile_idle(folder, store, client, args.idle)
        print(f"idle profile: {idle_profile['ticks']} ticks, loop thread CPU "
              f"{idle_profile['cpu']:.2f} s in {idle_profile['wall']:.1f} s", flush=True)
        loads.append(load())
        ticks = measure_ticks(folder, store, client, args.active, args.ticks, profile_ticks)
        s = summary([x[0] for x in ticks["samples"]])
        print(f"ticks: median {ms(s['median'])} ms, p99 {ms(s['p99'])} ms", flush=True)
        loads.append(load())
    text = render(args, info, loads, parse, idle, ticks, idle_profile, parts)
    print()
    print(text)
    path = write_result("loop_cost", text, args.out)
    print(f"written to {path}")
    store.dispose()
    small_store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
