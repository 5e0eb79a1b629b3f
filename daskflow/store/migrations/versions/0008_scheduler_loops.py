"""Running scheduler loops and their dashboards: ``scheduler_loop``.

``daskflow scheduler`` records itself (loop id, host, the URL of the Dask
dashboard it serves or uses, when it started) and removes the row when it
stops; ``daskflow dashboard`` prints the newest one's URL. A loop that was
killed leaves its row until a loop with the same id starts again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_loop",
        sa.Column("loop_id", sa.String(), nullable=False),
        sa.Column("hostname", sa.String(), nullable=False),
        sa.Column("dashboard_url", sa.String(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("loop_id", name="pk_scheduler_loop"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_loop")
