"""The suite's JSON report as Markdown: the machine, then one table per workload.

Each time is shown as its median with the range of the runs after it, and
every row carries the load average before it ran, so a reader can tell a
slow machine from a slow daskflow. Targets are printed, never enforced.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

TARGETS = {
    "cpu": "speed-up at 2 workers at least 1.8x the 1-worker time on a 2-core machine",
    "io": "256 x 0.2 s finishes in under 2 s with 64 threads in all",
    "handoff": "the array is never written to the metadata database",
}


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table, first column left-aligned, the rest right-aligned.

    >>> print(table(["a", "b"], [[1, 2]]))
    | a | b |
    |---|---:|
    | 1 | 2 |
    """
    marks = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def seconds(summary: dict[str, Any]) -> str:
    """``1.234 (1.100-1.400)``: the median and the range of the runs."""
    return f"{summary['median']:.3f} ({summary['min']:.3f}-{summary['max']:.3f})"


def _mib(summary: dict[str, Any]) -> str:
    return f"{summary['median']:.1f} ({summary['min']:.1f}-{summary['max']:.1f})"


def _load(rec: dict[str, Any]) -> str:
    return f"{rec['load_before'][0]:.1f}"


def _overhead(recs: list[dict[str, Any]]) -> str:
    return table(["case", "tasks", "workers", "dask s", "daskflow s", "dask us/task",
                  "daskflow us/task", "added us/task", "ratio", "load"],
                 [[r["case"], r["tasks"], r["workers"], seconds(r["dask_s"]),
                   seconds(r["daskflow_s"]), f"{r['dask_per_task_us']:.0f}",
                   f"{r['daskflow_per_task_us']:.0f}", f"{r['overhead_per_task_us']:.0f}",
                   f"{r['ratio']:.2f}x", _load(r)] for r in recs])


def _lag(recs: list[dict[str, Any]]) -> str:
    return table(["workers", "hops", "dask median ms", "dask p99 ms", "daskflow median ms",
                  "daskflow p99 ms", "load"],
                 [[r["workers"], r["dask_lag_ms"]["n"], f"{r['dask_lag_ms']['median']:.1f}",
                   f"{r['dask_lag_ms']['p99']:.1f}", f"{r['daskflow_lag_ms']['median']:.1f}",
                   f"{r['daskflow_lag_ms']['p99']:.1f}", _load(r)] for r in recs])


def _scaling(recs: list[dict[str, Any]]) -> str:
    return table(["case", "workers", "threads", "dask s", "daskflow s", "dask speed-up",
                  "daskflow speed-up", "daskflow efficiency", "ratio", "load"],
                 [[r["case"], r["workers"], r["threads"], seconds(r["dask_s"]),
                   seconds(r["daskflow_s"]), f"{r['dask_speedup']:.2f}x",
                   f"{r['daskflow_speedup']:.2f}x", f"{r['daskflow_efficiency']:.0%}",
                   f"{r['ratio']:.2f}x", _load(r)] for r in recs])


def _handoff(recs: list[dict[str, Any]]) -> str:
    def size(n: int | None) -> str:
        return "-" if n is None else f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n:,} B"

    return table(["case", "workers", "dask s", "daskflow s", "ratio", "database growth",
                  "XCom rows", "largest XCom", "result store growth", "array in database?",
                  "load"],
                 [[r["case"], r["workers"], seconds(r["dask_s"]), seconds(r["daskflow_s"]),
                   f"{r['ratio']:.2f}x", size(r["database"]["db_growth_bytes"]),
                   r["database"]["xcom_rows"], size(r["database"]["largest_xcom_bytes"]),
                   size(r["database"]["result_store_growth_bytes"]),
                   "yes" if r["database"]["array_in_db"] else "no", _load(r)] for r in recs])


def _memory(recs: list[dict[str, Any]]) -> str:
    return table(["case", "workers", "RSS before MiB", "peak RSS MiB", "growth MiB", "run s",
                  "load"],
                 [[r["case"], r["workers"], f"{r['baseline_mib']['median']:.0f}",
                   f"{r['peak_mib']['median']:.0f}", _mib(r["growth_mib"]),
                   seconds(r["daskflow_s"]), _load(r)] for r in recs])


SECTIONS: dict[str, tuple[str, Callable[[list[dict[str, Any]]], str]]] = {
    "overhead": ("Per-task overhead (no-op tasks)", _overhead),
    "lag": ("Task lag: upstream end to downstream start", _lag),
    "cpu": ("CPU-bound scaling (pure Python)", _scaling),
    "io": ("I/O-bound scaling (sleeping tasks)", _scaling),
    "handoff": ("Data hand-off", _handoff),
    "memory": ("Peak memory of the driving process", _memory),
}


def markdown(report: dict[str, Any]) -> str:
    """The whole report: a heading with machine and settings, then a section per workload."""
    m, s = report["machine"], report["settings"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    where = f"existing cluster {s['cluster']}" if s["cluster"] else (
        f"embedded LocalCluster, sizes {', '.join(map(str, s['sizes']))} workers x "
        f"{s['threads_per_worker']} thread(s), {'processes' if s['processes'] else 'threads'}")
    lines = [
        "# daskflow bench",
        "",
        f"`{' '.join(s['command'])}`, {report['started'][:16]} to {report['finished'][11:16]} UTC.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}, "
        f"Python {m['python']}; {versions}. Load average (1/5/15 min) at the start "
        f"{'/'.join(map(str, m['load_average']))}, at the end "
        f"{'/'.join(map(str, m['load_average_after']))}.",
        "",
        f"Cluster: {where}. Each time is the median of {s['repeat']} run(s) with their range; "
        "`load` is the 1-minute load average before the row ran."
        + (" A `--quick` run: small workloads, a smoke test, not a measurement."
           if s["quick"] else ""),
    ]
    for name, (title, render) in SECTIONS.items():
        recs = [r for r in report["results"] if r["workload"] == name and "error" not in r]
        if not recs:
            continue
        lines += ["", f"## {title}", ""]
        if name in TARGETS:
            lines += [f"Target: {TARGETS[name]}.", ""]
        lines.append(render(recs))
    failed = [r for r in report["results"] if "error" in r]
    if failed:
        lines += ["", "## Failed", "", table(["workload", "workers", "load", "error"], [
            [r["workload"], r["workers"], _load(r), r["error"].replace("|", "/")[:300]]
            for r in failed])]
    return "\n".join(lines) + "\n"
