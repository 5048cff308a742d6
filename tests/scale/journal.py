"""Reading what reached "Telegram": the emulator's request journal, its webhook deliveries
and its chats. Every count of what the bot did comes from here, never from the bot's own
word; metrics are used only for what only the bot knows (duplicates it caught, which
instance did the work), and the outbox only for whether work is still waiting.

The bot acts after it answers the webhook (its outbox workers do), so "settled" means
both: the emulator has nothing pending or in flight, and the outbox is empty.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from bot_api_emulator import EmulatorClient, RequestRecord
from tests.scale.outbox import HeldEntry
from tests.scale.processes import wait_until
from tests.scale.webhook_cluster import Cluster

# What the bot's callback buttons carry ("gmv:<user id>"; the raid notice's is "gmv:0",
# for whoever presses it) and how it confirms /protect.
CALLBACK_PREFIX = "gmv"
RAID_NOTICE_SUBJECT = 0
PROTECTED = "🛡 Protection on: members must be subscribed to"
SAVED = "Saved."  # how it confirms /settings
SETTLE_TIMEOUT = 90.0


async def journal_mark(c: Cluster) -> int:
    records = await c.emu.requests(bot_id=c.bot.id, since=0)
    return records[-1].seq if records else 0


async def calls(
    c: Cluster, method: str, since: int, *, chat_id: int | None = None
) -> list[RequestRecord]:
    records = await c.emu.requests(method, bot_id=c.bot.id, since=since)
    return [r for r in records if chat_id is None or r.params.get("chat_id") == chat_id]


def mutes(records: list[RequestRecord], *, ok_only: bool = True) -> Counter[tuple[int, int]]:
    """restrictChatMember calls taking the right to write away, by (chat, user). By default
    only successful ones: a call Telegram refused (a 429, say) muted nobody."""
    return Counter(
        (r.params["chat_id"], r.params["user_id"])
        for r in records
        if r.method == "restrictChatMember"
        and r.params.get("permissions", {}).get("can_send_messages") is False
        and (r.ok or not ok_only)
    )


def deleted_ids(record: RequestRecord) -> list[int]:
    """The message ids a deleteMessage or deleteMessages call asked to delete."""
    if record.method == "deleteMessage":
        return [int(record.params["message_id"])]
    if record.method == "deleteMessages":
        ids = record.params.get("message_ids")
        if isinstance(ids, str):  # sent form-encoded: a JSON-serialized list
            ids = json.loads(ids)
        return [int(i) for i in ids or []]
    return []


def delete_calls(records: list[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if r.method in ("deleteMessage", "deleteMessages")]


def deletes(records: list[RequestRecord], *, ok_only: bool = True) -> Counter[tuple[int, int]]:
    """How many delete calls named each (chat, message_id), over deleteMessage and
    deleteMessages alike. By default only successful calls count: a message named in two
    successful calls was deleted twice (a double); a call Telegram refused (400, the
    messages were gone already; 429) deleted nothing."""
    return Counter(
        (r.params["chat_id"], message_id)
        for r in delete_calls(records)
        if r.ok or not ok_only
        for message_id in deleted_ids(r)
    )


def prompted_user(record: RequestRecord) -> int | None:
    """The user a prompt (a sendMessage with the "I've joined" button) is for, else None."""
    if record.method != "sendMessage":
        return None
    markup = record.params.get("reply_markup") or {}
    for row in markup.get("inline_keyboard", []) if isinstance(markup, dict) else []:
        for button in row:
            data = str(button.get("callback_data", ""))
            prefix, _, user = data.partition(":")
            if prefix == CALLBACK_PREFIX and user.lstrip("-").isdigit():
                return int(user)
    return None


def prompts(records: list[RequestRecord]) -> Counter[tuple[int, int]]:
    """Prompts sent, by (chat, prompted user); the raid notice is not one (raid_notices)."""
    counted: Counter[tuple[int, int]] = Counter()
    for r in records:
        user = prompted_user(r)
        if user is not None and user != RAID_NOTICE_SUBJECT:
            counted[(r.params["chat_id"], user)] += 1
    return counted


def raid_notices(records: list[RequestRecord], *, ok_only: bool = True) -> Counter[int]:
    """Shared raid notices posted, by chat."""
    return Counter(
        r.params["chat_id"]
        for r in records
        if prompted_user(r) == RAID_NOTICE_SUBJECT and (r.ok or not ok_only)
    )


def covered(records: list[RequestRecord], chat_id: int, user_id: int) -> bool:
    """The gated user was told what to do once: one prompt of their own, or none and
    (in a raid) the group's shared notice."""
    own = prompts(records)[(chat_id, user_id)]
    return own == 1 or (own == 0 and raid_notices(records)[chat_id] >= 1)


async def settle(c: Cluster, timeout: float = SETTLE_TIMEOUT) -> None:  # noqa: ASYNC109
    """Until the emulator has nothing pending or in flight for the bot, and the outbox
    holds nothing (every decided action carried out). In that order: an update answered
    has recorded its actions, so an empty outbox after it means they are done."""

    async def settled() -> bool:
        return (
            await _settled(c.emu, c.bot.id)
            and await c.outbox.backlog() == 0
            and await _settled(c.emu, c.bot.id)
        )

    await wait_until(
        settled,
        timeout=timeout,
        message="the emulator still had updates pending or in flight, or the outbox work",
        interval=0.1,
        watch=[i.proc for i in c.instances],
    )


async def _settled(emu: EmulatorClient, bot_id: int) -> bool:
    bot = (await emu.stats())["bots"][str(bot_id)]
    return bot["pending"] == 0 and bot["in_flight"] == 0


async def present(emu: EmulatorClient, chat_id: int, message_id: int) -> bool:
    return any(m["message_id"] == message_id for m in await emu.messages(chat_id))


def reached_bot(delivery: Any) -> bool:
    """The attempt reached nginx and got or awaited an answer (not a refused connection)."""
    return delivery.status is not None or delivery.error == "Read timeout expired"


async def caught_lower_bound(c: Cluster, update_ids: set[int]) -> tuple[int, int]:
    """(deliveries of these updates after their first that reached the bot, redeliveries)."""
    deliveries = [
        d for d in await c.emu.webhook_deliveries(bot_id=c.bot.id) if d.update_id in update_ids
    ]
    per_update = Counter(d.update_id for d in deliveries if reached_bot(d))
    redeliveries = sum(1 for d in deliveries if d.attempt > 1)
    return sum(n - 1 for n in per_update.values() if n > 1), redeliveries


async def assert_all_answered(c: Cluster, update_ids: set[int]) -> None:
    deliveries = await c.emu.webhook_deliveries(bot_id=c.bot.id)
    answered = {d.update_id for d in deliveries if d.ok}
    missing = sorted(update_ids - answered)
    assert missing == [], f"updates never answered 2xx: {missing[:20]} ({len(missing)})"


def update_ids_of(updates: list[dict[str, Any]], after: int) -> set[int]:
    return {u["update_id"] for u in updates if u["update_id"] > after}


async def last_update_id(c: Cluster) -> int:
    return int((await c.emu.stats())["bots"][str(c.bot.id)]["last_update_id"])


async def prompt_calls(c: Cluster, since: int, chat_id: int, user_id: int) -> list[RequestRecord]:
    sent = await calls(c, "sendMessage", since, chat_id=chat_id)
    return [r for r in sent if prompted_user(r) == user_id]


def message_update_of(
    updates: list[dict[str, Any]], chat_id: int, message_id: int
) -> dict[str, Any]:
    for u in updates:
        message = u["update"].get("message")
        if message and message["chat"]["id"] == chat_id and message["message_id"] == message_id:
            return u
    raise AssertionError(f"no update for message {message_id} in chat {chat_id}")


def done_after(records: list[RequestRecord], entry: HeldEntry, at: float) -> bool:
    """The journal shows the outbox entry's action carried out (successfully) after `at`
    (epoch seconds, the emulator's clock: the same machine's)."""
    user = entry.field("user")
    for r in records:
        if not r.ok or r.at < at or r.params.get("chat_id") != entry.chat_id:
            continue
        if entry.kind == "delete" and int(entry.field("message")) in deleted_ids(r):
            return True
        if (
            entry.kind == "mute"
            and r.method == "restrictChatMember"
            and str(r.params.get("user_id")) == user
        ):
            return True
        if entry.kind == "prompt" and str(prompted_user(r)) == user:
            return True
    return False
