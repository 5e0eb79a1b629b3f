"""Where each task instance's outcome is kept, and the lengths it reported.

``result_ref`` points at the outcome in the result store (or says ``trivial``),
so a loop that resumes a run builds a node that loads it instead of running
the task again. ``map_lengths`` keeps the lengths of the XComs a mapped task
downstream expands over, so expansion can be decided after a restart too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.add_column(sa.Column("result_ref", sa.String(), nullable=True))
        batch.add_column(sa.Column("map_lengths", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instance") as batch:
        batch.drop_column("map_lengths")
        batch.drop_column("result_ref")
