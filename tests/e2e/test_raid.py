"""A raid on a protected group, end to end through both doors: batched deletions, one
mute per raider, one shared notice edited in place instead of a prompt per raider, and
the raid's start and end audited and reported; the group's raid settings."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from gmbot.domain.models import AuditKind
from gmbot.services.texts import CALLBACK_PREFIX
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    GROUP,
    MEMBER,
    SECRET,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

RAIDERS = [5001 + i for i in range(8)]
MORE_RAIDERS = [6001 + i for i in range(4)]
CHATTERS = [MEMBER, 2101, 2102]  # subscribed members, chatting through the raid
NOTICE = "🛡 Many new messages"
EDIT_EVERY = 3.0  # the default raid_edit_every
CALM = 60.0  # the default raid_calm


class Screen:
    """Watches the group's gate messages (prompts and raid notices: the bot's messages
    with a `gmv:` button) after every Bot API call, so `most` is the largest number
    ever on screen at once."""

    def __init__(self, h: Harness) -> None:
        self._h = h
        self.most = len(gate_messages(h))
        world = h.world
        original: Callable[[str, dict[str, Any]], Any] = world.answer

        def answer(method: str, params: dict[str, Any]) -> Any:
            try:
                return original(method, params)
            finally:
                self.most = max(self.most, len(gate_messages(h)))

        world.answer = answer  # type: ignore[method-assign, assignment]


def gate_messages(h: Harness) -> list[dict[str, Any]]:
    return [
        m
        for m in h.bot_messages(GROUP)
        if f'"callback_data": "{CALLBACK_PREFIX}:' in json.dumps(m.get("reply_markup", {}))
    ]


def notices(h: Harness) -> list[dict[str, Any]]:
    return [m for m in gate_messages(h) if m["text"].startswith(NOTICE)]


def prompts_on_screen(h: Harness) -> list[dict[str, Any]]:
    return [m for m in gate_messages(h) if not m["text"].startswith(NOTICE)]


def deleted_by_batch(h: Harness) -> list[list[int]]:
    return [
        json.loads(c.params["message_ids"])
        for c in h.session.called("deleteMessages")
        if c.params["chat_id"] == str(GROUP)
    ]


def restricted(h: Harness, user_id: int) -> int:
    return sum(
        1 for c in h.session.called("restrictChatMember") if c.params["user_id"] == str(user_id)
    )


def private_texts(h: Harness, user_id: int) -> list[str]:
    return [
        c.params["text"]
        for c in h.session.called("sendMessage")
        if c.params["chat_id"] == str(user_id)
    ]


def raids(h: Harness, event: str) -> float:
    assert h.runtime.services is not None
    value = h.runtime.services.metrics.registry.get_sample_value(
        "bot_raids_total", {"instance_id": "test-1", "event": event}
    )
    return value or 0.0


async def burst(h: Harness, messages: list[dict[str, Any]]) -> list[Any]:
    """Deliver the messages back to back; the workers take them together after the
    last (the webhook answers far faster than deletions go out)."""
    outcomes = []
    for i, message in enumerate(messages):
        last = i == len(messages) - 1
        outcomes.append(await h.feed({"message": message}, drain=last))
    return outcomes


def newcomers_of(world: TelegramWorld, user_ids: list[int]) -> None:
    """Members of the group who have not joined the channel."""
    for user_id in user_ids:
        world.user(user_id, f"Raider{user_id}")
        world.set_status(GROUP, user_id, "member")


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    h = harness
    newcomers_of(h.world, RAIDERS + MORE_RAIDERS)
    for user_id in CHATTERS[1:]:
        h.world.user(user_id, f"Chatter{user_id}")
        h.world.set_status(GROUP, user_id, "member")
        h.world.set_status(CHANNEL, user_id, "member")
    h.world.start(ADMIN)
    await h.say(ADMIN, ADMIN, "/start")  # the owner can be told in private
    await h.say(GROUP, ADMIN, "/protect @newschan")
    for user_id in CHATTERS:
        assert await h.say(GROUP, user_id, "hi") == "queued"  # verified, then cached
    h.session.clear()
    return h


async def test_a_raid_gets_one_shared_notice_and_batched_deletions(protected: Harness) -> None:
    h = protected
    screen = Screen(h)
    raid_messages: list[dict[str, Any]] = []
    chat_messages: list[dict[str, Any]] = []
    burst_batches: list[set[int]] = []
    for round_ in range(3):
        messages = []
        for i, raider in enumerate(RAIDERS):
            spam = h.message_payload(GROUP, raider, f"spam {round_}.{i}")
            raid_messages.append(spam)
            messages.append(spam)
            if i % 3 == 0:
                chat = h.message_payload(GROUP, CHATTERS[i // 3], f"chat {round_}.{i}")
                chat_messages.append(chat)
                messages.append(chat)
        if round_ == 0:
            # The raid begins: one at a time, so which raiders come before the
            # threshold (and get a prompt, soon replaced) is the same through both doors.
            outcomes = [await h.feed({"message": m}) for m in messages]
            expected = "queued"  # not known yet: a worker looks each raider up
        else:
            outcomes = await burst(h, messages)
            expected = "removed"  # known as not joined: decided in the webhook
            burst_batches.append({m["message_id"] for m in messages if m in raid_messages})
        assert [o for o in outcomes if o != "passed"] == [expected] * len(RAIDERS)
        assert outcomes.count("passed") == 3
        h.clock.advance(EDIT_EVERY + 1)
        await h.sweep()

    # Every raid message went, in one deleteMessages call per burst; no member's did.
    assert not any(h.present(m) for m in raid_messages)
    assert all(h.present(m) for m in chat_messages)
    raid_ids = {m["message_id"] for m in raid_messages}
    batches = [ids for ids in deleted_by_batch(h) if raid_ids & set(ids)]
    assert sorted(i for ids in batches for i in ids) == sorted(raid_ids)
    assert len(batches) == len(RAIDERS) + 2 < len(raid_messages)
    assert [set(ids) for ids in batches[-2:]] == burst_batches  # one call per burst
    assert h.session.called("deleteMessage") == []
    # One mute per raider however many messages; nobody else muted.
    assert [restricted(h, r) for r in RAIDERS] == [1] * len(RAIDERS)
    assert [restricted(h, c) for c in CHATTERS] == [0, 0, 0]
    assert all(h.world.status(GROUP, r) == "restricted" for r in RAIDERS)
    # Never more than two of the bot's messages on screen, and one notice for everyone.
    assert screen.most <= 2
    [notice] = notices(h)
    posted = [c for c in h.session.called("sendMessage") if c.params["text"].startswith(NOTICE)]
    assert len(posted) == 1
    edits = [
        c
        for c in h.session.called("editMessageText")
        if c.params["message_id"] == str(notice["message_id"])
    ]
    assert edits, "the notice's count was never refreshed"
    assert "8 members must join @newschan" in notice["text"]
    assert prompts_on_screen(h) == []
    buttons = [b for row in notice["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0]["url"] == "https://t.me/newschan"
    assert buttons[-1]["callback_data"] == f"{CALLBACK_PREFIX}:0"
    assert raids(h, "started") == 1
    assert [e.kind for e in await h.audit(GROUP)].count(AuditKind.RAID_START) == 1
    assert sum("Raid in" in t for t in private_texts(h, ADMIN)) == 1

    # A raider who joins presses the notice's button: verified; the notice stays.
    joined = RAIDERS[0]
    h.world.set_status(CHANNEL, joined, "member")
    await h.press(GROUP, notice["message_id"], joined, f"{CALLBACK_PREFIX}:0")
    assert "You can write" in h.world.callback_answers[-1]["text"]
    assert h.world.status(GROUP, joined) == "member"
    assert notices(h) == [notice]

    # Calm for a while: the notice goes, the end is audited and reported once.
    h.clock.advance(CALM + 1)
    assert await h.sweep() == 1
    assert notices(h) == []
    assert raids(h, "ended") == 1
    kinds = [e.kind for e in await h.audit(GROUP)]
    assert (kinds.count(AuditKind.RAID_START), kinds.count(AuditKind.RAID_END)) == (1, 1)
    assert sum("is over" in t for t in private_texts(h, ADMIN)) == 1
    assert await h.sweep() == 0
    assert screen.most <= 2

    # Back to per-member prompts: the next gated member has one of their own.
    [late] = MORE_RAIDERS[:1]
    assert await h.say(GROUP, late, "after the raid") == "queued"
    assert [p for p in prompts_on_screen(h) if f"tg://user?id={late}" in p["text"]]
    assert notices(h) == []


async def test_the_prompts_on_screen_give_way_to_the_notice(protected: Harness) -> None:
    h = protected
    screen = Screen(h)
    first, second, third = RAIDERS[:3]
    await h.say(GROUP, first, "spam")
    await h.say(GROUP, second, "spam")
    assert len(prompts_on_screen(h)) == 2  # under the threshold: a prompt each
    assert notices(h) == []
    await h.say(GROUP, third, "spam")  # the third within a minute starts the raid
    assert prompts_on_screen(h) == []
    [notice] = notices(h)
    assert "3 members must join" in notice["text"]
    assert screen.most == 2


async def test_raid_off_means_per_member_prompts(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid off")
    assert "Saved." in h.last_bot_text(GROUP)
    assert "raid: off" in h.last_bot_text(GROUP)
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[:5]])
    assert notices(h) == []
    prompted = {u for u in RAIDERS[:5] for p in prompts_on_screen(h) if f'id={u}"' in p["text"]}
    assert prompted == set(RAIDERS[:5])
    assert raids(h, "started") == 0
    assert AuditKind.RAID_START not in [e.kind for e in await h.audit(GROUP)]


async def test_raid_on_means_the_notice_from_the_first(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid on")
    assert "raid: on" in h.last_bot_text(GROUP)
    await h.say(GROUP, RAIDERS[0], "spam")
    assert prompts_on_screen(h) == []
    [notice] = notices(h)
    assert "1 member must join" in notice["text"]


async def test_raid_off_during_a_raid_brings_prompts_back(protected: Harness) -> None:
    h = protected
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[:3]])
    assert len(notices(h)) == 1
    await h.say(GROUP, ADMIN, "/settings raid off")
    late = MORE_RAIDERS[0]
    await h.say(GROUP, late, "spam")
    assert [p for p in prompts_on_screen(h) if f"tg://user?id={late}" in p["text"]]


async def test_raid_threshold_setting(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid auto 5")
    assert "raid: auto 5" in h.last_bot_text(GROUP)
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[:4]])
    assert notices(h) == []
    assert len(prompts_on_screen(h)) == 4
    await h.say(GROUP, RAIDERS[4], "spam")  # the fifth
    assert len(notices(h)) == 1
    assert prompts_on_screen(h) == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("bogus", "raid must be “auto”"),
        ("auto 1", "between 2 and 1000"),
        ("auto many", "e.g. “raid auto 5”"),
        ("on 5", "only “auto” takes a number"),
    ],
)
async def test_a_bad_raid_setting_is_explained_and_nothing_saved(
    protected: Harness, value: str, problem: str
) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid auto 4")
    saved = h.last_bot_text(GROUP)
    assert "raid: auto 4" in saved
    await h.say(GROUP, ADMIN, f"/settings raid {value}")
    reply = h.last_bot_text(GROUP)
    assert problem in reply
    assert "Saved" not in reply
    await h.say(GROUP, ADMIN, "/status")
    assert "raid: auto 4" in h.last_bot_text(GROUP)


async def test_a_member_whose_prompt_the_raid_removed_is_prompted_after_it(
    protected: Harness,
) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings action warn")  # not muted: they may post again
    await h.say(GROUP, ADMIN, "/settings warnings 10")
    await h.say(GROUP, ADMIN, "/settings prompt 10m")
    first = RAIDERS[0]
    await h.say(GROUP, first, "spam")
    assert len(prompts_on_screen(h)) == 1
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[1:3]])
    assert prompts_on_screen(h) == []  # the raid's notice replaced the prompt
    h.clock.advance(CALM + 1)
    assert await h.sweep() == 1
    await h.say(GROUP, first, "spam again, after the raid")
    assert [p for p in prompts_on_screen(h) if f"tg://user?id={first}" in p["text"]]


LATENCY = 0.1  # each way, per Bot API request: a 200 ms round trip, as from afar


@pytest.fixture
async def slow_telegram(tmp_path: Path) -> AsyncIterator[Harness]:
    """A protected group whose Bot API answers take a round trip, as Telegram's do.

    One door only: concurrent work finishes in an order that depends on timing here,
    which the door comparison would read as a difference."""
    world = TelegramWorld()
    standard_world(world)
    newcomers_of(world, RAIDERS)
    h = await start_harness(make_settings(tmp_path, webhook_secret=SECRET), world)
    try:
        await h.open_door("fast_path")
        await h.say(GROUP, ADMIN, "/protect @newschan")
        session = h.session
        answer = session.make_request

        async def slowly(bot: Any, method: Any, timeout: int | None = None) -> Any:  # noqa: ASYNC109
            await asyncio.sleep(LATENCY)
            try:
                return await answer(bot, method, timeout)
            finally:
                await asyncio.sleep(LATENCY)

        session.make_request = slowly  # type: ignore[method-assign]
        yield h
    finally:
        await h.close()
    assert h.session.conformance_errors == []


async def test_prompts_on_their_way_when_a_raid_starts_never_make_three(
    slow_telegram: Harness,
) -> None:
    h = slow_telegram
    screen = Screen(h)
    # Three newcomers at once: their prompts go out together as the third starts the raid.
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[:3]])
    assert len(notices(h)) == 1
    assert prompts_on_screen(h) == []
    assert screen.most <= 2


async def test_status_shows_a_raid_going_on(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/status")
    assert "Raid mode is on" not in h.last_bot_text(GROUP)
    await burst(h, [h.message_payload(GROUP, r, "spam") for r in RAIDERS[:4]])
    assert len(notices(h)) == 1
    await h.say(GROUP, ADMIN, "/status")
    assert "Raid mode is on: 4 members gated so far" in h.last_bot_text(GROUP)
