"""``daskflow dags``: list the DAGs of the folder, show one, test-run one.

The group's other commands live in modules of their own (``trigger.py``,
``backfill.py``, ``dag_state.py``), imported when they are used (``lazy.py``).
"""

from __future__ import annotations

from typing import Any

import click

from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import CliError, last_line
from daskflow.cli.lazy import LazyGroup
from daskflow.cli.options import (
    cluster_option,
    cluster_timeout_option,
    conf_option,
    local_cluster_options,
    logical_date_option,
)
from daskflow.cli.output import emit_json, output_option, render
from daskflow.models.dag import DAG

#: Exit code of ``dags test`` when the run ended ``failed``.
RUN_FAILED = 1

#: The group's commands that live in other modules.
LAZY_COMMANDS = {
    "trigger": "daskflow.cli.trigger:trigger",
    "backfill": "daskflow.cli.backfill:backfill",
    "pause": "daskflow.cli.dag_state:pause",
    "unpause": "daskflow.cli.dag_state:unpause",
    "next-runs": "daskflow.cli.dag_state:next_runs_command",
    "versions": "daskflow.cli.dag_state:versions",
    "list-import-errors": "daskflow.cli.dag_state:list_import_errors",
}


@click.group("dags", cls=LazyGroup, lazy_commands=LAZY_COMMANDS)
def dags_group() -> None:
    """List, inspect, test, trigger, backfill and pause DAGs."""


@dags_group.command("list")
@dags_folder_option
@db_option
@output_option
@pass_context
def list_dags(obj: CliContext, output: str) -> None:
    """List the DAGs found in the DAG folder (and whether each is paused)."""
    from daskflow.scheduler.dag_sync import dag_record

    bag = obj.dagbag()
    for path, trace in sorted(bag.import_errors.items()):
        click.echo(f"Import error in {path}: {last_line(trace)}", err=True)
    paused = _paused(obj)
    rows = []
    for dag_id in sorted(bag.dags):
        record = dag_record(bag.dags[dag_id])
        rows.append({"dag_id": dag_id, "fileloc": record.fileloc, "schedule": record.schedule,
                     "tags": list(record.tags), "paused": paused.get(dag_id)})
    render(rows, ["dag_id", "fileloc", "schedule", "tags", "paused"], output)


def _paused(obj: CliContext) -> dict[str, bool]:
    """``is_paused`` of the DAGs the store knows; empty (with a note if it failed)."""
    from daskflow.store import StoreError

    try:
        store = obj.existing_store()
        return {} if store is None else {d.dag_id: d.is_paused for d in store.list_dags()}
    except StoreError as exc:
        click.echo(f"Note: paused state not shown: {exc}", err=True)
        return {}


@dags_group.command("show")
@click.argument("dag_id")
@click.option("--version", "version_id", metavar="VERSION_ID", default=None,
              help="Print the stored source of this version (see `dags versions DAG_ID`).")
@dags_folder_option
@db_option
@output_option
@pass_context
def show(obj: CliContext, dag_id: str, version_id: str | None, output: str) -> None:
    """Show a DAG's tasks in the order they run, with their dependencies.

    With --version, print the source of the DAG as that version was stored
    instead: what an old run ran, even if the file changed since.
    """
    if version_id is not None:
        show_version(obj, dag_id, version_id, output)
        return
    dag = obj.get_dag(dag_id)
    rows = task_rows(dag)
    if output == "json":
        from daskflow.scheduler.dag_sync import dag_record

        record = dag_record(dag)
        emit_json({"dag_id": dag.dag_id, "fileloc": record.fileloc,
                   "schedule": record.schedule, "tags": list(record.tags), "tasks": rows})
        return
    render(rows, ["task_id", "operator", "upstream", "trigger_rule", "retries", "mapped"],
           output)


def show_version(obj: CliContext, dag_id: str, version_id: str, output: str) -> None:
    """Print one stored version's source (JSON: the whole version record)."""
    store = obj.store()
    version = store.get_dag_version(version_id)
    if version is None or version.dag_id != dag_id:
        known = [v.version_id for v in store.list_dag_versions(dag_id)]
        listed = f"its versions: {', '.join(known)}" if known else "it has no stored versions"
        raise CliError(f"DAG {dag_id!r} has no version {version_id!r} ({listed}); "
                       f"list them with `daskflow dags versions {dag_id}`")
    if output == "json":
        emit_json(vars(version))
        return
    stored = version.created_at.isoformat(sep=" ", timespec="seconds")
    click.echo(f"# DAG {dag_id} version {version_id}, stored {stored} from {version.fileloc}",
               err=True)
    click.echo(version.source, nl=not version.source.endswith("\n"))


def task_rows(dag: DAG) -> list[dict[str, Any]]:
    """One row per task, in topological order (raises on a cycle)."""
    return [{"task_id": task_id, **fields}
            for task_id, fields in dag.structure()["tasks"].items()]


@dags_group.command("test")
@click.argument("dag_id")
@dags_folder_option
@logical_date_option
@conf_option
@cluster_option
@cluster_timeout_option
@db_option
@local_cluster_options
@output_option
@click.option("--keep-dashboard", is_flag=True,
              help="After the run, keep the LocalCluster and its dashboard up until Ctrl-C.")
@pass_context
@click.pass_context
def test(ctx: click.Context, obj: CliContext, dag_id: str, logical_date: Any,
         conf: dict[str, Any], cluster: str | None, cluster_timeout: float,
         workers: int | None, threads_per_worker: int | None, processes: bool,
         output: str, keep_dashboard: bool) -> None:
    """Run DAG_ID once, now, and wait for it; exit 1 if the run failed.

    The run is recorded in the store like any other (see `daskflow tasks
    states` and `daskflow tasks logs`); testing the same logical date again
    replaces it. The Dask dashboard's URL is printed to stderr.
    """
    from daskflow.cli import run_dag as running

    options = running.ClusterOptions(cluster, workers, threads_per_worker, processes,
                                     cluster_timeout)

    def show(result: Any) -> None:
        running.show_result(result, output,
                            running.run_tries(obj, result) if output == "json" else None)

    def show_and_keep(result: Any, client: Any) -> None:
        show(result)
        running.keep_dashboard(client, local=cluster is None)

    result = running.run_dag(obj, dag_id, logical_date, conf, options,
                             after=show_and_keep if keep_dashboard else None)
    if not keep_dashboard:
        show(result)
    if not result.succeeded:
        ctx.exit(RUN_FAILED)
