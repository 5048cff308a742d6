"""The "I've joined" button through the real dispatcher: never a stale "not yet"."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.types import Update

from gmbot.services.texts import CALLBACK_PREFIX
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    CHANNEL2,
    GROUP,
    SECRET,
    STRANGER,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

RECHECK = 0.5  # real seconds: a press within it waits out the rest, then asks
DATA = f"{CALLBACK_PREFIX}:{STRANGER}"


@pytest.fixture(params=["dispatcher", "fast_path"])
async def button(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    """A protected group with a short recheck interval, the stranger muted and prompted.

    Not the door-comparing `harness` fixture: concurrent presses finish in an order
    that depends on timing."""
    world = TelegramWorld()
    standard_world(world)
    settings = make_settings(tmp_path, webhook_secret=SECRET, recheck_interval=RECHECK)
    h = await start_harness(settings, world)
    try:
        await h.open_door(request.param)
        await h.say(GROUP, ADMIN, "/protect @newschan")
        await h.say(GROUP, STRANGER, "spam")
        assert h.world.status(GROUP, STRANGER) == "restricted"
        h.session.clear()
        yield h
    finally:
        await h.close()
    assert h.session.conformance_errors == []


def prompt_id(h: Harness) -> int:
    prompts = [m for m in h.bot_messages(GROUP) if f"tg://user?id={STRANGER}" in m["text"]]
    assert prompts, "no prompt was sent"
    return int(prompts[-1]["message_id"])


def last_answer(h: Harness) -> str:
    return str(h.world.callback_answers[-1]["text"])


async def test_join_between_presses_is_verified_never_a_stale_not_yet(button: Harness) -> None:
    h = button
    prompt = prompt_id(h)
    await h.press(GROUP, prompt, STRANGER, DATA)
    assert last_answer(h) == "You have not joined @newschan yet. Checked just now."
    assert h.world.callback_answers[-1]["show_alert"] is True
    assert len(h.session.called("getChatMember")) == 1

    h.world.set_status(CHANNEL, STRANGER, "member")
    started = time.monotonic()
    await h.press(GROUP, prompt, STRANGER, DATA)  # well within the interval

    assert "You can write" in last_answer(h)
    assert time.monotonic() - started >= RECHECK * 0.5  # it waited out the interval...
    assert len(h.session.called("getChatMember")) == 2  # ...then asked Telegram
    assert h.world.status(GROUP, STRANGER) == "member"
    assert prompt not in h.world.messages[GROUP]


async def test_every_not_yet_is_asked_after_its_press(button: Harness) -> None:
    h = button
    prompt = prompt_id(h)
    for n in range(1, 4):
        await h.press(GROUP, prompt, STRANGER, DATA)
        assert last_answer(h).endswith("Checked just now.")
        # Telegram at most once per interval, but once for every "not yet".
        assert len(h.session.called("getChatMember")) == n
    assert h.world.status(GROUP, STRANGER) == "restricted"


async def test_presses_at_once_share_one_fresh_look_up(button: Harness) -> None:
    h = button
    prompt = prompt_id(h)
    await h.press(GROUP, prompt, STRANGER, DATA)  # the interval starts
    h.world.set_status(CHANNEL, STRANGER, "member")
    h.session.clear()
    answered = len(h.world.callback_answers)

    # Straight into the dispatcher, all at once (Harness.feed counts one at a time).
    assert h.runtime.dispatcher is not None
    message = h.world.messages[GROUP][prompt]
    updates = [
        Update.model_validate(
            {
                "update_id": h.next_update_id(),
                "callback_query": {
                    "id": f"cb-at-once-{n}",
                    "from": h.world.users[STRANGER],
                    "chat_instance": "ci",
                    "message": message,
                    "data": DATA,
                },
            },
            context={"bot": h.bot},
        )
        for n in range(3)
    ]
    dispatcher = h.runtime.dispatcher
    await asyncio.gather(*(dispatcher.feed_update(h.bot, u) for u in updates))

    assert len(h.session.called("getChatMember")) == 1
    answers = [a["text"] for a in h.world.callback_answers[answered:]]
    assert len(answers) == 3
    assert all("You can write" in a for a in answers), answers
    assert h.world.status(GROUP, STRANGER) == "member"


async def test_any_mode_one_channel_is_enough(button: Harness) -> None:
    h = button
    await h.say(GROUP, ADMIN, "/protect @newschan @extrachan")
    await h.say(GROUP, ADMIN, "/settings mode any")
    await asyncio.sleep(RECHECK)  # the first press below starts a fresh interval
    prompt = prompt_id(h)
    await h.press(GROUP, prompt, STRANGER, DATA)
    text = last_answer(h)
    assert text.startswith("You have not joined any of ")
    assert "one of them is enough" in text
    h.world.set_status(CHANNEL2, STRANGER, "member")
    await h.press(GROUP, prompt, STRANGER, DATA)
    assert "You can write" in last_answer(h)
    assert h.world.status(GROUP, STRANGER) == "member"
