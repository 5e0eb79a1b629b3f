"""Alembic's entry point for daskflow's migrations.

The caller passes an open connection in ``config.attributes["connection"]``
(``daskflow.store.migrations.upgrade`` does). For development commands such as
``alembic revision --autogenerate`` a ``sqlalchemy.url`` main option works too.
SQLite cannot alter most of a table in place, so operations are rendered in
batch mode there (copy, alter, swap).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from daskflow.store.schema import metadata


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("daskflow migrations need a live database; --sql is not supported")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("pass a connection in config.attributes or set sqlalchemy.url")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _migrate(conn)
    finally:
        engine.dispose()


_run()
