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
import sys
from datetime import datetime
from typing import IO, Any

import click

from daskflow.cli.context import CliContext
from daskflow.cli.options import ClusterOptions
from daskflow.cli.output import emit_json, table_lines
from daskflow.cli.progress import ProgressLine
from daskflow.execution.cluster import connect, dashboard_url
from daskflow.execution.single_run import RunResult, run_once

__all__ = ["ClusterOptions", "run_dag", "show_result"]


def run_dag(obj: CliContext, dag_id: str, logical_date: datetime | None,
            conf: dict[str, Any], cluster: ClusterOptions) -> RunResult:
    """Run ``dag_id`` once and return its result; progress is written to stderr."""
    dag = obj.get_dag(dag_id)
    dag.validate()
    err = sys.stderr
    progress = ProgressLine(err)
    with connect(cluster.address, workers=cluster.workers,
                 threads_per_worker=cluster.threads_per_worker,
                 processes=cluster.processes, timeout=cluster.timeout) as client:
        obj.store(require_schema=False)
        try:
            with contextlib.redirect_stdout(err):
                return run_once(dag, logical_date, conf, cluster=client, db=obj.url,
                                progress=progress, on_cluster=_show_dashboard(err))
        finally:
            progress.close()


def _show_dashboard(err: IO[str]) -> Any:
    def on_cluster(client: Any) -> None:
        url = dashboard_url(client)
        if url:
            click.echo(f"Dask dashboard: {url}", file=err)

    return on_cluster


def show_result(result: RunResult, output: str) -> None:
    """The result as one JSON object, or a table of task instances and the run state."""
    if output == "json":
        emit_json(result.to_json())
        return
    rows = [{"task": name, "state": t.state, "try": t.try_number, "duration": t.duration,
             "error": t.error} for name, t in result.tasks.items()]
    columns = ["task", "state", "try", "duration"]
    if any(t.error for t in result.tasks.values()):
        columns.append("error")
    for line in table_lines(rows, columns):
        click.echo(line)
    click.echo(f"DAG run {result.dag_id} {result.run_id}: {result.state}")
    failed = [t.task_id for t in result.tasks.values() if t.state == "failed"]
    if failed:
        click.echo(f"See why with: daskflow tasks logs {result.dag_id} '{result.run_id}' "
                   f"{failed[0]}", err=True)
