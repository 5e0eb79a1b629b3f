"""Schema migrations, driven from code: users never need an ``alembic.ini``.

``Store.init()`` calls :func:`upgrade` with a connection that is already inside a
transaction, so a migration is all-or-nothing on PostgreSQL and on SQLite alike,
and the ``alembic_version`` stamp commits with the tables it describes.

To write a new revision during development, point Alembic at a scratch database
and let it compare the database with ``schema.py``::

    from alembic import command
    from daskflow.store.migrations import alembic_config

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite:///scratch.db")
    command.upgrade(config, "head")
    command.revision(config, "add a column", autogenerate=True)

then read and edit the generated file in ``versions/`` by hand.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

SCRIPT_LOCATION = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for this package; ``connection`` is the one env.py migrates."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Migrate the database behind ``connection`` to ``revision`` (a no-op if there)."""
    command.upgrade(alembic_config(connection), revision)


def current_revision(connection: Connection) -> str | None:
    """The revision the database is stamped with, ``None`` if it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this version of daskflow."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
