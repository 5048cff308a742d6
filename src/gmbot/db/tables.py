"""SQLModel table models: the schema the migrations create.

Telegram chat and user ids exceed 32 bits, so every id column is a BigInteger.
Rows never leave gmbot.db.repositories; services see gmbot.domain.models only.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import registry
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

# Named constraints, so later migrations (batch mode on SQLite) can drop them by name.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# GMBot's own metadata, not SQLModel's global one, so stray table models elsewhere
# never end up in migrations.
metadata = MetaData(naming_convention=NAMING_CONVENTION)

# An autoincrementing BIGINT primary key is not a rowid alias on SQLite, so it
# would never be filled in there.
BigId = BigInteger().with_variant(Integer, "sqlite")


def as_utc(value: datetime) -> datetime:
    """Aware UTC; naive values are taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """TIMESTAMP WITH TIME ZONE that always reads and writes aware UTC.

    SQLite has no time zones: it would store an aware value's wall-clock time
    and return it naive, so values are converted to UTC on the way in and
    marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(SQLModel, registry=registry(metadata=metadata)):
    """Base of GMBot's table models."""


def _id(*, primary_key: bool = False, nullable: bool = False) -> Any:
    return Field(
        sa_column=Column(
            BigInteger, primary_key=primary_key, autoincrement=False, nullable=nullable
        )
    )


def _when(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(UtcDateTime, nullable=nullable))


class GroupRow(Base, table=True):
    __tablename__ = "protected_groups"
    __table_args__ = (
        CheckConstraint("action IN ('delete', 'mute', 'kick', 'ban', 'warn')", name="action"),
        CheckConstraint("raid_mode IN ('auto', 'on', 'off')", name="raid_mode"),
        CheckConstraint("escalation IN ('mute', 'kick', 'ban')", name="escalation"),
        CheckConstraint("channel_mode IN ('all', 'any')", name="channel_mode"),
        CheckConstraint("config_rights IN ('all', 'restrict', 'creator')", name="config_rights"),
    )

    chat_id: int = _id(primary_key=True)
    title: str = Field(sa_column=Column(String(255), nullable=False))
    protected_by: int | None = _id(nullable=True)
    protected_at: datetime = _when()
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    action: str = Field(sa_column=Column(String(16), nullable=False))
    prompt_ttl: int = Field(sa_column=Column(Integer, nullable=False))
    mute_seconds: int | None = Field(sa_column=Column(Integer, nullable=True))
    delete_channel_posts: bool = Field(sa_column=Column(Boolean, nullable=False))
    raid_mode: str = Field(sa_column=Column(String(8), nullable=False, server_default="auto"))
    raid_threshold: int = Field(sa_column=Column(Integer, nullable=False, server_default="3"))
    warn_limit: int = Field(sa_column=Column(Integer, nullable=False, server_default="3"))
    escalation: str = Field(sa_column=Column(String(8), nullable=False, server_default="mute"))
    verify_timeout: int | None = Field(sa_column=Column(Integer, nullable=True))
    channel_mode: str = Field(sa_column=Column(String(8), nullable=False, server_default="all"))
    dry_run: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=false()))
    prompt_text: str | None = Field(sa_column=Column(Text, nullable=True))
    joined_label: str | None = Field(sa_column=Column(String(255), nullable=True))
    join_label: str | None = Field(sa_column=Column(String(255), nullable=True))
    config_rights: str = Field(sa_column=Column(String(8), nullable=False, server_default="all"))
    linked_chat_id: int | None = _id(nullable=True)
    # Comma-separated right names; "" when the bot has every right it needs.
    missing_rights: str = Field(sa_column=Column(String(512), nullable=False))


class ChannelRow(Base, table=True):
    """A channel by id: a rename updates this one row for every group linking it."""

    __tablename__ = "channels"

    channel_id: int = _id(primary_key=True)
    title: str = Field(sa_column=Column(String(255), nullable=False))
    username: str | None = Field(sa_column=Column(String(64), nullable=True))
    invite_link: str | None = Field(sa_column=Column(String(255), nullable=True))
    bot_is_admin: bool = Field(sa_column=Column(Boolean, nullable=False))


class LinkRow(Base, table=True):
    __tablename__ = "channel_links"
    __table_args__ = (
        UniqueConstraint("chat_id", "channel_id"),
        # Joins in a channel look up its groups.
        Index(None, "channel_id"),
    )

    # Surrogate key: it orders links made in the same instant in input order.
    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    chat_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("protected_groups.chat_id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    channel_id: int = Field(
        sa_column=Column(
            BigInteger, ForeignKey("channels.channel_id", ondelete="CASCADE"), nullable=False
        )
    )
    linked_at: datetime = _when()


# Owners, exemptions and restrictions carry no foreign key to protected_groups:
# they are keyed by chat id alone and may be written before or after protect().


class OwnerRow(Base, table=True):
    __tablename__ = "group_owners"

    chat_id: int = _id(primary_key=True)
    user_id: int = _id(primary_key=True)
    added_at: datetime = _when()


class ManagerRow(Base, table=True):
    """Admins GMBot has seen in a group: the candidates of a user's private group list,
    each checked live with Telegram before it is shown."""

    __tablename__ = "group_managers"
    __table_args__ = (Index(None, "user_id"),)

    chat_id: int = _id(primary_key=True)
    user_id: int = _id(primary_key=True)
    seen_at: datetime = _when()


class BotUserRow(Base, table=True):
    __tablename__ = "bot_users"

    user_id: int = _id(primary_key=True)
    started_at: datetime = _when()
    blocked: bool = Field(sa_column=Column(Boolean, nullable=False))


class ExemptRow(Base, table=True):
    __tablename__ = "exempt_users"

    chat_id: int = _id(primary_key=True)
    user_id: int = _id(primary_key=True)
    added_by: int | None = _id(nullable=True)
    added_at: datetime = _when()


class RestrictionRow(Base, table=True):
    __tablename__ = "restrictions"
    __table_args__ = (
        CheckConstraint("state IN ('intent', 'active')", name="state"),
        # A user joining a channel lifts their mutes in every group.
        Index(None, "user_id"),
        # The reconciler's sweeps: intents, and records checked longest ago.
        Index(None, "state", "checked_at"),
    )

    chat_id: int = _id(primary_key=True)
    user_id: int = _id(primary_key=True)
    created_at: datetime = _when()
    until: datetime | None = _when(nullable=True)
    # "intent" is written before restrictChatMember, "active" once Telegram confirmed.
    state: str = Field(sa_column=Column(String(8), nullable=False, server_default="active"))
    checked_at: datetime | None = _when(nullable=True)


class AuditRow(Base, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "chat_id", "created_at"),  # a group's recent entries
        Index(None, "created_at"),  # pruning by age
        Index(None, "kind"),  # counts per kind
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True)
    )
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    chat_id: int = _id()
    user_id: int | None = _id(nullable=True)
    actor_id: int | None = _id(nullable=True)
    detail: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = _when()
