"""``daskflow dags backfill``: runs for past intervals, created and seen through to the end.

A backfill is two steps that can be told apart:

1. **Plan and create.** The DAG's schedule lists the intervals whose logical
   date lies between ``--start-date`` and ``--end-date`` (both included);
   each one without a run gets a ``queued`` run ``backfill__<logical date>``.
   A date that already has a run keeps it, whatever its state: it is shown,
   not replaced (clear it with ``daskflow tasks clear`` to run it again).
2. **Run.** The command starts a scheduler loop of its own that creates no
   scheduled runs and only claims queued ones, exactly as ``daskflow
   scheduler`` does, so ``max_active_runs`` holds and a ``daskflow
   scheduler`` already running on the store simply shares the work (claims
   are atomic). When every run of the range has finished, the loop hands
   back whatever else it had claimed and the command prints each run's state.

Exit code 0 means every run of the range succeeded, 1 that some did not.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.options import (
    ClusterOptions,
    cluster_option,
    cluster_timeout_option,
    local_cluster_options,
    parse_date,
)
from daskflow.cli.output import output_option, render
from daskflow.cli.progress import ProgressLine, run_bar
from daskflow.cli.serving import (
    build_loop,
    cluster_and_notifier,
    echo_err,
    log_to_stderr,
    stop_on_signals,
)

if TYPE_CHECKING:  # imported where used: they pull in Dask and SQLAlchemy
    from daskflow.schedule import DataInterval
    from daskflow.scheduler.loop import SchedulerLoop
    from daskflow.store import DagRunRecord, Store

#: Exit code when some run of the range did not succeed.
RUNS_FAILED = 1
FINISHED = frozenset({"success", "failed"})
#: Seconds between two reads of the runs' states while waiting.
POLL_INTERVAL = 0.5


def backfill_run_id(logical_date: datetime) -> str:
    """Airflow's name for a backfill run: ``backfill__<logical date ISO>``."""
    return f"backfill__{logical_date.isoformat()}"


@dataclass
class BackfillRun:
    """One interval of the range and its run: created now, or found."""

    interval: DataInterval
    run_id: str
    state: str
    created: bool

    @property
    def row(self) -> dict[str, Any]:
        return {"logical_date": self.interval.start, "run_id": self.run_id,
                "state": self.state, "run": "created" if self.created else "existing"}


def existing_runs(store: Store, dag_id: str, intervals: Sequence[DataInterval]
                  ) -> dict[datetime, DagRunRecord]:
    """The runs that already hold logical dates of ``intervals``."""
    wanted = {i.start for i in intervals}
    return {r.logical_date: r for r in store.list_dag_runs(dag_id=dag_id)
            if r.logical_date in wanted}


def create_runs(store: Store, dag: Any, intervals: Sequence[DataInterval]) -> list[BackfillRun]:
    """A queued ``backfill`` run for each interval without a run; the others as found."""
    from daskflow.store import RunExistsError

    found = existing_runs(store, dag.dag_id, intervals)
    runs = []
    for interval in intervals:
        run = found.get(interval.start)
        if run is None:
            try:
                run = store.create_dag_run(
                    dag.dag_id, backfill_run_id(interval.start), interval.start,
                    interval.start, interval.end, "backfill", {}, state="queued",
                    external_trigger=False)
                runs.append(BackfillRun(interval, run.run_id, run.state, True))
                continue
            except RunExistsError:  # created meanwhile by a loop or another backfill
                run = existing_runs(store, dag.dag_id, [interval])[interval.start]
        runs.append(BackfillRun(interval, run.run_id, run.state, False))
    return runs


def wait_for_runs(loop: SchedulerLoop, store: Store, dag_id: str, runs: list[BackfillRun],
                  stop: threading.Event, progress: ProgressLine) -> None:
    """Drive ``loop`` until every run in ``runs`` has finished (or ``stop`` is set)."""
    from daskflow.scheduler.loop import utcnow

    by_id = {r.run_id: r for r in runs}
    next_poll = 0.0
    while not stop.is_set():
        loop.tick(utcnow())
        loop.step(0.2)
        if time.monotonic() < next_poll:
            continue
        next_poll = time.monotonic() + POLL_INTERVAL
        for record in store.list_dag_runs(dag_id=dag_id):
            if record.run_id in by_id:
                by_id[record.run_id].state = record.state
        progress(_counts(runs))
        if all(r.state in FINISHED for r in runs):
            return


def _counts(runs: Sequence[BackfillRun]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.state] = counts.get(run.state, 0) + 1
    return counts


def _intervals(dag: Any, start: datetime, end: datetime) -> list[DataInterval]:
    if end < start:
        raise CliError(f"--end-date {end.isoformat()} is before --start-date "
                       f"{start.isoformat()}")
    intervals = dag.timetable.intervals_between(start, end)
    if not intervals:
        raise CliError(f"no intervals between {start.isoformat()} and {end.isoformat()} "
                       f"for schedule {dag.timetable.description!r} of DAG {dag.dag_id!r}")
    return intervals


def _required_date(ctx: click.Context, param: click.Parameter, value: str) -> datetime:
    parsed = parse_date(value)
    assert parsed is not None  # the option is required
    return parsed


@click.command("backfill")
@click.argument("dag_id")
@click.option("--start-date", "-s", metavar="DATE", required=True, callback=_required_date,
              help="First logical date of the range (ISO date or datetime; naive is UTC).")
@click.option("--end-date", "-e", metavar="DATE", required=True, callback=_required_date,
              help="Last logical date of the range, included.")
@dags_folder_option
@db_option
@cluster_option
@cluster_timeout_option
@local_cluster_options
@output_option
@pass_context
@click.pass_context
def backfill(ctx: click.Context, obj: CliContext, dag_id: str, start_date: datetime,
             end_date: datetime, cluster: str | None, cluster_timeout: float,
             workers: int | None, threads_per_worker: int | None, processes: bool,
             output: str) -> None:
    """Run DAG_ID for every interval from --start-date to --end-date, then report.

    Missing runs are created (run type backfill) and run on this command's
    cluster, within the DAG's max_active_runs; a scheduler running on the
    same store shares them. Exit 1 if any run of the range did not succeed.
    """
    dag = obj.get_dag(dag_id)
    dag.validate()
    intervals = _intervals(dag, start_date, end_date)
    store = obj.writable_store()
    found = existing_runs(store, dag_id, intervals)
    if len(found) == len(intervals) and all(r.state in FINISHED for r in found.values()):
        runs = [BackfillRun(i, found[i.start].run_id, found[i.start].state, False)
                for i in intervals]
        echo_err(f"Every interval of the range already has a finished run of DAG {dag_id}.")
    else:
        options = ClusterOptions(cluster, workers, threads_per_worker, processes,
                                 cluster_timeout)
        runs = _run(obj, store, dag, intervals, options)
    render([r.row for r in runs], ["logical_date", "run_id", "state", "run"], output)
    if any(r.state != "success" for r in runs):
        ctx.exit(RUNS_FAILED)


def _run(obj: CliContext, store: Store, dag: Any, intervals: Sequence[DataInterval],
         cluster: ClusterOptions) -> list[BackfillRun]:
    """Connect, create the runs, and drive a loop until they have all finished."""
    from daskflow.execution.cluster import dashboard_url

    stop = threading.Event()
    progress = ProgressLine(sys.stderr, every=10.0,
                            text=lambda counts: run_bar(counts, len(intervals)))
    with stop_on_signals(stop) as received, log_to_stderr(logging.WARNING), \
            cluster_and_notifier(cluster) as (client, notifier):
        runs = create_runs(store, dag, intervals)
        created = sum(r.created for r in runs)
        echo_err(f"Backfill of DAG {dag.dag_id}: {len(runs)} intervals, {created} runs "
                 f"created, {len(runs) - created} existing.")
        loop = build_loop(obj, store, client, notifier, create_scheduled=False)
        echo_err(f"Dask dashboard: {dashboard_url(client) or 'not available'}")
        try:
            wait_for_runs(loop, store, dag.dag_id, runs, stop, progress)
        finally:
            progress.close()
            loop.shutdown()
        if received:
            echo_err(f"Interrupted by {received[0]}: unfinished runs stay queued or running "
                     "for `daskflow scheduler` (or this backfill, started again) to finish.")
    return runs
