"""When each try was queued.

* ``task_attempt.queued_date``: when Dask could first run the try (its inputs
  were ready, or its retry was due) - the Gantt page draws the time from here
  to ``start_date`` as queued. ``NULL`` for tries recorded before this
  revision and for tries the loop recorded itself (a crash).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_attempt") as batch:
        batch.add_column(sa.Column("queued_date", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_attempt") as batch:
        batch.drop_column("queued_date")
