"""``daskflow dags``: list the DAGs of the folder, show one, test-run one."""

from __future__ import annotations

from typing import Any

import click

from daskflow import config
from daskflow.cli.context import CliContext, dags_folder_option, db_option, pass_context
from daskflow.cli.errors import last_line
from daskflow.cli.options import cluster_option, conf_option, logical_date_option
from daskflow.cli.output import emit_json, output_option, render
from daskflow.cli.run_dag import ClusterOptions, run_dag, show_result
from daskflow.models.dag import DAG
from daskflow.scheduler.dag_sync import dag_record
from daskflow.store import StoreError

#: Exit code of ``dags test`` when the run ended ``failed``.
RUN_FAILED = 1


@click.group("dags")
def dags_group() -> None:
    """List, inspect and test-run the DAGs of the DAG folder."""


@dags_group.command("list")
@dags_folder_option
@db_option
@output_option
@pass_context
def list_dags(obj: CliContext, output: str) -> None:
    """List the DAGs found in the DAG folder (and whether each is paused)."""
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
    try:
        store = obj.existing_store()
        return {} if store is None else {d.dag_id: d.is_paused for d in store.list_dags()}
    except StoreError as exc:
        click.echo(f"Note: paused state not shown: {exc}", err=True)
        return {}


@dags_group.command("show")
@click.argument("dag_id")
@dags_folder_option
@output_option
@pass_context
def show(obj: CliContext, dag_id: str, output: str) -> None:
    """Show a DAG's tasks in the order they run, with their dependencies."""
    dag = obj.get_dag(dag_id)
    rows = task_rows(dag)
    if output == "json":
        record = dag_record(dag)
        emit_json({"dag_id": dag.dag_id, "fileloc": record.fileloc,
                   "schedule": record.schedule, "tags": list(record.tags), "tasks": rows})
        return
    render(rows, ["task_id", "operator", "upstream", "trigger_rule", "retries", "mapped"],
           output)


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
@click.option("--cluster-timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, metavar="SECONDS",
              help="How long to try reaching the --cluster scheduler.")
@db_option
@click.option("--workers", type=click.IntRange(min=1),
              default=lambda: config.get("local-cluster.workers"),
              help="LocalCluster: number of workers. [default: Dask's choice]")
@click.option("--threads-per-worker", type=click.IntRange(min=1),
              default=lambda: config.get("local-cluster.threads-per-worker"),
              help="LocalCluster: threads per worker.")
@click.option("--processes/--threads", default=lambda: bool(
              config.get("local-cluster.processes", True)),
              help="LocalCluster: workers in processes, or threads of this process.")
@output_option
@pass_context
@click.pass_context
def test(ctx: click.Context, obj: CliContext, dag_id: str, logical_date: Any,
         conf: dict[str, Any], cluster: str | None, cluster_timeout: float,
         workers: int | None, threads_per_worker: int | None, processes: bool,
         output: str) -> None:
    """Run DAG_ID once, now, and wait for it; exit 1 if the run failed.

    The run is recorded in the store like any other (see `daskflow tasks
    states` and `daskflow tasks logs`); testing the same logical date again
    replaces it.
    """
    options = ClusterOptions(cluster, workers, threads_per_worker, processes,
                             cluster_timeout)
    result = run_dag(obj, dag_id, logical_date, conf, options)
    show_result(result, output)
    if not result.succeeded:
        ctx.exit(RUN_FAILED)
