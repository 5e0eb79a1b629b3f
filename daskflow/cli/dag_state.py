"""``daskflow dags pause|unpause|next-runs|versions|list-import-errors``: what the loop sees.

These commands read or change what the scheduler loop keeps per DAG in the
store: whether it is paused, where its schedule continues, which versions
of it ran, and which DAG files failed to import when the loop last parsed
them.
"""

from __future__ import annotations

from datetime import datetime, timezone

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.output import emit_json, output_option, render

NEXT_RUN_COLUMNS = ["logical_date", "data_interval_start", "data_interval_end", "run_after"]


def _set_paused(obj: CliContext, dag_id: str, paused: bool, output: str) -> None:
    from daskflow.scheduler.dag_sync import dag_record

    store = obj.writable_store()
    if store.get_dag(dag_id) is None:
        # Not synced by a loop yet: the DAG must at least be in the folder.
        store.sync_dags([dag_record(obj.get_dag(dag_id))])
    store.set_paused(dag_id, paused)
    if output == "json":
        emit_json({"dag_id": dag_id, "is_paused": paused})
    else:
        click.echo(f"DAG {dag_id} {'paused' if paused else 'unpaused'}")


@click.command("pause")
@click.argument("dag_id")
@dags_folder_option
@db_option
@output_option
@pass_context
def pause(obj: CliContext, dag_id: str, output: str) -> None:
    """Stop creating scheduled runs of DAG_ID until it is unpaused."""
    _set_paused(obj, dag_id, True, output)


@click.command("unpause")
@click.argument("dag_id")
@dags_folder_option
@db_option
@output_option
@pass_context
def unpause(obj: CliContext, dag_id: str, output: str) -> None:
    """Let the scheduler create DAG_ID's scheduled runs again."""
    _set_paused(obj, dag_id, False, output)


@click.command("next-runs")
@click.argument("dag_id")
@click.option("--count", "-n", type=click.IntRange(min=1), default=5, show_default=True,
              help="How many runs to show.")
@dags_folder_option
@db_option
@output_option
@pass_context
def next_runs_command(obj: CliContext, dag_id: str, count: int, output: str) -> None:
    """The next scheduled runs of DAG_ID, after its latest scheduled run in the store.

    Shows when each run is due (run_after): the end of its data interval.
    """
    from daskflow.schedule import DataInterval, next_runs

    dag = obj.get_dag(dag_id)
    store = obj.existing_store()
    latest = store.latest_scheduled_intervals().get(dag_id) if store is not None else None
    if not dag.timetable.can_be_scheduled:
        click.echo(f"DAG {dag_id} has no schedule ({dag.timetable.description}): it runs "
                   "only when triggered.", err=True)
    elif store is not None and dag_id in store.paused_dag_ids():
        click.echo(f"DAG {dag_id} is paused: these runs are created once it is unpaused.",
                   err=True)
    runs = next_runs(dag.timetable, start_date=dag.start_date, end_date=dag.end_date,
                     catchup=dag.catchup, after=DataInterval(*latest) if latest else None,
                     count=count, now=datetime.now(timezone.utc))
    rows = [{"logical_date": r.logical_date, "data_interval_start": r.data_interval.start,
             "data_interval_end": r.data_interval.end, "run_after": r.run_after} for r in runs]
    render(rows, NEXT_RUN_COLUMNS, output)


@click.command("versions")
@click.argument("dag_id")
@db_option
@output_option
@pass_context
def versions(obj: CliContext, dag_id: str, output: str) -> None:
    """The stored versions of DAG_ID, newest first (see `dags show DAG_ID --version ID`)."""
    rows = [vars(v) for v in obj.store().list_dag_versions(dag_id)]
    if not rows:
        click.echo(f"DAG {dag_id} has no stored versions (a version is stored when a loop "
                   "parses the DAG, or a run of it is created).", err=True)
    render(rows, ["version_id", "created_at", "fileloc"], output)


@click.command("list-import-errors")
@dags_folder_option
@db_option
@output_option
@pass_context
def list_import_errors(obj: CliContext, output: str) -> None:
    """DAG files that failed to import when a scheduler loop last parsed them.

    Before any loop has run on the store, the DAG folder is parsed now instead.
    """
    store = obj.existing_store()
    if store is not None:
        rows = [{"filename": e.filename, "timestamp": e.timestamp, "traceback": e.stacktrace}
                for e in store.list_import_errors()]
    else:
        click.echo("No metadata store yet: parsing the DAG folder now.", err=True)
        rows = [{"filename": path, "timestamp": None, "traceback": trace}
                for path, trace in sorted(obj.dagbag().import_errors.items())]
    if output == "json":
        emit_json(rows)
        return
    if not rows:
        click.echo("No import errors.")
    for row in rows:
        when = f" (parsed {row['timestamp']:%Y-%m-%d %H:%M:%S})" if row["timestamp"] else ""
        click.echo(f"{row['filename']}{when}:")
        click.echo(row["traceback"].rstrip("\n"))
        click.echo("")
