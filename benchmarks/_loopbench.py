"""Helpers shared by the benchmarks (overhead, schedule_latency, loop_cost, fault_injection).

Nothing here times anything by itself: percentiles, the machine description
that heads every results file, a markdown table writer, where a results file
goes (``results/local/``, ignored by git, unless ``--out`` names a file), and a
way to start a separate ``dask scheduler`` + ``dask worker`` cluster whose
processes this script owns (and stops by their process group id, never by name).
"""

from __future__ import annotations

import math
import os
import platform
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
#: Where a run goes when no ``--out`` is given: ignored by git, so that trying a
#: benchmark never changes the committed figures in ``RESULTS``.
LOCAL_RESULTS = RESULTS / "local"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    """n, median, p90, p99, min and max of ``values``."""
    return {"n": len(values), "median": percentile(values, 50), "p90": percentile(values, 90),
            "p99": percentile(values, 99), "min": min(values, default=float("nan")),
            "max": max(values, default=float("nan"))}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """A markdown table; ``align`` is one letter per column, ``l`` or ``r`` (default: r)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---" if a == "l" else "---:" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def machine_versions() -> dict[str, str]:
    """The machine and the versions that matter, as fields (shared by every benchmark)."""
    import dask
    import distributed
    import sqlalchemy

    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "dask": dask.__version__, "distributed": distributed.__version__,
            "sqlalchemy": sqlalchemy.__version__, "platform": platform.platform()}


def machine_info() -> str:
    """One line naming the machine and the versions that matter."""
    v = machine_versions()
    return (f"daskflow {revision()}, nproc {v['nproc']}, cpu {v['cpu']}, "
            f"python {v['python']}, dask {v['dask']}, distributed {v['distributed']}, "
            f"sqlalchemy {v['sqlalchemy']}, {v['platform']}")


def revision() -> str:
    """The daskflow commit measured, and whether ``daskflow/`` had uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "daskflow"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not head:
        return "unknown"
    return head + (" (+ uncommitted changes in daskflow/)" if dirty else "")


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def result_path(name: str, out: str | None = None) -> Path:
    """The file a benchmark writes: ``--out`` if given, else ``results/local/NAME.md``.

    Only an explicit ``--out benchmarks/results/NAME.md`` replaces a committed result.
    """
    return Path(out) if out else LOCAL_RESULTS / f"{name}.md"


def write_result(name: str, text: str, out: str | None = None) -> Path:
    path = result_path(name, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def child_env(home: Path | str) -> dict[str, str]:
    """The environment of processes this benchmark starts: daskflow importable, own home."""
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return {**os.environ, "PYTHONPATH": path, "DASKFLOW_HOME": str(home)}


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
    """Stop the process group this script started for ``proc`` (SIGKILL if it lingers)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
            proc.wait(timeout=timeout)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still alive
    except ProcessLookupError:
        pass
    proc.wait()


class ExternalCluster:
    """``dask scheduler`` + ``dask worker --nworkers N --nthreads T`` as subprocesses.

    Each command runs in its own session, so the group can be stopped as a whole
    by its id. Use as a context manager; ``address`` is the scheduler's.
    """

    def __init__(self, home: Path, workers: int = 2, threads: int = 1) -> None:
        self.home = Path(home)
        self.workers = workers
        self.threads = threads
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def __enter__(self) -> ExternalCluster:
        env = child_env(self.home)
        self.home.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.home / "scheduler.json"
        log = open(self.home / "scheduler.log", "w")
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
             "--port", "0", "--dashboard-address", ":0", "--scheduler-file",
             str(scheduler_file)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if time.monotonic() > deadline or self.procs[0].poll() is not None:
                raise RuntimeError("dask scheduler did not start; see " + str(log.name))
            time.sleep(0.1)
        time.sleep(0.2)  # the file is written in one go, but let it settle
        import json

        self.address = json.loads(scheduler_file.read_text())["address"]
        wlog = open(self.home / "workers.log", "w")
        self.procs.append(subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", self.address,
             "--nworkers", str(self.workers), "--nthreads", str(self.threads),
             "--no-dashboard", "--local-directory", str(self.home / "workers")],
            env=env, stdout=wlog, stderr=subprocess.STDOUT, start_new_session=True))
        from distributed import Client

        with Client(self.address, timeout=30) as client:
            client.wait_for_workers(self.workers, timeout=120)
        return self

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def __exit__(self, *exc: object) -> None:
        for proc in reversed(self.procs):
            stop_group(proc)


def loop_defaults() -> str:
    """The SchedulerLoop settings the benchmarks leave at their defaults, read from the code."""
    import inspect

    from daskflow.scheduler.loop import SchedulerLoop

    init = inspect.signature(SchedulerLoop.__init__).parameters
    serve = inspect.signature(SchedulerLoop.serve).parameters
    stale = init["stale_after"].default
    stale = stale.total_seconds() if hasattr(stale, "total_seconds") else stale
    return (f"parse interval {init['parse_interval'].default:g} s, heartbeat "
            f"{init['heartbeat_interval'].default:g} s, stale after {stale:g} s, "
            f"`serve()` max_wait {serve['max_wait'].default:g} s")


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
