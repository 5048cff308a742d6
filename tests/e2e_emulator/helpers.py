"""Driving the real bot process through the emulator: worlds, waits and the shared stories.

The stories (`story_*`) are used by the polling suite here and by the webhook suite in
tests/integration/e2e_emulator, so both modes are held to the same behaviour.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest

from bot_api_emulator import Bot, Chat, EmulatorClient, EmulatorError, RequestRecord, User
from gmbot.demo.process import BotProcess
from tests.support import GROUP_PERMISSIONS

T = TypeVar("T")

TIMEOUT = 15.0  # per observable step; generous for slow CI machines
START_TIMEOUT = 60.0
CALLBACK_PREFIX = "gmv"
PROTECTED = "🛡 Protection on: members must be subscribed to"
NOT_ADMIN = "Only the group's admins can configure GMBot here."
NOT_CHANNEL_ADMIN = "I am not an admin of this channel"
BASIC_GROUP = "This is a basic group"
NOT_JOINED = "You have not joined"
VERIFIED = "Thanks! You can write in the group now."
NOT_YOURS = "This button is for the member it mentions."


_names = itertools.count(1)


def base_env(bot: Bot, api_url: str, **values: str) -> dict[str, str]:
    """Settings common to every bot process of the suites (no .env, no developer values)."""
    return {
        "BOT_TOKEN": bot.token,
        "TELEGRAM_API_URL": api_url,
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "INFO",
        "RECHECK_INTERVAL": "0",  # the button may be pressed twice in a row
        "INSTANCE_ID": "e2e",
        **values,
    }


def polling_env(bot: Bot, api_url: str, workdir: Path) -> dict[str, str]:
    return base_env(
        bot,
        api_url,
        ENVIRONMENT="development",
        DATABASE_URL=f"sqlite+aiosqlite:///{workdir / 'gmbot.db'}",
    )


async def start_bot(
    env: Mapping[str, str],
    workdir: Path,
    ready: Callable[[], Awaitable[object]],
    *,
    what: str,
) -> BotProcess:
    """Start `python -m gmbot run`; return once `ready` is truthy (or fail with its log)."""
    process = BotProcess(env, workdir)
    await process.start()
    try:
        await process.wait_until(ready, timeout=START_TIMEOUT, message=what)
    except BaseException:
        await process.stop()
        raise
    return process


async def stop_bot(process: BotProcess) -> None:
    """SIGTERM, then SIGKILL; print the bot's output so a failing test shows it."""
    code = await process.stop(timeout=10)
    print(f"--- bot process {process.pid} exited with {code}; its output:")
    print(process.output())


async def seed_update(client: EmulatorClient, bot: Bot) -> None:
    """Leave an update pending (the bot added to a lobby group), so that the bot's first
    getUpdates answers at once and shows in the journal (it records finished requests)."""
    lobby = await client.create_chat("supergroup", f"Lobby {uuid.uuid4().hex[:6]}")
    await client.set_member(lobby.id, bot.id, "member")


def polling_ready(client: EmulatorClient, bot: Bot) -> Callable[[], Awaitable[object]]:
    async def probe() -> object:
        return await client.requests("getUpdates", bot_id=bot.id)

    return probe


def spec_env() -> dict[str, str]:
    value = os.environ.get("GMBOT_API_SPEC")
    return {"GMBOT_API_SPEC": value} if value else {}


@dataclass
class World:
    """Fresh people and chats for one test, administered by the shared bot."""

    bot: Bot
    admin: User  # creator of the group and of the channel
    stranger: User  # in the group, not subscribed
    member: User  # in the group and subscribed
    group: Chat
    channel: Chat


async def make_world(client: EmulatorClient, bot: Bot, *, group_type: str = "supergroup") -> World:
    n = f"{next(_names)}_{uuid.uuid4().hex[:6]}"
    admin = await client.create_user("Ada", f"ada_{n}")
    stranger = await client.create_user("Sam", f"sam_{n}")
    member = await client.create_user("Max", f"max_{n}")
    group = await client.create_chat(
        group_type,
        f"Group {n}",
        creator_id=admin.id,
        permissions=GROUP_PERMISSIONS if group_type == "supergroup" else None,
    )
    channel = await client.create_chat(
        "channel", f"News {n}", username=f"news_{n}", creator_id=admin.id
    )
    await client.set_member(
        group.id, bot.id, "administrator", can_delete_messages=True, can_restrict_members=True
    )
    await client.set_member(channel.id, bot.id, "administrator")
    for user in (stranger, member):
        await client.set_member(group.id, user.id, "member")
    await client.set_member(channel.id, member.id, "member")
    return World(bot, admin, stranger, member, group, channel)


@dataclass(frozen=True)
class Webhook:
    url: str  # WEBHOOK_URL + WEBHOOK_PATH
    secret: str


@dataclass(frozen=True)
class WebhookBot:
    process: BotProcess
    base_url: str  # http://127.0.0.1:<port>, the bot's own server (/health, /ready)
    webhook: Webhook


class Driver:
    """What a test does to the world and waits for, with the bot process watched."""

    def __init__(
        self,
        client: EmulatorClient,
        process: BotProcess,
        world: World,
        *,
        api_url: str,
        webhook: Webhook | None = None,
    ) -> None:
        self.client = client
        self.process = process
        self.world = world
        self.api_url = api_url
        self.webhook = webhook
        self.since = 0

    async def mark(self) -> int:
        """Only requests from now on count for `calls`."""
        records = await self.client.requests(bot_id=self.world.bot.id, since=self.since)
        if records:
            self.since = records[-1].seq
        return self.since

    async def wait(
        self,
        probe: Callable[[], Awaitable[T | None]],
        message: str,
        timeout: float = TIMEOUT,  # noqa: ASYNC109 - a deadline for the bot process
    ) -> T:
        return await self.process.wait_until(probe, timeout=timeout, message=message)

    async def calls(
        self, method: str, *, chat_id: int | None = None, user_id: int | None = None
    ) -> list[RequestRecord]:
        records = await self.client.requests(method, bot_id=self.world.bot.id, since=self.since)
        return [
            r
            for r in records
            if (chat_id is None or r.params.get("chat_id") == chat_id)
            and (user_id is None or r.params.get("user_id") == user_id)
        ]

    async def post(self, user: User, text: str, *, chat: Chat | None = None) -> dict[str, Any]:
        chat_id = (chat or self.world.group).id
        return await self.client.send_message(chat_id, user.id, text)

    async def messages(self, chat: Chat | None = None) -> list[dict[str, Any]]:
        return await self.client.messages((chat or self.world.group).id)

    async def present(self, message: dict[str, Any]) -> bool:
        return any(m["message_id"] == message["message_id"] for m in await self.messages())

    async def reply_to(self, message: dict[str, Any], chat: Chat | None = None) -> str:
        """The text of the bot's first message in the chat after `message`."""
        bot_id = self.world.bot.id

        async def probe() -> str | None:
            for m in await self.messages(chat):
                if (
                    m["message_id"] > message["message_id"]
                    and m.get("from", {}).get("id") == bot_id
                ):
                    return str(m.get("text", ""))
            return None

        return await self.wait(probe, f"the bot did not answer {message.get('text')!r}")

    async def command(
        self, text: str, *, user: User | None = None, chat: Chat | None = None
    ) -> str:
        message = await self.post(user or self.world.admin, text, chat=chat)
        return await self.reply_to(message, chat)

    async def protect(self) -> None:
        reply = await self.command(f"/protect @{self.world.channel.username}")
        assert reply.startswith(PROTECTED), reply
        assert f"@{self.world.channel.username}" in reply

    async def barrier(self) -> None:
        """The bot answered a command sent now, so it is done with the updates before it.

        aiogram handles updates concurrently, so this is not a strict ordering; but the
        command needs several Bot API round trips, while an earlier message's gate
        decision needs at most one."""
        reply = await self.command("/status")
        assert "Protected" in reply or "not protected" in reply, reply

    async def status(self, user: User) -> dict[str, Any]:
        return await self.client.member(self.world.group.id, user.id)

    async def wait_gated(self, user: User, message: dict[str, Any]) -> dict[str, Any]:
        """Until `message` is deleted, `user` muted and prompted; returns the prompt."""
        callback = f"{CALLBACK_PREFIX}:{user.id}"

        async def probe() -> dict[str, Any] | None:
            if await self.present(message):
                return None
            member = await self.status(user)
            if member["status"] != "restricted" or member.get("can_send_messages"):
                return None
            for m in await self.messages():
                if callback in str(m.get("reply_markup", "")):
                    return m
            return None

        return await self.wait(probe, f"user {user.id} was not removed, muted and prompted")

    async def wait_unmuted(self, user: User, prompt: dict[str, Any]) -> None:
        async def probe() -> bool:
            if (await self.status(user))["status"] == "restricted":
                return False
            return not await self.present(prompt)

        await self.wait(probe, f"user {user.id} was not unmuted, or the prompt not removed")

    async def press(self, prompt: dict[str, Any], user: User) -> tuple[str | None, bool]:
        answer = await self.client.press_button(
            self.world.group.id,
            prompt["message_id"],
            user.id,
            f"{CALLBACK_PREFIX}:{self.world.stranger.id}",
            timeout=TIMEOUT,
        )
        assert answer.answered, "the bot did not answer the button"
        return answer.text, answer.show_alert

    async def bot_api(self, method: str, **params: Any) -> dict[str, Any]:
        """A Bot API call with the bot's token (as an operator's tool would make)."""
        url = f"{self.api_url}/bot{self.world.bot.token}/{method}"
        async with aiohttp.ClientSession() as session, session.post(url, json=params) as resp:
            data: dict[str, Any] = await resp.json()
            assert data["ok"], data
            return data

    async def join_unnoticed(self, user: User) -> None:
        """`user` joins the channel, but its chat_member update never reaches the bot (as if
        it came while the bot was down): only the button can lift the mute then."""
        await self.client.pause_delivery()
        try:
            await self.client.join_chat(self.world.channel.id, user.id)
            if self.webhook is None:
                await self.bot_api("deleteWebhook", drop_pending_updates=True)
            else:
                await self.bot_api(
                    "setWebhook",
                    url=self.webhook.url,
                    secret_token=self.webhook.secret,
                    drop_pending_updates=True,
                )
        finally:
            await self.client.resume_delivery()


# ----- the stories, shared by both modes ----------------------------------------------------


async def story_gate_and_button(d: Driver) -> None:
    """Protect; a non-member is removed, muted and prompted; the button verifies her."""
    w = d.world
    await d.protect()
    await d.mark()
    spam = await d.post(w.stranger, "buy followers")
    prompt = await d.wait_gated(w.stranger, spam)

    assert str(prompt["text"]).startswith(w.stranger.first_name)
    assert f"@{w.channel.username}" in prompt["text"]
    rows = prompt["reply_markup"]["inline_keyboard"]
    flat = [button for row in rows for button in row]
    assert flat[0]["url"] == f"https://t.me/{w.channel.username}"
    assert flat[-1]["callback_data"] == f"{CALLBACK_PREFIX}:{w.stranger.id}"
    [mute] = await d.calls("restrictChatMember", user_id=w.stranger.id)
    assert mute.ok
    assert mute.params["permissions"]["can_send_messages"] is False
    # She had just posted, so nobody had restricted her: the group is not asked first.
    assert await d.calls("getChatMember", chat_id=w.group.id, user_id=w.stranger.id) == []
    # Gated messages go in batches (deleteMessages), never one by one.
    [delete] = await d.calls("deleteMessages", chat_id=w.group.id)
    assert delete.params["message_ids"] == [spam["message_id"]]
    assert await d.calls("deleteMessage", chat_id=w.group.id) == []
    with pytest.raises(EmulatorError, match="may not post") as refused:
        await d.post(w.stranger, "let me in")
    assert refused.value.status == 403

    # Someone else's button, then hers before joining: refused, still muted.
    assert await d.press(prompt, w.member) == (NOT_YOURS, True)
    text, alert = await d.press(prompt, w.stranger)
    assert text is not None
    assert text.startswith(NOT_JOINED)
    assert alert
    assert (await d.status(w.stranger))["status"] == "restricted"

    # She joins while the bot does not hear about it: the button lifts the mute.
    await d.join_unnoticed(w.stranger)
    await d.mark()
    assert await d.press(prompt, w.stranger) == (VERIFIED, False)
    await d.wait_unmuted(w.stranger, prompt)
    [unmute] = await d.calls("restrictChatMember", user_id=w.stranger.id)
    chat_defaults = (await d.client.chat(w.group.id))["permissions"]
    sent = unmute.params["permissions"]
    differing = {k: (sent[k], v) for k, v in chat_defaults.items() if k in sent and sent[k] != v}
    assert differing == {}, "the unmute did not restore the group's default permissions"
    assert sent["can_send_messages"] is True
    assert sent["can_pin_messages"] is False  # the group's default, not "everything"

    hello = await d.post(w.stranger, "hello, I joined")
    await d.barrier()
    assert await d.present(hello)


async def story_auto_unmute(d: Driver) -> None:
    """A muted non-member joins the channel: the chat_member update lifts the mute."""
    w = d.world
    await d.protect()
    spam = await d.post(w.stranger, "spam")
    prompt = await d.wait_gated(w.stranger, spam)
    await d.mark()
    await d.client.join_chat(w.channel.id, w.stranger.id)
    await d.wait_unmuted(w.stranger, prompt)
    [unmute] = await d.calls("restrictChatMember", user_id=w.stranger.id)
    assert unmute.params["permissions"]["can_send_messages"] is True
    assert await d.calls("answerCallbackQuery") == []  # nobody pressed anything
    hello = await d.post(w.stranger, "hi")
    await d.barrier()
    assert await d.present(hello)


async def story_member_passes(d: Driver) -> None:
    """A subscribed member writes freely; once known, at no Bot API cost at all."""
    w = d.world
    await d.protect()
    await d.mark()
    first = await d.post(w.member, "hello")
    await d.barrier()
    # The bot may already know (it heard the chat_member update of the member's join);
    # if it asked Telegram, Telegram said "member".
    for check in await d.calls("getChatMember", chat_id=w.channel.id, user_id=w.member.id):
        assert check.result["status"] == "member"
    await d.mark()
    second = await d.post(w.member, "again")
    await d.barrier()
    assert await d.present(first)
    assert await d.present(second)
    assert await d.calls("getChatMember", user_id=w.member.id) == []
    assert await d.calls("deleteMessage") == []
    assert await d.calls("deleteMessages") == []
    assert await d.calls("restrictChatMember") == []
