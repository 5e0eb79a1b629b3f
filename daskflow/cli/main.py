"""``daskflow``: the root command group, and ``daskflow version``.

Run as the ``daskflow`` console script or ``python -m daskflow.cli.main``.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import click

import daskflow
from daskflow.cli.backfill import backfill
from daskflow.cli.clear import clear
from daskflow.cli.context import CliContext
from daskflow.cli.dag_state import (
    list_import_errors,
    next_runs_command,
    pause,
    unpause,
    versions,
)
from daskflow.cli.dags import dags_group
from daskflow.cli.db import db_group
from daskflow.cli.errors import DaskflowGroup
from daskflow.cli.output import emit_json, output_option
from daskflow.cli.pools import pools_group
from daskflow.cli.runs import runs_group
from daskflow.cli.scheduler import scheduler
from daskflow.cli.tasks import tasks_group
from daskflow.cli.trigger import trigger


@click.group(cls=DaskflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
def cli(ctx: click.Context) -> None:
    """daskflow: Airflow-style workflows, each run executed as one Dask graph."""
    obj = ctx.ensure_object(CliContext)
    ctx.call_on_close(obj.close)


@cli.command("version")
@output_option
def version_command(output: str) -> None:
    """Print the versions of daskflow, dask, distributed and Python."""
    versions = {"daskflow": daskflow.__version__, "dask": _version("dask"),
                "distributed": _version("distributed"), "python": platform.python_version()}
    if output == "json":
        emit_json(versions)
        return
    others = ", ".join(f"{name} {v}" for name, v in versions.items() if name != "daskflow")
    click.echo(f"daskflow {versions['daskflow']} ({others})")


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


for _command in (trigger, backfill, pause, unpause, next_runs_command, versions,
                 list_import_errors):
    dags_group.add_command(_command)
tasks_group.add_command(clear)
for _group in (db_group, dags_group, tasks_group, runs_group, pools_group, scheduler):
    cli.add_command(_group)


if __name__ == "__main__":
    cli(prog_name="daskflow")
