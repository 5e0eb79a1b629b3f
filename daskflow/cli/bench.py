"""``daskflow bench``: the benchmark suite across cluster sizes, from the command line.

A thin layer over :mod:`daskflow.bench.suite`: it reads the options, shows
a progress bar on stderr while the suite runs, and writes the results
where ``--out`` says, or to a new temporary folder it prints. Nothing is
asserted: targets are printed beside the figures.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import click

from daskflow.cli.errors import CliError
from daskflow.cli.options import cluster_option

WORKLOAD_NAMES = ("overhead", "lag", "cpu", "io", "handoff", "memory")


def _sizes(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of worker counts, "
                                 "e.g. 1,2,4") from None
    if not sizes or min(sizes) < 1:
        raise click.BadParameter("worker counts must be at least 1, e.g. 1,2,4")
    return sizes


def _names(ctx: click.Context, param: click.Parameter, value: str | None
           ) -> tuple[str, ...]:
    if not value:
        return WORKLOAD_NAMES
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    unknown = sorted(set(names) - set(WORKLOAD_NAMES))
    if unknown:
        raise click.BadParameter(f"unknown {unknown}; choose from {', '.join(WORKLOAD_NAMES)}")
    return names


@click.command("bench")
@click.option("--sizes", default="1,2,4", show_default=True, callback=_sizes,
              help="Worker counts of the embedded LocalCluster, one cluster per size.")
@click.option("--threads-per-worker", type=click.IntRange(min=1), default=1, show_default=True,
              help="Threads of each worker. The I/O workload runs on a cluster of its own "
                   "with 64 threads in all (8 with --quick), split over the workers.")
@click.option("--processes/--threads", default=True, show_default=True,
              help="Workers in processes, or threads of this process.")
@cluster_option
@click.option("--quick", is_flag=True, help="Small workloads and one repeat: a smoke test.")
@click.option("--repeat", type=click.IntRange(min=1), default=None,
              help="Runs per figure; the median is reported.  [default: 3, 1 with --quick]")
@click.option("--only", callback=_names, metavar="NAMES",
              help=f"Comma-separated workloads to run, of: {', '.join(WORKLOAD_NAMES)}.")
@click.option("--out", metavar="DIR",
              help="Folder for results.json, results.md and the plot.  "
                   "[default: a new temporary folder]")
@click.option("--no-png", is_flag=True, help="Skip the PNG screenshot of the plot.")
def bench(sizes: tuple[int, ...], threads_per_worker: int, processes: bool,
          cluster: str | None, quick: bool, repeat: int | None, only: tuple[str, ...],
          out: str | None, no_png: bool) -> None:
    """Run the benchmark suite at each cluster size; write JSON, Markdown and a plot.

    Each workload runs through daskflow and as plain Dask on the same
    cluster, so ratios are side by side. A full run at sizes 1,2,4 takes
    several minutes on a 2-core machine; --quick takes well under one.
    """
    from daskflow.bench.output import output_folder, write_outputs
    from daskflow.bench.suite import Settings, failures, run_suite, total_steps

    settings = Settings(sizes=sizes, threads_per_worker=threads_per_worker,
                        processes=processes, cluster=cluster, quick=quick,
                        repeat=repeat or (1 if quick else 3), workloads=only,
                        command=["daskflow", *sys.argv[1:]])
    folder = output_folder(out)
    # The store and the result store of the runs are scratch (the hand-off alone
    # writes gigabytes of outcome files): never in the output folder, gone at the end.
    scratch = tempfile.TemporaryDirectory(prefix="daskflow-bench-work-")
    # Every record so far, after each workload: what an interrupted run leaves.
    partial = folder / "partial.json"
    bar = click.progressbar(length=total_steps(settings), label="daskflow bench",
                            file=sys.stderr, show_pos=True, item_show_func=lambda label: label)
    with scratch, bar:
        try:
            report = run_suite(settings, Path(scratch.name),
                               progress=lambda label: bar.update(1, label),
                               checkpoint=lambda records: partial.write_text(
                                   json.dumps(records, indent=1) + "\n"))
        except RuntimeError as exc:
            raise CliError(f"benchmark failed: {exc}") from None
    written = write_outputs(report, folder, png=not no_png)
    partial.unlink(missing_ok=True)
    click.echo(written["markdown"].read_text())
    for kind, path in written.items():
        click.echo(f"{kind}: {path}", err=True)
    failed = failures(report)
    if failed:
        names = ", ".join(sorted({f"{r['workload']} at {r['workers']}" for r in failed}))
        raise CliError(f"{len(failed)} workload(s) failed ({names}); "
                       f"see the Failed section of {written['markdown']}")
