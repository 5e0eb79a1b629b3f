"""``daskflow dags trigger``: queue a manual run for a scheduler loop to start.

Triggering only writes a ``queued`` run; a running ``daskflow scheduler`` (or
``dags backfill``) on the same store claims it on its next tick. As in
Airflow, the run is named ``manual__<logical date>`` and its data interval
is the one the DAG's schedule gives a run triggered at that date. The run
records the DAG id and conf only, never code: the loop that starts it runs
the DAG as the loop's own DAG folder defines it at that moment, and records
that version. A trigger can therefore not make a loop run code from another
folder.

The DAG is checked and its schedule read before anything is written: from
the file a loop recorded for it in the store, so that ``--db`` is all a
trigger from another terminal needs (``CliContext.known_dag``), or from
``--dags-folder`` when that is given.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.options import conf_option, logical_date_option
from daskflow.cli.output import emit_json, output_option


def manual_run_id(logical_date: datetime) -> str:
    """Airflow's name for a triggered run.

    >>> manual_run_id(datetime(2025, 1, 31, tzinfo=timezone.utc))
    'manual__2025-01-31T00:00:00+00:00'
    """
    return f"manual__{logical_date.isoformat()}"


@click.command("trigger")
@click.argument("dag_id")
@dags_folder_option
@db_option
@logical_date_option
@conf_option
@click.option("--run-id", metavar="ID", default=None,
              help="Name of the run. [default: manual__<logical date>]")
@output_option
@pass_context
def trigger(obj: CliContext, dag_id: str, logical_date: datetime | None,
            conf: dict[str, Any], run_id: str | None, output: str) -> None:
    """Queue a run of DAG_ID; a running `daskflow scheduler` starts it within a second.

    Prints the run id (with --output json, the run). A DAG may have one run
    per logical date: triggering a date that has a run fails.
    """
    if run_id is not None and not run_id.strip():
        raise CliError("--run-id must not be empty")
    dag = obj.known_dag(dag_id)
    dag.validate()
    store = obj.writable_store()
    logical = logical_date or datetime.now(timezone.utc)
    interval = dag.timetable.infer_manual_data_interval(logical)
    run = store.create_dag_run(
        dag_id, run_id or manual_run_id(logical), logical, interval.start, interval.end,
        "manual", conf, state="queued", external_trigger=True)
    if output == "json":
        emit_json(vars(run))
        return
    click.echo(run.run_id)
    click.echo(f"Queued run {run.run_id!r} of DAG {dag_id!r}; a running `daskflow scheduler` "
               "on this store starts it.", err=True)
