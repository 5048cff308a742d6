"""Mute records with a state: an intent written before Telegram is asked, then active.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09 00:00:00

Existing records are mutes Telegram confirmed (they were written after it), so the
server default makes them active with no data step. checked_at is the reconciler's
bookkeeping; records from before start unchecked (NULL), and are checked first.
Batch mode lets SQLite add the check constraint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("restrictions") as batch:
        batch.add_column(sa.Column("state", sa.String(8), nullable=False, server_default="active"))
        batch.add_column(sa.Column("checked_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_restrictions_state"), "state IN ('intent', 'active')"
        )
        batch.create_index(op.f("ix_restrictions_state_checked_at"), ["state", "checked_at"])


def downgrade() -> None:
    with op.batch_alter_table("restrictions") as batch:
        batch.drop_index(op.f("ix_restrictions_state_checked_at"))
        batch.drop_constraint(op.f("ck_restrictions_state"), type_="check")
        batch.drop_column("checked_at")
        batch.drop_column("state")
