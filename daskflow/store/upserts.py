"""How a batch of changes becomes a few statements instead of one per row.

``Store.apply_updates`` receives whatever the runner gathered since its last flush:
often the same task instance several times (queued, running, success). Each batch
is written as:

1. **merge** - changes to one row are folded in order into one change, later
   values winning, so no statement touches a row twice (PostgreSQL refuses an
   ``ON CONFLICT DO UPDATE`` that would);
2. **group** - rows that change the same set of columns share one statement;
3. **upsert** - each group is one ``INSERT ... ON CONFLICT DO UPDATE`` executed
   with many parameter sets (``executemany``), in chunks of :data:`CHUNK_ROWS`.

A runner sending "state + end_date" for 1,000 tasks therefore costs one statement
and one commit, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from daskflow.store.records import AttemptUpdate, TaskUpdate, XComUpdate
from daskflow.store.schema import ATTEMPT_KEY, TASK_INSTANCE_KEY, XCOM_KEY

CHUNK_ROWS = 500

Row = dict[str, Any]


def conflict_insert(conn: Connection, table: Table) -> Insert:
    """An ``INSERT`` for ``table`` that supports ``ON CONFLICT`` on this dialect."""
    dialect_insert: Callable[[Table], Any]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table)


def upsert(
    conn: Connection, table: Table, rows: Sequence[Row], key: Sequence[str], update: Iterable[str]
) -> None:
    """Insert ``rows``; where ``key`` exists set the ``update`` columns (none: skip the row)."""
    if not rows:
        return
    insert: Any = conflict_insert(conn, table)
    columns = list(update)
    if columns:
        statement = insert.on_conflict_do_update(
            index_elements=list(key), set_={name: insert.excluded[name] for name in columns}
        )
    else:
        statement = insert.on_conflict_do_nothing(index_elements=list(key))
    for chunk in chunks(rows, CHUNK_ROWS):
        conn.execute(statement, chunk)


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """``items`` in consecutive slices of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def task_update_groups(
    updates: Iterable[TaskUpdate], now: datetime
) -> dict[tuple[str, ...], list[Row]]:
    """Merged task-instance rows, grouped by the columns they change."""
    merged: dict[tuple[str, str, str, int], Row] = {}
    for update in updates:
        merged.setdefault(update.key, {}).update(update.changes())
    groups: dict[tuple[str, ...], list[Row]] = {}
    for key, changes in merged.items():
        row = dict(zip(TASK_INSTANCE_KEY, key, strict=True)) | changes | {"updated_at": now}
        groups.setdefault((*sorted(changes), "updated_at"), []).append(row)
    return groups


def apply_task_updates(
    conn: Connection, table: Table, updates: Iterable[TaskUpdate], now: datetime
) -> None:
    """Upsert task instances, touching only the columns each update names."""
    for columns, rows in task_update_groups(updates, now).items():
        upsert(conn, table, rows, TASK_INSTANCE_KEY, columns)


def apply_attempts(conn: Connection, table: Table, attempts: Iterable[AttemptUpdate]) -> None:
    """Upsert whole attempt rows on their natural key, the last one per key winning."""
    rows = list({attempt.key: _fields(attempt) for attempt in attempts}.values())
    update = [name for name in rows[0] if name not in ATTEMPT_KEY] if rows else []
    upsert(conn, table, rows, ATTEMPT_KEY, update)


def apply_xcoms(conn: Connection, table: Table, xcoms: Iterable[XComUpdate], now: datetime) -> None:
    """Upsert XCom values on their primary key, stamping them with ``now``."""
    rows = list({x.row_key: _fields(x) | {"created_at": now} for x in xcoms}.values())
    upsert(conn, table, rows, XCOM_KEY, ["value", "created_at"])


def _fields(record: Any) -> dict[str, Any]:
    """A dataclass's fields as a dict, without ``asdict``'s deep copy of every value."""
    return {f.name: getattr(record, f.name) for f in dataclass_fields(record)}
