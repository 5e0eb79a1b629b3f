"""``daskflow dags pause|unpause|next-runs|versions|list-import-errors``: what the loop sees.

These commands read or change what the scheduler loop keeps per DAG in the
store: whether it is paused, where its schedule continues, which versions
of it ran, and which DAG files failed to import when the loop last parsed
them. Like ``dags trigger`` they need only ``--db``: a DAG the store knows is
read from the file a loop recorded for it (``CliContext.known_dag``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.output import emit_json, output_option, render

NEXT_RUN_COLUMNS = ["logical_date", "data_interval_start", "data_interval_end", "run_after"]


def _set_paused(obj: CliContext, dag_id: str, paused: bool, output: str) -> None:
    from daskflow.scheduler.dag_sync import dag_record

    known = obj.existing_store()
    if known is None or known.get_dag(dag_id) is None:
        # Not synced by a loop yet: the DAG must at least be in the folder.
        dag = obj.known_dag(dag_id)
        store = obj.writable_store()
        store.sync_dags([dag_record(dag)])
    else:
        store = known
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

    dag = obj.known_dag(dag_id)
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
    store = obj.store()
    rows = [vars(v) for v in store.list_dag_versions(dag_id)]
    if not rows and store.get_dag(dag_id) is None:
        known = ", ".join(d.dag_id for d in store.list_dags()) or "none"
        raise CliError(f"DAG {dag_id!r} is not in the metadata store (DAGs it knows: {known}); "
                       "check the DAG id and --db")
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
    """DAG files that fail to import: the DAG folder's, checked now, and those loops recorded.

    The DAG folder (--dags-folder, else the configured one), when it is on
    this host, is parsed now: what a loop recorded may be older than the
    files, or no loop may have parsed them yet. Errors that loops recorded
    for files elsewhere (another host's folder) are listed as recorded.
    """
    store = obj.existing_store()
    recorded = store.list_import_errors() if store is not None else []
    rows = {e.filename: {"filename": e.filename, "timestamp": e.timestamp,
                         "traceback": e.stacktrace} for e in recorded}
    folder = _local_folder(obj)
    if folder is not None:
        bag = obj.dagbag()
        for filename in [f for f in rows if Path(f).is_relative_to(bag.folder)]:
            del rows[filename]  # parsed just now: that is what the file says today
        rows.update({path: {"filename": path, "timestamp": None, "traceback": trace}
                     for path, trace in bag.import_errors.items()})
    listed = [rows[f] for f in sorted(rows)]
    if output == "json":
        emit_json(listed)
        return
    if not listed:
        click.echo(_nothing_found(obj, folder, store is not None))
    for row in listed:
        when = (f"recorded by a scheduler loop {row['timestamp']:%Y-%m-%d %H:%M:%S}"
                if row["timestamp"] else "parsed now")
        click.echo(f"{row['filename']} ({when}):")
        click.echo(row["traceback"].rstrip("\n"))
        click.echo("")


def _local_folder(obj: CliContext) -> Path | None:
    """The DAG folder to parse: ``--dags-folder`` (which must exist), else the configured
    one if it is on this host."""
    if obj.dags_folder is not None:
        return obj.folder()
    from daskflow import config

    folder = config.dags_folder()
    return folder if folder.exists() else None


def _nothing_found(obj: CliContext, folder: Path | None, has_store: bool) -> str:
    """What "no import errors" covers: the folder parsed now, the loops' records, or both."""
    from daskflow.store.engine import mask_url

    url = mask_url(obj.url)
    if folder is not None:
        loops = f", and scheduler loops recorded none in {url}" if has_store else ""
        return f"No import errors: every DAG file of {folder} imports (parsed now){loops}."
    if has_store:
        return (f"No import errors recorded by scheduler loops in {url}; no DAG folder here "
                "to parse (pass --dags-folder to check one).")
    return (f"Nothing to check: no DAG folder here (pass --dags-folder) and no metadata store "
            f"at {url}.")
