"""``daskflow variables``: set, read, list, delete, import and export variables.

Values are text in the metadata store (``--db``), encrypted when a Fernet key
is set; ``DASKFLOW_VAR_<KEY>`` variables win over the store when read. ``list``
shows keys and descriptions, never values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from daskflow.cli.connections import NO_KEY_WARNING, _read_json_object
from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.output import emit_json, output_option, render

COLUMNS = ["key", "description", "is_encrypted"]


@click.group("variables")
def variables_group() -> None:
    """Manage variables (small named settings DAGs read at run time)."""


@variables_group.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--description", default=None, help="What the variable is for.")
@click.option("--serialize-json", "--json", "-j", is_flag=True,
              help="VALUE is JSON: check it and store it as JSON.")
@db_option
@pass_context
def set_variable(obj: CliContext, key: str, value: str, description: str | None,
                 serialize_json: bool) -> None:
    """Set variable KEY to VALUE."""
    if not key.strip():
        raise CliError("a variable key must not be empty")
    if serialize_json:
        try:
            value = json.dumps(json.loads(value), indent=2)
        except json.JSONDecodeError as exc:
            raise CliError(f"variable {key!r}: --serialize-json was given but VALUE is not "
                           f"valid JSON ({exc.msg} at position {exc.pos})") from None
    if not obj.writable_store().set_variable(key, value, description):
        click.echo(NO_KEY_WARNING.replace("passwords and extras", "values"), err=True)
    click.echo(f"Variable {key} set")


@variables_group.command("get")
@click.argument("key")
@click.option("--default", "-d", "default", default=None,
              help="Print this when KEY is not defined.")
@click.option("--deserialize-json", "--json", "-j", is_flag=True,
              help="Print the value as parsed JSON.")
@db_option
@pass_context
def get_variable(obj: CliContext, key: str, default: str | None,
                 deserialize_json: bool) -> None:
    """Print the value of KEY (environment first, then the store)."""
    from daskflow.exceptions import VariableNotFound
    from daskflow.secrets.lookup import get_variable as lookup
    from daskflow.store.engine import mask_url

    store = obj.existing_store()
    no_store = None if store else f"the metadata store {mask_url(obj.url)!r} (not initialised)"
    try:
        value = lookup(key, store=store, no_store=no_store)
    except VariableNotFound as exc:
        if default is None:
            raise CliError(str(exc)) from None
        value = default
    if deserialize_json:
        try:
            emit_json(json.loads(value))
        except json.JSONDecodeError as exc:
            raise CliError(f"variable {key!r} is not valid JSON ({exc.msg} at position "
                           f"{exc.pos}); print it without --deserialize-json") from None
        return
    click.echo(value)


@variables_group.command("list")
@db_option
@output_option
@pass_context
def list_variables(obj: CliContext, output: str) -> None:
    """List the variables of the store: keys and descriptions, not values."""
    render([vars(v) for v in obj.store().list_variables()], COLUMNS, output)


@variables_group.command("delete")
@click.argument("key")
@db_option
@pass_context
def delete_variable(obj: CliContext, key: str) -> None:
    """Delete variable KEY from the store."""
    store = obj.store()
    if store.get_variable(key) is None:
        raise CliError(f"there is no variable {key!r} in the metadata store "
                       "(see `daskflow variables list`)")
    store.delete_variable(key)
    click.echo(f"Variable {key} deleted")


@variables_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_context
def import_variables(obj: CliContext, file: Path) -> None:
    """Set the variables of a JSON FILE ({key: value}); values that are not text are
    stored as JSON."""
    data = _read_json_object(file, "variables")
    store = obj.writable_store()
    encrypted = True
    for key, value in data.items():
        text = value if isinstance(value, str) else json.dumps(value, indent=2)
        encrypted = store.set_variable(key, text) and encrypted
    if data and not encrypted:
        click.echo(NO_KEY_WARNING.replace("passwords and extras", "values"), err=True)
    click.echo(f"Imported {len(data)} variable(s) from {file}")


@variables_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_context
def export_variables(obj: CliContext, file: Path) -> None:
    """Write every variable of the store to FILE as JSON ({key: value}); - is stdout.

    Values that are JSON are written as JSON, so ``import`` reads them back alike.
    """
    data = {v.key: _decoded(v.val) for v in obj.store().list_variables()}
    text = json.dumps(data, indent=2)
    if str(file) == "-":
        click.echo(text)
        return
    file.write_text(text + "\n")
    click.echo(f"Exported {len(data)} variable(s) to {file}")


def _decoded(value: str | None) -> Any:
    """A JSON object or list as itself; anything else as the text it is."""
    if value is None:
        return None
    try:
        decoded = json.loads(value)
    except json.JSONDecodeError:
        return value
    return decoded if isinstance(decoded, (dict, list)) else value
