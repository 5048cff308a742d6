"""The chats, channels and users a test builds in the emulator, and /protect on them.

Every test builds its own: names are unique per call, so nothing one test made can meet
another's.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from bot_api_emulator import Bot, Chat, EmulatorClient, User
from tests.scale.journal import PROTECTED, SAVED, SETTLE_TIMEOUT, calls, journal_mark
from tests.scale.processes import wait_until
from tests.scale.webhook_cluster import Cluster
from tests.support import GROUP_PERMISSIONS

T = TypeVar("T")

_names = itertools.count(1)


@dataclass
class World:
    bot: Bot
    admin: User
    group: Chat
    channel: Chat
    members: list[User]  # in the group and subscribed to the channel
    strangers: list[User]  # in the group, not subscribed


async def make_world(
    emu: EmulatorClient, bot: Bot, *, members: int = 1, strangers: int = 1
) -> World:
    """A supergroup and a channel, both administered by the bot. The subscribed members join
    the channel before the bot becomes its admin, so the bot has heard nothing about them."""
    n = f"{next(_names)}_{uuid.uuid4().hex[:6]}"
    admin = await emu.create_user("Ada", f"ada_{n}")
    group = await emu.create_chat(
        "supergroup", f"Group {n}", creator_id=admin.id, permissions=GROUP_PERMISSIONS
    )
    channel = await emu.create_chat(
        "channel", f"News {n}", username=f"news_{n}", creator_id=admin.id
    )
    subscribed = [await emu.create_user(f"Max{i}", f"max{i}_{n}") for i in range(members)]
    outsiders = [await emu.create_user(f"Sam{i}", f"sam{i}_{n}") for i in range(strangers)]
    for user in subscribed:
        await emu.set_member(channel.id, user.id, "member")
    await emu.set_member(channel.id, bot.id, "administrator")
    for user in [*subscribed, *outsiders]:
        await emu.set_member(group.id, user.id, "member")
    await emu.set_member(
        group.id, bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
    )
    return World(bot, admin, group, channel, subscribed, outsiders)


async def gather_limited(limit: int, coros: Iterable[Awaitable[T]]) -> list[T]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[T]) -> T:
        async with semaphore:
            return await coro

    return await asyncio.gather(*(one(c) for c in coros))


@dataclass
class LoadWorld:
    admin: User
    channel: Chat
    chats: list[Chat]
    subscribed: list[User]
    outsiders: list[User]


async def make_load_world(
    emu: EmulatorClient, bot: Bot, *, chats: int, subscribed: int = 5, outsiders: int = 2
) -> LoadWorld:
    """`chats` supergroups sharing one channel, not protected yet; the subscribed users and
    the outsiders are in every group."""
    admin = await emu.create_user("Owner", None)
    channel = await emu.create_chat(
        "channel", "Load news", username=f"loadnews_{uuid.uuid4().hex[:8]}", creator_id=admin.id
    )
    subscribers = [await emu.create_user(f"Sub{i}") for i in range(subscribed)]
    others = [await emu.create_user(f"Out{i}") for i in range(outsiders)]
    for user in subscribers:
        await emu.set_member(channel.id, user.id, "member")
    await emu.set_member(channel.id, bot.id, "administrator")
    groups = await gather_limited(
        32,
        (
            emu.create_chat(
                "supergroup", f"Load {i}", creator_id=admin.id, permissions=GROUP_PERMISSIONS
            )
            for i in range(chats)
        ),
    )

    async def populate(chat: Chat) -> None:
        for user in [*subscribers, *others]:
            await emu.set_member(chat.id, user.id, "member")
        await emu.set_member(
            chat.id, bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
        )

    await gather_limited(32, (populate(chat) for chat in groups))
    return LoadWorld(admin, channel, groups, subscribers, others)


async def protect(c: Cluster, world: World, *, raid: str | None = None) -> None:
    """/protect through the normal path (emulator -> nginx -> some instance); then, with
    `raid` ("off", "on", "auto 5"), `/settings raid <raid>` the same way. Raid mode is
    auto by default: three members gated within a minute get one shared notice instead of
    prompts of their own, so a test about per-member prompts turns it off."""
    message = await c.emu.send_message(
        world.group.id, world.admin.id, f"/protect @{world.channel.username}"
    )
    text = await _reply_to(c, world, message["message_id"], "/protect")
    assert text.startswith(PROTECTED), text
    if raid is not None:
        message = await c.emu.send_message(world.group.id, world.admin.id, f"/settings raid {raid}")
        text = await _reply_to(c, world, message["message_id"], "/settings raid")
        assert text.startswith(SAVED), text


async def _reply_to(c: Cluster, world: World, message_id: int, what: str) -> str:
    async def reply() -> str | None:
        for m in await c.emu.messages(world.group.id):
            if m["message_id"] > message_id and m.get("from", {}).get("id") == c.bot.id:
                return str(m.get("text", ""))
        return None

    return await wait_until(
        reply,
        timeout=30,
        message=f"the bot did not answer {what}",
        watch=[i.proc for i in c.instances],
    )


async def protect_all(c: Cluster, lw: LoadWorld) -> None:
    """/protect in every group of `lw` at once; return when each has been confirmed."""
    since = await journal_mark(c)
    await gather_limited(
        64,
        (
            c.emu.send_message(chat.id, lw.admin.id, f"/protect @{lw.channel.username}")
            for chat in lw.chats
        ),
    )

    async def all_protected() -> bool:
        confirmed = {
            r.params["chat_id"]
            for r in await calls(c, "sendMessage", since)
            if PROTECTED in str(r.params.get("text", ""))
        }
        return len(confirmed) == len(lw.chats)

    await wait_until(
        all_protected,
        timeout=SETTLE_TIMEOUT,
        message="not every group was protected",
        interval=0.25,
        watch=[i.proc for i in c.instances],
    )
