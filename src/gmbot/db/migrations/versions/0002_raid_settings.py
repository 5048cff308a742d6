"""Raid settings per group: the mode (auto, on, off) and the auto threshold.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 00:00:00

Existing groups get the defaults (auto, 3) through server defaults, so the upgrade
needs no data step; batch mode lets SQLite add the check constraint.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("protected_groups") as batch:
        batch.add_column(
            sa.Column("raid_mode", sa.String(8), nullable=False, server_default="auto")
        )
        batch.add_column(
            sa.Column("raid_threshold", sa.Integer(), nullable=False, server_default="3")
        )
        batch.create_check_constraint(
            op.f("ck_protected_groups_raid_mode"), "raid_mode IN ('auto', 'on', 'off')"
        )


def downgrade() -> None:
    with op.batch_alter_table("protected_groups") as batch:
        batch.drop_constraint(op.f("ck_protected_groups_raid_mode"), type_="check")
        batch.drop_column("raid_threshold")
        batch.drop_column("raid_mode")
