"""The admin's settings: more actions, warnings, the verification timeout, channel
mode, dry run, custom prompt texts and labels, who may configure; and the admins
seen per group (candidates for a user's private group list).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 12:00:00

Existing groups get the defaults through server defaults (no data step). Batch mode
lets SQLite replace the action constraint and add the new ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECKS = {
    "escalation": "escalation IN ('mute', 'kick', 'ban')",
    "channel_mode": "channel_mode IN ('all', 'any')",
    "config_rights": "config_rights IN ('all', 'restrict', 'creator')",
}


def upgrade() -> None:
    with op.batch_alter_table("protected_groups") as batch:
        batch.drop_constraint(op.f("ck_protected_groups_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_protected_groups_action"),
            "action IN ('delete', 'mute', 'kick', 'ban', 'warn')",
        )
        batch.add_column(sa.Column("warn_limit", sa.Integer(), nullable=False, server_default="3"))
        batch.add_column(
            sa.Column("escalation", sa.String(8), nullable=False, server_default="mute")
        )
        batch.add_column(sa.Column("verify_timeout", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("channel_mode", sa.String(8), nullable=False, server_default="all")
        )
        batch.add_column(
            sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("prompt_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("joined_label", sa.String(255), nullable=True))
        batch.add_column(sa.Column("join_label", sa.String(255), nullable=True))
        batch.add_column(
            sa.Column("config_rights", sa.String(8), nullable=False, server_default="all")
        )
        for name, condition in CHECKS.items():
            batch.create_check_constraint(op.f(f"ck_protected_groups_{name}"), condition)
    op.create_table(
        "group_managers",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_group_managers")),
    )
    op.create_index(op.f("ix_group_managers_user_id"), "group_managers", ["user_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_group_managers_user_id"), table_name="group_managers")
    op.drop_table("group_managers")
    # Groups on an action the old schema does not know fall back to mute.
    op.execute("UPDATE protected_groups SET action = 'mute' WHERE action NOT IN ('mute', 'delete')")
    with op.batch_alter_table("protected_groups") as batch:
        for name in CHECKS:
            batch.drop_constraint(op.f(f"ck_protected_groups_{name}"), type_="check")
        for column in (
            "config_rights", "join_label", "joined_label", "prompt_text", "dry_run",
            "channel_mode", "verify_timeout", "escalation", "warn_limit",
        ):  # fmt: skip
            batch.drop_column(column)
        batch.drop_constraint(op.f("ck_protected_groups_action"), type_="check")
        batch.create_check_constraint(
            op.f("ck_protected_groups_action"), "action IN ('mute', 'delete')"
        )
