"""The tables of the metadata store, as SQLAlchemy Core ``Table`` objects.

This module is the description of the schema that queries are written against;
the migrations in ``daskflow/store/migrations/versions`` are what create it in a
database, and a test checks the two agree (``alembic`` ``compare_metadata``).

Decisions worth knowing:

* Every timestamp is a timezone-aware UTC ``datetime`` on the way in and on the way
  out (:class:`UTCDateTime`). SQLite has no time zones, so values are converted to
  UTC before they are written and marked UTC when read; a naive ``datetime`` is
  refused rather than guessed at.
* Uniqueness that the scheduler relies on is a database constraint, not a check in
  Python: ``dag_run`` is unique on ``(dag_id, run_id)`` and on
  ``(dag_id, logical_date)``, and ``task_attempt`` on its natural key.
* Task instances belong to their run and attempts and XComs to their task instance
  (foreign keys, ``ON DELETE CASCADE``). DAG runs do not reference ``dag`` so a run
  can be recorded for a DAG that was never synced (``dags test``, tests).
* JSON columns store SQL ``NULL`` for ``None`` (``none_as_null``).
* ``dag_run.owner_loop`` and ``dag_run.heartbeat`` say which scheduler loop
  drives a running run and when it last proved alive (``claims.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A ``DateTime(timezone=True)`` that only accepts and returns aware UTC values."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: the store needs timezone-aware values")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> JSON:
    return JSON(none_as_null=True)


dag = Table(
    "dag",
    metadata,
    Column("dag_id", String, primary_key=True),
    Column("fileloc", String, nullable=False),
    Column("is_paused", Boolean, nullable=False, server_default=false()),
    Column("is_active", Boolean, nullable=False, server_default=true()),
    Column("description", Text),
    Column("schedule", Text),
    Column("tags", _json()),
    Column("owner", String),
    Column("max_active_runs", Integer),
    Column("last_parsed", UTCDateTime),
    Column("next_dagrun", UTCDateTime),
    Column("next_dagrun_data_interval_start", UTCDateTime),
    Column("next_dagrun_data_interval_end", UTCDateTime),
)

dag_version = Table(
    "dag_version",
    metadata,
    Column("version_id", String, primary_key=True),
    Column("dag_id", String, nullable=False, index=True),
    Column("fileloc", String, nullable=False),
    Column("source", Text, nullable=False),
    Column("structure", _json()),
    Column("created_at", UTCDateTime, nullable=False),
    #: HMAC of the source with the deployment's secret key (``scheduler/versions.py``).
    Column("signature", String),
)

dag_run = Table(
    "dag_run",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("logical_date", UTCDateTime, nullable=False),
    Column("data_interval_start", UTCDateTime),
    Column("data_interval_end", UTCDateTime),
    Column("state", String, nullable=False),
    Column("run_type", String, nullable=False),
    Column("conf", _json()),
    Column("start_date", UTCDateTime),
    Column("end_date", UTCDateTime),
    Column("queued_at", UTCDateTime),
    Column("external_trigger", Boolean, nullable=False, server_default=false()),
    Column("dag_version", String),
    Column("last_scheduling_decision", UTCDateTime),
    Column("owner_loop", String),
    Column("heartbeat", UTCDateTime),
    #: Grows on every claim; writes for the run check owner and fence (``fencing.py``).
    Column("fence", Integer, nullable=False, server_default=text("0")),
    #: Why the run waits or ended, when its state alone does not say.
    Column("reason", Text),
    Column("results_purged_at", UTCDateTime),
    UniqueConstraint("dag_id", "run_id"),
    UniqueConstraint("dag_id", "logical_date"),
    Index(None, "state"),
    Index(None, "dag_id", "run_type", "logical_date"),  # newest scheduled run per DAG
)

TASK_INSTANCE_KEY = ("dag_id", "run_id", "task_id", "map_index")

task_instance = Table(
    "task_instance",
    metadata,
    Column("dag_id", String, primary_key=True),
    Column("run_id", String, primary_key=True),
    Column("task_id", String, primary_key=True),
    Column("map_index", Integer, primary_key=True, server_default=text("-1")),
    Column("state", String),
    Column("try_number", Integer, nullable=False, server_default=text("0")),
    Column("max_tries", Integer, nullable=False, server_default=text("0")),
    Column("start_date", UTCDateTime),
    Column("end_date", UTCDateTime),
    Column("duration", Float),
    Column("hostname", String),
    Column("worker", String),
    Column("operator", String),
    Column("pool", String, nullable=False, server_default=text("'default_pool'")),
    Column("pool_slots", Integer, nullable=False, server_default=text("1")),
    Column("priority_weight", Integer, nullable=False, server_default=text("1")),
    Column("queued_at", UTCDateTime),
    Column("rendered_fields", _json()),
    Column("updated_at", UTCDateTime),
    Column("next_try_at", UTCDateTime),
    Column("result_ref", String),
    Column("map_lengths", _json()),
    Column("deferral", _json()),
    ForeignKeyConstraint(
        ["dag_id", "run_id"], ["dag_run.dag_id", "dag_run.run_id"], ondelete="CASCADE"
    ),
    Index(None, "state"),
)

ATTEMPT_KEY = (*TASK_INSTANCE_KEY, "try_number")

task_attempt = Table(
    "task_attempt",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dag_id", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("task_id", String, nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("try_number", Integer, nullable=False),
    Column("state", String),
    #: When Dask could first run this try (inputs ready, or retry due): queued until start.
    Column("queued_date", UTCDateTime),
    Column("start_date", UTCDateTime),
    Column("end_date", UTCDateTime),
    Column("duration", Float),
    Column("hostname", String),
    Column("worker", String),
    Column("error", Text),
    Column("log", Text),
    #: The scheduler loop (or ``dags test`` process) that drove this try.
    Column("loop_id", String),
    UniqueConstraint(*ATTEMPT_KEY),
    ForeignKeyConstraint(
        list(TASK_INSTANCE_KEY),
        [f"task_instance.{name}" for name in TASK_INSTANCE_KEY],
        ondelete="CASCADE",
    ),
)

XCOM_KEY = (*TASK_INSTANCE_KEY, "key")

xcom = Table(
    "xcom",
    metadata,
    Column("dag_id", String, primary_key=True),
    Column("run_id", String, primary_key=True),
    Column("task_id", String, primary_key=True),
    Column("map_index", Integer, primary_key=True),
    Column("key", String, primary_key=True),
    Column("value", _json()),
    Column("created_at", UTCDateTime, nullable=False),
    ForeignKeyConstraint(
        list(TASK_INSTANCE_KEY),
        [f"task_instance.{name}" for name in TASK_INSTANCE_KEY],
        ondelete="CASCADE",
    ),
)

import_error = Table(
    "import_error",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("filename", String, nullable=False, unique=True),
    Column("stacktrace", Text, nullable=False),
    Column("timestamp", UTCDateTime, nullable=False),
)

DEFAULT_POOL = "default_pool"
DEFAULT_POOL_SLOTS = 128

pool = Table(
    "pool",
    metadata,
    Column("name", String, primary_key=True),
    Column("slots", Integer, nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
)

#: Connections to external systems; ``password`` and ``extra`` are Fernet tokens when
#: ``is_encrypted`` (``fernet.py``), clear text otherwise.
connection = Table(
    "connection",
    metadata,
    Column("conn_id", String, primary_key=True),
    Column("conn_type", String, nullable=False),
    Column("description", Text),
    Column("host", String),
    Column("schema", String),
    Column("login", Text),
    Column("password", Text),
    Column("port", Integer),
    Column("extra", Text),
    Column("is_encrypted", Boolean, nullable=False, server_default=false()),
)

#: Variables; ``val`` is a Fernet token when ``is_encrypted``.
variable = Table(
    "variable",
    metadata,
    Column("key", String, primary_key=True),
    Column("val", Text),
    Column("description", Text),
    Column("is_encrypted", Boolean, nullable=False, server_default=false()),
)

#: Each ``daskflow scheduler`` while it runs, and where its Dask dashboard is, so that
#: ``daskflow dashboard`` finds the deployment's dashboard from the store alone.
scheduler_loop = Table(
    "scheduler_loop",
    metadata,
    Column("loop_id", String, primary_key=True),
    Column("hostname", String, nullable=False),
    Column("dashboard_url", String),
    Column("started_at", UTCDateTime, nullable=False),
)
