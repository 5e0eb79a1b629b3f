"""``daskflow runs``: the DAG runs recorded in the metadata store."""

from __future__ import annotations

import click

from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.output import output_option, render
from daskflow.models.state import DagRunState

COLUMNS = ["dag_id", "run_id", "state", "logical_date", "start", "end", "run_type",
           "dag_version", "reason"]


@click.group("runs")
def runs_group() -> None:
    """Inspect DAG runs."""


@runs_group.command("list")
@click.option("--dag-id", default=None, help="Only the runs of this DAG.")
@click.option("--state", type=click.Choice([s.value for s in DagRunState]), default=None,
              help="Only runs in this state.")
@click.option("--limit", type=click.IntRange(min=1), default=None,
              help="At most this many runs (newest logical date first).")
@db_option
@output_option
@pass_context
def list_runs(obj: CliContext, dag_id: str | None, state: str | None, limit: int | None,
              output: str) -> None:
    """List DAG runs, newest logical date first."""
    runs = obj.store().list_dag_runs(dag_id=dag_id, state=state, limit=limit)
    rows = [{**vars(run), "start": run.start_date, "end": run.end_date} for run in runs]
    render(rows, COLUMNS, output)
