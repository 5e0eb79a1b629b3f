"""The initial metadata schema: DAGs, versions, runs, task instances, attempts,
XComs, import errors and pools.

Written by hand. A revision is a snapshot and must not import ``schema.py``, which
keeps changing; types are spelled out here instead (``DateTime(timezone=True)`` is
what ``schema.UTCDateTime`` stores).

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TI_KEY = ["dag_id", "run_id", "task_id", "map_index"]


def _dt() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def _ti_key_columns() -> list[sa.Column]:
    return [
        sa.Column("dag_id", sa.String, nullable=False),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("task_id", sa.String, nullable=False),
        sa.Column("map_index", sa.Integer, nullable=False),
    ]


def _ti_foreign_key(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        TI_KEY,
        [f"task_instance.{name}" for name in TI_KEY],
        name=f"fk_{table}_dag_id_run_id_task_id_map_index_task_instance",
        ondelete="CASCADE",
    )


def _create_dag() -> None:
    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String, nullable=False),
        sa.Column("fileloc", sa.String, nullable=False),
        sa.Column("is_paused", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("description", sa.Text),
        sa.Column("schedule", sa.Text),
        sa.Column("tags", _json()),
        sa.Column("owner", sa.String),
        sa.Column("max_active_runs", sa.Integer),
        sa.Column("last_parsed", _dt()),
        sa.Column("next_dagrun", _dt()),
        sa.Column("next_dagrun_data_interval_start", _dt()),
        sa.Column("next_dagrun_data_interval_end", _dt()),
        sa.PrimaryKeyConstraint("dag_id", name="pk_dag"),
    )
    op.create_table(
        "dag_version",
        sa.Column("version_id", sa.String, nullable=False),
        sa.Column("dag_id", sa.String, nullable=False),
        sa.Column("fileloc", sa.String, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("structure", _json()),
        sa.Column("created_at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint("version_id", name="pk_dag_version"),
    )
    op.create_index("ix_dag_version_dag_id", "dag_version", ["dag_id"])


def _create_dag_run() -> None:
    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String, nullable=False),
        sa.Column("run_id", sa.String, nullable=False),
        sa.Column("logical_date", _dt(), nullable=False),
        sa.Column("data_interval_start", _dt()),
        sa.Column("data_interval_end", _dt()),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("run_type", sa.String, nullable=False),
        sa.Column("conf", _json()),
        sa.Column("start_date", _dt()),
        sa.Column("end_date", _dt()),
        sa.Column("queued_at", _dt()),
        sa.Column("external_trigger", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("dag_version", sa.String),
        sa.Column("last_scheduling_decision", _dt()),
        sa.Column("owner_loop", sa.String),
        sa.Column("heartbeat", _dt()),
        sa.PrimaryKeyConstraint("id", name="pk_dag_run"),
        sa.UniqueConstraint("dag_id", "run_id", name="uq_dag_run_dag_id_run_id"),
        sa.UniqueConstraint("dag_id", "logical_date", name="uq_dag_run_dag_id_logical_date"),
    )
    op.create_index("ix_dag_run_state", "dag_run", ["state"])


def _create_task_instance() -> None:
    op.create_table(
        "task_instance",
        *_ti_key_columns(),
        sa.Column("state", sa.String),
        sa.Column("try_number", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("max_tries", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("start_date", _dt()),
        sa.Column("end_date", _dt()),
        sa.Column("duration", sa.Float),
        sa.Column("hostname", sa.String),
        sa.Column("worker", sa.String),
        sa.Column("operator", sa.String),
        sa.Column("pool", sa.String, nullable=False, server_default=sa.text("'default_pool'")),
        sa.Column("pool_slots", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("priority_weight", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("queued_at", _dt()),
        sa.Column("rendered_fields", _json()),
        sa.Column("updated_at", _dt()),
        sa.Column("next_try_at", _dt()),
        sa.PrimaryKeyConstraint(*TI_KEY, name="pk_task_instance"),
        sa.ForeignKeyConstraint(
            ["dag_id", "run_id"],
            ["dag_run.dag_id", "dag_run.run_id"],
            name="fk_task_instance_dag_id_run_id_dag_run",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_task_instance_state", "task_instance", ["state"])


def _create_attempt_and_xcom() -> None:
    op.create_table(
        "task_attempt",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        *_ti_key_columns(),
        sa.Column("try_number", sa.Integer, nullable=False),
        sa.Column("state", sa.String),
        sa.Column("start_date", _dt()),
        sa.Column("end_date", _dt()),
        sa.Column("duration", sa.Float),
        sa.Column("hostname", sa.String),
        sa.Column("worker", sa.String),
        sa.Column("error", sa.Text),
        sa.Column("log", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_task_attempt"),
        sa.UniqueConstraint(
            *TI_KEY,
            "try_number",
            name="uq_task_attempt_dag_id_run_id_task_id_map_index_try_number",
        ),
        _ti_foreign_key("task_attempt"),
    )
    op.create_table(
        "xcom",
        *_ti_key_columns(),
        sa.Column("key", sa.String, nullable=False),
        sa.Column("value", _json()),
        sa.Column("created_at", _dt(), nullable=False),
        sa.PrimaryKeyConstraint(*TI_KEY, "key", name="pk_xcom"),
        _ti_foreign_key("xcom"),
    )


def _create_import_error_and_pool() -> None:
    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("filename", sa.String, nullable=False),
        sa.Column("stacktrace", sa.Text, nullable=False),
        sa.Column("timestamp", _dt(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_error"),
        sa.UniqueConstraint("filename", name="uq_import_error_filename"),
    )
    op.create_table(
        "pool",
        sa.Column("name", sa.String, nullable=False),
        sa.Column("slots", sa.Integer, nullable=False),
        sa.Column("description", sa.Text, nullable=False, server_default=sa.text("''")),
        sa.PrimaryKeyConstraint("name", name="pk_pool"),
    )


def upgrade() -> None:
    _create_dag()
    _create_dag_run()
    _create_task_instance()
    _create_attempt_and_xcom()
    _create_import_error_and_pool()


def downgrade() -> None:
    for table in ("pool", "import_error", "xcom", "task_attempt", "task_instance", "dag_run"):
        op.drop_table(table)
    op.drop_table("dag_version")
    op.drop_table("dag")

