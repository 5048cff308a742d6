"""Shared values and helpers for the storage-port contract (see repository_contract.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gmbot.domain.models import LinkedChannel, ProtectedGroup
from gmbot.domain.ports import UnitOfWorkFactory

# Telegram ids beyond 32 bits, as real supergroups, channels and users have.
CHAT = -1001234567890
OTHER_CHAT = -1009876543210
NEW_CHAT = -1001111111111
ADMIN = 5_000_000_001
OTHER_ADMIN = 5_000_000_002
USER = 7_000_000_001
OTHER_USER = 7_000_000_002

ALPHA = LinkedChannel(-1002000000001, "Alpha", username="alpha")
BETA = LinkedChannel(-1002000000002, "Beta", invite_link="https://t.me/+beta")
GAMMA = LinkedChannel(-1002000000003, "Gamma", username="gamma")

T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
T2 = T0 + timedelta(hours=2)


async def protect(
    uows: UnitOfWorkFactory,
    chat_id: int = CHAT,
    channels: tuple[LinkedChannel, ...] = (ALPHA, BETA),
    *,
    by: int | None = ADMIN,
    now: datetime = T0,
    title: str = "Group",
    linked_chat_id: int | None = None,
) -> ProtectedGroup:
    async with uows() as uow:
        group = await uow.groups.protect(chat_id, title, by, linked_chat_id, channels, now)
        await uow.commit()
    return group


async def load(uows: UnitOfWorkFactory, chat_id: int = CHAT) -> ProtectedGroup | None:
    async with uows() as uow:
        return await uow.groups.get(chat_id)
