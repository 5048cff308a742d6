"""Redelivered updates and the outbox, through both doors: what the webhook recorded is
carried out once, whether Telegram re-sends the update before or after the workers
got to it, and even when the "done" mark of the update was lost."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    DUPLICATE,
    FAILED,
    GROUP,
    MEMBER,
    STRANGER,
    Harness,
)


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    harness.session.clear()
    return harness


def acted_on(h: Harness, message: dict[str, Any]) -> dict[str, int]:
    """How often the bot deleted the message, muted and prompted its sender."""
    user = str(message["from"]["id"])
    deleted = sum(
        json.loads(c.params["message_ids"]).count(message["message_id"])
        for c in h.session.called("deleteMessages")
    ) + sum(
        1
        for c in h.session.called("deleteMessage")
        if c.params["message_id"] == str(message["message_id"])
    )
    muted = sum(1 for c in h.session.called("restrictChatMember") if c.params["user_id"] == user)
    prompted = sum(
        1
        for c in h.session.called("sendMessage")
        if f"tg://user?id={user}" in c.params.get("text", "")
    )
    return {"deleted": deleted, "muted": muted, "prompted": prompted}


ONCE = {"deleted": 1, "muted": 1, "prompted": 1}


async def forget_done_mark(h: Harness, update_id: int) -> None:
    """As if the instance died after recording, before the update was marked done: its
    lease lapses and Telegram's redelivery is handled afresh."""
    keys = await h.redis.keys(f"*update:{update_id}")
    assert keys, "no claim of the update was found"
    await h.redis.delete(*keys)


@contextmanager
def gate_crashing(h: Harness) -> Iterator[None]:
    assert h.runtime.services is not None
    gate = h.runtime.services.gate

    async def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("bug")

    gate.on_message = boom  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        del gate.on_message


async def test_a_redelivery_before_the_workers_acted_is_a_duplicate(protected: Harness) -> None:
    h = protected
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}, update_id=300, drain=False) == "queued"
    assert h.present(spam)  # decided on and recorded, not acted on yet
    assert await (await h.outbox()).backlog() == 1  # the look-up the workers will make
    made = len(h.session.calls)
    assert await h.feed({"message": spam}, update_id=300, answer=DUPLICATE, drain=False) is None
    assert await (await h.outbox()).backlog() == 1  # nothing recorded twice
    assert len(h.session.calls) == made
    await h.drain()
    assert not h.present(spam)
    assert acted_on(h, spam) == ONCE
    assert await (await h.outbox()).backlog() == 0


async def test_a_redelivery_handled_afresh_records_nothing_twice(protected: Harness) -> None:
    h = protected
    first = h.message_payload(GROUP, STRANGER, "spam")
    await h.feed({"message": first})  # the stranger is known as not joined from now on
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "more spam")
    assert await h.feed({"message": spam}, update_id=301, drain=False) == "removed"
    recorded = await (await h.outbox()).backlog()
    assert recorded >= 1  # its deletion at least
    await forget_done_mark(h, 301)
    assert await h.feed({"message": spam}, update_id=301, drain=False) == "removed"
    assert await (await h.outbox()).backlog() == recorded  # the same keys: nothing new
    await h.drain()
    assert not h.present(spam)
    # Deleted once; the mute and the prompt were the first message's, not repeated.
    assert acted_on(h, spam) == {"deleted": 1, "muted": 0, "prompted": 0}
    assert h.session.called("deleteMessages")[0].params["message_ids"] == (
        f"[{spam['message_id']}]"
    )


async def test_a_redelivery_after_the_workers_acted_does_nothing_again(
    protected: Harness,
) -> None:
    h = protected
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}, update_id=302) == "queued"
    assert acted_on(h, spam) == ONCE
    h.session.clear()
    await forget_done_mark(h, 302)
    # Handled again: the stranger is cached as not joined, so the same actions are
    # decided at once, and the outbox knows them as carried out.
    assert await h.feed({"message": spam}, update_id=302) == "removed"
    assert h.session.calls == []


async def test_a_members_redelivered_message_costs_one_look_up(protected: Harness) -> None:
    h = protected
    hello = h.message_payload(GROUP, MEMBER, "hello")
    assert await h.feed({"message": hello}, update_id=303, drain=False) == "queued"
    await forget_done_mark(h, 303)
    assert await h.feed({"message": hello}, update_id=303, drain=False) == "queued"
    await h.drain()
    channel_checks = [
        c for c in h.session.called("getChatMember") if c.params["chat_id"] == str(CHANNEL)
    ]
    assert len(channel_checks) == 1  # the look-up's key made the second one a no-op
    assert h.present(hello)


async def test_a_poison_update_of_a_known_stranger_is_still_gated(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, STRANGER, "first spam")  # muted and prompted, known as not joined
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "spam the gate chokes on")
    with gate_crashing(h):
        for _ in range(h.runtime.settings.update_max_attempts):
            await h.feed({"message": spam}, update_id=304, answer=FAILED)
        assert h.present(spam)
        assert await h.feed({"message": spam}, update_id=304, answer=DUPLICATE) is None
    assert not h.present(spam)
    # Deleted, by the batch call; the stranger was muted and prompted once already.
    assert acted_on(h, spam) == {"deleted": 1, "muted": 0, "prompted": 0}
    assert h.session.called("deleteMessage") == []
