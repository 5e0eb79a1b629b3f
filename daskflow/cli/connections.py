"""``daskflow connections``: add, read, test, export and import connections.

Connections are kept in the metadata store (``--db``), their password and
extra encrypted when a Fernet key is set (``DASKFLOW_FERNET_KEY``);
``DASKFLOW_CONN_<ID>`` variables define connections too and win over the
store. ``list`` and ``get`` never print a password, nor extras named like
secrets (``***``); ``export`` writes everything, for moving connections
between stores.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from daskflow.cli.context import CliContext, db_option, pass_context
from daskflow.cli.errors import CliError
from daskflow.cli.output import emit_json, output_option, render

if TYPE_CHECKING:
    from daskflow.secrets.connection import Connection
    from daskflow.store import ConnectionRecord

COLUMNS = ["conn_id", "conn_type", "description", "host", "port", "schema", "login",
           "password", "extra", "is_encrypted"]
HIDDEN = "***"
NO_KEY_WARNING = ("Warning: no Fernet key is set (DASKFLOW_FERNET_KEY or daskflow.fernet-key): "
                  "passwords and extras are stored in clear")


@click.group("connections")
def connections_group() -> None:
    """Manage connections to external systems."""


@connections_group.command("add")
@click.argument("conn_id")
@click.option("--conn-uri", help="The connection as a URI: type://login:password@host:port/"
                                 "schema?extra=value.")
@click.option("--conn-json", help="The connection as a JSON object of its fields.")
@click.option("--conn-type", help="Type (postgres, http, ...), when giving fields.")
@click.option("--conn-host")
@click.option("--conn-login")
@click.option("--conn-password")
@click.option("--conn-schema")
@click.option("--conn-port")
@click.option("--conn-extra", help="Extra fields as a JSON object.")
@click.option("--conn-description")
@db_option
@output_option
@pass_context
def add_connection(obj: CliContext, conn_id: str, conn_uri: str | None, conn_json: str | None,
                   conn_type: str | None, conn_host: str | None, conn_login: str | None,
                   conn_password: str | None, conn_schema: str | None, conn_port: str | None,
                   conn_extra: str | None, conn_description: str | None, output: str) -> None:
    """Add connection CONN_ID from --conn-uri, --conn-json or --conn-* fields."""
    from daskflow.secrets.connection import Connection

    fields = {"conn_type": conn_type, "host": conn_host, "login": conn_login,
              "password": conn_password, "schema": conn_schema, "port": conn_port,
              "extra": conn_extra}
    given = [f"--conn-{name}" for name, value in fields.items() if value is not None]
    sources = [name for name, value in (("--conn-uri", conn_uri), ("--conn-json", conn_json))
               if value is not None]
    if len(sources) > 1 or (sources and given):
        raise CliError(f"connection {conn_id!r}: give one of --conn-uri, --conn-json or "
                       f"--conn-* fields (got {', '.join(sources + given)})")
    if conn_uri is not None:
        conn = Connection(conn_id=conn_id, uri=conn_uri, description=conn_description)
    elif conn_json is not None:
        conn = Connection.from_json(conn_json, conn_id=conn_id)
        conn.description = conn_description or conn.description
    else:
        if not conn_type:
            raise CliError(f"connection {conn_id!r}: give --conn-uri, --conn-json or "
                           "--conn-type (with other --conn-* fields)")
        conn = Connection(conn_id=conn_id, description=conn_description, **fields)
    store = obj.writable_store()
    if store.get_connection(conn_id) is not None:
        raise CliError(f"connection {conn_id!r} already exists in the metadata store; "
                       f"delete it first with `daskflow connections delete {conn_id}`")
    if not store.set_connection(to_record(conn)):
        click.echo(NO_KEY_WARNING, err=True)
    if output == "json":
        emit_json(_shown(conn))
    else:
        click.echo(f"Connection {conn_id} added ({conn.conn_type})")


@connections_group.command("get")
@click.argument("conn_id")
@db_option
@output_option
@pass_context
def get_connection(obj: CliContext, conn_id: str, output: str) -> None:
    """Show connection CONN_ID (environment first, then the store); the password as ***."""
    conn = lookup_connection(obj, conn_id)
    row = _shown(conn)
    if output == "json":
        emit_json(row)
        return
    width = max(len(name) for name in row)
    for name, value in row.items():
        click.echo(f"{name.ljust(width)}  {'' if value is None else value}")


@connections_group.command("list")
@db_option
@output_option
@pass_context
def list_connections(obj: CliContext, output: str) -> None:
    """List the connections in the metadata store (passwords shown as ***)."""
    rows = [_shown(from_record(r)) | {"is_encrypted": r.is_encrypted}
            for r in obj.store().list_connections()]
    render(rows, COLUMNS, output)


@connections_group.command("delete")
@click.argument("conn_id")
@db_option
@pass_context
def delete_connection(obj: CliContext, conn_id: str) -> None:
    """Delete connection CONN_ID from the metadata store."""
    store = obj.store()
    if store.get_connection(conn_id) is None:
        raise CliError(f"there is no connection {conn_id!r} in the metadata store "
                       "(see `daskflow connections list`)")
    store.delete_connection(conn_id)
    click.echo(f"Connection {conn_id} deleted")


@connections_group.command("test")
@click.argument("conn_id")
@db_option
@output_option
@pass_context
def test_connection(obj: CliContext, conn_id: str, output: str) -> None:
    """Try to reach CONN_ID: SQL types connect, http GETs; exit 1 if it is not reached."""
    conn = lookup_connection(obj, conn_id)
    reached, message = conn.test_connection()
    if output == "json":
        emit_json({"conn_id": conn_id, "reached": reached, "message": message})
    else:
        click.echo(message)
    if not reached:
        sys.exit(1)


@connections_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@db_option
@pass_context
def export_connections(obj: CliContext, file: Path) -> None:
    """Write every connection of the store to FILE as JSON ({conn_id: {fields}}); - is stdout.

    The file holds passwords in clear: keep it safe.
    """
    data = {}
    for record in obj.store().list_connections():
        fields = from_record(record).to_dict()
        del fields["conn_id"]
        fields["extra"] = record.extra
        data[record.conn_id] = fields
    text = json.dumps(data, indent=2)
    if str(file) == "-":
        click.echo(text)
        return
    file.write_text(text + "\n")
    click.echo(f"Exported {len(data)} connection(s) to {file}")


@connections_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Replace connections that already exist.")
@db_option
@pass_context
def import_connections(obj: CliContext, file: Path, overwrite: bool) -> None:
    """Add the connections of a JSON FILE ({conn_id: {conn_type, host, ...} or a URI})."""
    from daskflow.secrets.connection import Connection

    data = _read_json_object(file, "connections")
    conns = []
    for conn_id, value in data.items():
        if isinstance(value, str):
            conns.append(Connection(conn_id=conn_id, uri=value))
        else:
            conns.append(Connection.from_json(value, conn_id=conn_id))
    store = obj.writable_store()
    existing = {r.conn_id for r in store.list_connections()}
    added, skipped, encrypted = 0, [], True
    for conn in conns:
        if conn.conn_id in existing and not overwrite:
            skipped.append(conn.conn_id)
            continue
        encrypted = store.set_connection(to_record(conn)) and encrypted
        added += 1
    if added and not encrypted:
        click.echo(NO_KEY_WARNING, err=True)
    click.echo(f"Imported {added} connection(s) from {file}")
    if skipped:
        click.echo(f"Skipped {len(skipped)} that already exist (use --overwrite): "
                   f"{', '.join(skipped)}")


@connections_group.command("rotate-key")
@db_option
@pass_context
def rotate_key(obj: CliContext) -> None:
    """Re-encrypt every connection and variable with the first Fernet key.

    Set DASKFLOW_FERNET_KEY (or daskflow.fernet-key) to "NEW_KEY,OLD_KEY" first;
    afterwards OLD_KEY can be dropped.
    """
    connections, variables = obj.store().rotate_fernet_key()
    click.echo(f"Re-encrypted {connections} connection(s) and {variables} variable(s)")


def lookup_connection(obj: CliContext, conn_id: str) -> Connection:
    """``conn_id`` from the environment, else the store of ``--db`` (if there is one)."""
    from daskflow.secrets.lookup import get_connection

    store = obj.existing_store()
    return get_connection(conn_id, store=store, no_store=None if store else _no_store(obj))


def _no_store(obj: CliContext) -> str:
    from daskflow.store.engine import mask_url

    return f"the metadata store {mask_url(obj.url)!r} (not initialised)"


def to_record(conn: Connection) -> ConnectionRecord:
    from daskflow.store import ConnectionRecord

    return ConnectionRecord(conn_id=conn.conn_id, conn_type=conn.conn_type or "",
                            description=conn.description, host=conn.host, schema=conn.schema,
                            login=conn.login, password=conn.password, port=conn.port,
                            extra=conn.extra)


def from_record(record: ConnectionRecord) -> Connection:
    from daskflow.secrets.connection import Connection

    return Connection(conn_id=record.conn_id, conn_type=record.conn_type,
                      description=record.description, host=record.host, schema=record.schema,
                      login=record.login, password=record.password, port=record.port,
                      extra=record.extra)


def _shown(conn: Connection) -> dict[str, Any]:
    """The fields to print: the password, and extras whose names look secret
    (``token``, ``api_key``, ...), as ``***``."""
    from daskflow.secrets.masking import is_sensitive_name

    row = conn.to_dict()
    row["password"] = HIDDEN if conn.password else None
    if row["extra"]:
        row["extra"] = {k: HIDDEN if is_sensitive_name(k) and v else v
                        for k, v in row["extra"].items()}
    return row


def _read_json_object(file: Path, what: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {what} file {str(file)!r}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} file {str(file)!r} is not valid JSON ({exc.msg} at line "
                       f"{exc.lineno})") from None
    if not isinstance(data, dict):
        raise CliError(f"{what} file {str(file)!r} must hold a JSON object "
                       f"{{name: value}}, got {type(data).__name__}")
    return data
