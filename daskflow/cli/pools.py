"""``daskflow pools``: named limits on how many task instances run at once.

A task names its pool (``pool="db"``, default ``default_pool``) and how many
slots it takes (``pool_slots``); at most ``slots`` slots of a pool are in use
across all runs. ``default_pool`` always exists; it can be resized, not deleted.
"""

from __future__ import annotations

import click

from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.output import emit_json, output_option, render

COLUMNS = ["name", "slots", "description"]


@click.group("pools")
def pools_group() -> None:
    """Create, list and delete pools."""


@pools_group.command("set")
@click.argument("name")
@click.argument("slots", type=click.IntRange(min=0))
@click.option("--description", default=None, help="What the pool protects. [default: keep]")
@db_option
@output_option
@pass_context
def set_pool(obj: CliContext, name: str, slots: int, description: str | None,
             output: str) -> None:
    """Create pool NAME with SLOTS slots, or resize it."""
    if not name.strip():
        raise CliError("a pool name must not be empty")
    store = obj.writable_store()
    if description is None:
        existing = store.get_pool(name)
        description = existing.description if existing is not None else ""
    store.set_pool(name, slots, description or "")
    pool = store.get_pool(name)
    if output == "json":
        emit_json(vars(pool))
    else:
        click.echo(f"Pool {name}: {slots} slots")


@pools_group.command("list")
@db_option
@output_option
@pass_context
def list_pools(obj: CliContext, output: str) -> None:
    """List the pools and their sizes."""
    render([vars(p) for p in obj.store().list_pools()], COLUMNS, output)


@pools_group.command("delete")
@click.argument("name")
@db_option
@pass_context
def delete_pool(obj: CliContext, name: str) -> None:
    """Delete pool NAME; tasks that name it fail, saying to create it, until it exists."""
    from daskflow.store.schema import DEFAULT_POOL

    if name == DEFAULT_POOL:
        raise CliError(f"{DEFAULT_POOL} cannot be deleted; change its size with "
                       f"`daskflow pools set {DEFAULT_POOL} SLOTS`")
    store = obj.store()
    if store.get_pool(name) is None:
        known = ", ".join(p.name for p in store.list_pools())
        raise CliError(f"there is no pool {name!r} (pools: {known})")
    store.delete_pool(name)
    click.echo(f"Pool {name} deleted")
