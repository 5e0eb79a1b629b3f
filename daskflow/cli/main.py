"""``daskflow``: the root command group, ``daskflow version`` and ``daskflow --version``.

Run as the ``daskflow`` console script or ``python -m daskflow.cli.main``.
Each command's module is imported only when that command is used
(``lazy.py``), so ``--help`` never waits for Dask or SQLAlchemy to import.
"""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import click

import daskflow
from daskflow.cli.context import CliContext
from daskflow.cli.errors import DaskflowGroup
from daskflow.cli.output import emit_json, output_option

#: The top-level commands, each imported from its module when it is used.
COMMANDS = {
    "db": "daskflow.cli.db:db_group",
    "dags": "daskflow.cli.dags:dags_group",
    "tasks": "daskflow.cli.tasks:tasks_group",
    "runs": "daskflow.cli.runs:runs_group",
    "pools": "daskflow.cli.pools:pools_group",
    "connections": "daskflow.cli.connections:connections_group",
    "variables": "daskflow.cli.variables:variables_group",
    "scheduler": "daskflow.cli.scheduler:scheduler",
    "cluster": "daskflow.cli.cluster:cluster_group",
    "dashboard": "daskflow.cli.dashboard:dashboard",
    "bench": "daskflow.cli.bench:bench",
}


@click.group(cls=DaskflowGroup, lazy_commands=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(daskflow.__version__, "--version", "-V", prog_name="daskflow",
                      message="%(prog)s %(version)s")
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


if __name__ == "__main__":
    cli(prog_name="daskflow")
