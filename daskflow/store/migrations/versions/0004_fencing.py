"""Fencing of run ownership, which loop recorded each try, run reasons, signed versions.

* ``dag_run.fence`` grows by one every time a loop claims or adopts the run;
  every write a loop makes for the run checks owner and fence in the same
  transaction, so a loop that lost the run (stalled past ``stale-after``
  while another loop adopted it) cannot write for it any more.
* ``dag_run.reason`` says why a run is waiting or how it ended when the state
  alone does not (its DAG is no longer in any parsed file, its version could
  not be loaded, ...).
* ``dag_run.results_purged_at``: when the run's kept outcomes were deleted
  from the result store (``daskflow.results-retention``).
* ``task_attempt.loop_id``: the loop that drove the try.
* ``dag_version.signature``: an HMAC of the stored source made with the
  deployment's secret key; stored source runs only when it verifies.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dag_run") as batch:
        batch.add_column(sa.Column("fence", sa.Integer(), nullable=False,
                                   server_default=sa.text("0")))
        batch.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("results_purged_at", sa.DateTime(timezone=True),
                                   nullable=True))
    with op.batch_alter_table("task_attempt") as batch:
        batch.add_column(sa.Column("loop_id", sa.String(), nullable=True))
    with op.batch_alter_table("dag_version") as batch:
        batch.add_column(sa.Column("signature", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("dag_version") as batch:
        batch.drop_column("signature")
    with op.batch_alter_table("task_attempt") as batch:
        batch.drop_column("loop_id")
    with op.batch_alter_table("dag_run") as batch:
        batch.drop_column("results_purged_at")
        batch.drop_column("reason")
        batch.drop_column("fence")
