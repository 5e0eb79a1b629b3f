"""``daskflow db``: create, upgrade or wipe the metadata store's schema."""

from __future__ import annotations

import os
import sys

import click

from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.output import emit_json, output_option


@click.group("db")
def db_group() -> None:
    """Manage the metadata store (SQLite file or PostgreSQL)."""


@db_group.command("init")
@db_option
@output_option
@pass_context
def init(obj: CliContext, output: str) -> None:
    """Create the schema, or bring it up to date; safe to run again."""
    store = obj.store(require_schema=False)
    store.init()
    _report(obj, "initialized", store.current_revision(), output)


@db_group.command("upgrade")
@db_option
@output_option
@pass_context
def upgrade(obj: CliContext, output: str) -> None:
    """Upgrade the schema to this version of daskflow (keeps all data)."""
    store = obj.store(require_schema=False)
    store.upgrade()
    _report(obj, "upgraded", store.current_revision(), output)


@db_group.command("reset")
@db_option
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@output_option
@pass_context
def reset(obj: CliContext, yes: bool, output: str) -> None:
    """Drop every table and create them again: ALL runs, logs and DAG state are lost."""
    from daskflow.store.engine import mask_url

    _confirm_reset(mask_url(obj.url), yes)
    store = obj.store(require_schema=False)
    store.reset()
    _report(obj, "reset", store.current_revision(), output)


def _confirm_reset(url: str, yes: bool) -> None:
    if yes:
        return
    if not can_prompt():
        raise CliError(f"`db reset` deletes all metadata in {url!r}; pass --yes to confirm "
                       "(there is no terminal to ask on)")
    click.confirm(f"Delete ALL metadata in {url}?", abort=True)


def can_prompt() -> bool:
    """Whether a question can be asked: stdin is a terminal and this is not CI.

    Without this, ``db reset`` in a script or CI job would wait forever for an answer.
    """
    if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    stdin = sys.stdin
    try:
        return stdin is not None and stdin.isatty()
    except ValueError:  # a closed stdin
        return False


def _report(obj: CliContext, action: str, revision: str | None, output: str) -> None:
    from daskflow.store.engine import mask_url

    url = mask_url(obj.url)
    if output == "json":
        emit_json({"db": url, "action": action, "revision": revision})
    else:
        click.echo(f"Metadata store {url} {action} (schema revision {revision}).")
