"""Deferred tasks: ``task_instance.deferral``.

A task that defers (``BaseOperator.defer``) waits on a trigger in the loop's
process. The trigger's class path and arguments, the method the try resumes
in and the deferral's timeout are kept here as JSON while the task is
``deferred``, so a loop that restarts or adopts the run waits on the same
trigger again.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("deferral", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("deferral")
