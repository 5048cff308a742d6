"""Initial schema: groups, channels and links, owners, bot users, exemptions,
restrictions and the audit log.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Only CREATE/DROP TABLE and INDEX here, which SQLite runs natively; batch mode
(env.py) matters for later ALTERs. Names are the ones the naming convention in
gmbot.db.tables produces, given final with op.f() so it is not applied twice.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# BIGINT does not autoincrement on SQLite; INTEGER PRIMARY KEY is its rowid.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, *, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "protected_groups",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("protected_by", sa.BigInteger(), nullable=True),
        _when("protected_at"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("prompt_ttl", sa.Integer(), nullable=False),
        sa.Column("mute_seconds", sa.Integer(), nullable=True),
        sa.Column("delete_channel_posts", sa.Boolean(), nullable=False),
        sa.Column("linked_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("missing_rights", sa.String(512), nullable=False),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_protected_groups")),
        sa.CheckConstraint("action IN ('mute', 'delete')", name=op.f("ck_protected_groups_action")),
    )
    op.create_table(
        "channels",
        sa.Column("channel_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("username", sa.String(64), nullable=True),
        sa.Column("invite_link", sa.String(255), nullable=True),
        sa.Column("bot_is_admin", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_channels")),
    )
    op.create_table(
        "channel_links",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        _when("linked_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_links")),
        sa.UniqueConstraint(
            "chat_id", "channel_id", name=op.f("uq_channel_links_chat_id_channel_id")
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["protected_groups.chat_id"],
            name=op.f("fk_channel_links_chat_id_protected_groups"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.channel_id"],
            name=op.f("fk_channel_links_channel_id_channels"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(op.f("ix_channel_links_channel_id"), "channel_links", ["channel_id"])
    op.create_table(
        "group_owners",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _when("added_at"),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_group_owners")),
    )
    op.create_table(
        "bot_users",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _when("started_at"),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_bot_users")),
    )
    op.create_table(
        "exempt_users",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        _when("added_at"),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_exempt_users")),
    )
    op.create_table(
        "restrictions",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        _when("created_at"),
        _when("until", nullable=True),
        sa.PrimaryKeyConstraint("chat_id", "user_id", name=op.f("pk_restrictions")),
    )
    op.create_index(op.f("ix_restrictions_user_id"), "restrictions", ["user_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", _BIG_ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_chat_id_created_at"), "audit_log", ["chat_id", "created_at"])
    op.create_index(op.f("ix_audit_log_created_at"), "audit_log", ["created_at"])
    op.create_index(op.f("ix_audit_log_kind"), "audit_log", ["kind"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_log_kind"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_created_at"), table_name="audit_log")
    op.drop_index(op.f("ix_audit_log_chat_id_created_at"), table_name="audit_log")
    op.drop_table("audit_log")
    op.drop_index(op.f("ix_restrictions_user_id"), table_name="restrictions")
    op.drop_table("restrictions")
    op.drop_table("exempt_users")
    op.drop_table("bot_users")
    op.drop_table("group_owners")
    op.drop_index(op.f("ix_channel_links_channel_id"), table_name="channel_links")
    op.drop_table("channel_links")
    op.drop_table("channels")
    op.drop_table("protected_groups")
