"""``daskflow dags test``: one run of one DAG, watched from the terminal.

A thin layer over :func:`daskflow.execution.single_run.run_once`. Its one
addition is the order of the checks: the DAG is found and validated, the
cluster is reached (and checked to have daskflow) and the store opened
before ``run_once`` creates the run, so an unreachable ``--cluster`` or
``--db`` fails with nothing written. The cluster comes first because opening
a SQLite store creates its file.

Everything but the result goes to stderr: the dashboard URL, the progress
line, and anything printed outside a task while the run goes on. Output of
the tasks themselves lands in their logs (``daskflow tasks logs``).
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

import click

from daskflow.cli.context import CliContext
from daskflow.cli.options import ClusterOptions
from daskflow.cli.output import emit_json, table_lines
from daskflow.cli.progress import ProgressLine
from daskflow.cli.serving import sigint_ignored, stop_on_signals
from daskflow.execution.cluster import connect, dashboard_url
from daskflow.execution.single_run import RunResult, run_once

__all__ = ["ClusterOptions", "run_dag", "show_result"]


def run_dag(obj: CliContext, dag_id: str, logical_date: datetime | None,
            conf: dict[str, Any], cluster: ClusterOptions,
            after: Callable[[RunResult, Any], None] | None = None) -> RunResult:
    """Run ``dag_id`` once and return its result; progress is written to stderr.

    ``after`` is called with the result and the Dask client before the
    cluster closes (``--keep-dashboard`` waits there).
    """
    dag = obj.get_dag(dag_id)
    dag.validate()
    err = sys.stderr
    progress = ProgressLine(err)
    with contextlib.ExitStack() as stack:
        # Workers started while SIGINT is ignored outlive a Ctrl-C meant for this process.
        with sigint_ignored() if after is not None else contextlib.nullcontext():
            client = stack.enter_context(connect(
                cluster.address, workers=cluster.workers,
                threads_per_worker=cluster.threads_per_worker, processes=cluster.processes,
                timeout=cluster.timeout))
        obj.store(require_schema=False)
        try:
            with contextlib.redirect_stdout(err):
                result = run_once(dag, logical_date, conf, cluster=client, db=obj.url,
                                  progress=progress, on_cluster=_show_dashboard(err))
        finally:
            progress.close()
        if after is not None:
            after(result, client)
        return result


def _show_dashboard(err: IO[str]) -> Any:
    def on_cluster(client: Any) -> None:
        url = dashboard_url(client)
        if url:
            click.echo(f"Dask dashboard: {url}", file=err)

    return on_cluster


def keep_dashboard(client: Any, local: bool) -> None:
    """Keep the cluster and its dashboard up until Ctrl-C or SIGTERM (``--keep-dashboard``)."""
    url = dashboard_url(client)
    if not local:
        click.echo(f"The cluster's dashboard stays up with the cluster: {url}", err=True)
        return
    if url is None:
        click.echo("This cluster has no dashboard (install bokeh); not waiting", err=True)
        return
    stop = threading.Event()
    with stop_on_signals(stop):
        click.echo(f"Keeping the cluster and its dashboard up at {url}; press Ctrl-C to "
                   "stop.", err=True)
        while not stop.wait(0.5):
            pass
    click.echo("Dashboard stopped.", err=True)


def run_tries(obj: CliContext, result: RunResult) -> dict[str, list[dict[str, Any]]]:
    """Every try of every task instance of the run, as recorded: ``{"load[2]": [...]}``.

    Each try is ``{"try_number", "state", "error"}``, the error being the
    one-line summary of why that try failed (the traceback is in its log).
    """
    tries: dict[str, list[dict[str, Any]]] = {}
    for attempt in obj.store(require_schema=False).list_run_attempts(result.dag_id,
                                                                     result.run_id):
        name = (attempt.task_id if attempt.map_index < 0
                else f"{attempt.task_id}[{attempt.map_index}]")
        tries.setdefault(name, []).append({"try_number": attempt.try_number,
                                           "state": attempt.state, "error": attempt.error})
    return tries


def show_result(result: RunResult, output: str,
                tries: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """The result as one JSON object, or a table of task instances and the run state.

    The JSON gives each task instance its ``tries`` (see :func:`run_tries`).
    """
    if output == "json":
        data = result.to_json()
        for name, task in data["tasks"].items():
            task["tries"] = (tries or {}).get(name, [])
        emit_json(data)
        return
    rows = [{"task": name, "state": t.state, "try": t.try_number, "duration": t.duration,
             "error": t.error} for name, t in result.tasks.items()]
    columns = ["task", "state", "try", "duration"]
    if any(t.error for t in result.tasks.values()):
        columns.append("error")
    for line in table_lines(rows, columns):
        click.echo(line)
    click.echo(f"DAG run {result.dag_id} {result.run_id}: {result.state}")
    failed = [name for name, t in result.tasks.items() if t.state == "failed"]
    if failed:
        command = ["daskflow", "tasks", "logs", result.dag_id, result.run_id, failed[0]]
        click.echo(f"See why with: {shlex.join(command)}", err=True)
