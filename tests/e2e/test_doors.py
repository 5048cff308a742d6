"""The branches where the fast path and the dispatcher could part ways, through both
doors (the `harness` fixture), with the same answers and the same Bot API calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from gmbot.cache.keys import CacheKeys
from gmbot.domain.fencing import LeaseLost
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    DUPLICATE,
    FAILED,
    GROUP,
    MEMBER,
    STRANGER,
    UNAVAILABLE,
    Harness,
    retry_later,
)

HELPER_BOT = 999


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    harness.world.user(HELPER_BOT, "Helper", is_bot=True)
    harness.world.set_status(GROUP, HELPER_BOT, "member")
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    harness.session.clear()
    return harness


@contextmanager
def redis_down(h: Harness) -> Iterator[None]:
    h.redis_reachable(False)
    try:
        yield
    finally:
        h.redis_reachable(True)


@contextmanager
def gate_crashing(h: Harness, error: Exception | None = None) -> Iterator[None]:
    assert h.runtime.services is not None
    gate = h.runtime.services.gate

    async def boom(*_a: object, **_k: object) -> None:
        raise error or RuntimeError("bug")

    gate.on_message = boom  # type: ignore[method-assign]
    try:
        yield
    finally:
        del gate.on_message


def deletions(h: Harness) -> list[int]:
    """Every message id the bot asked to delete, in order, by either method."""
    ids: list[int] = []
    for call in h.session.calls:
        if call.method == "deleteMessage":
            ids.append(int(call.params["message_id"]))
        elif call.method == "deleteMessages":
            ids.extend(json.loads(call.params["message_ids"]))
    return ids


def sample(h: Harness, name: str) -> float:
    assert h.runtime.services is not None
    value = h.runtime.services.metrics.registry.get_sample_value(name, {"instance_id": "test-1"})
    return value or 0.0


async def test_bot_senders_pass_and_wait_out_redis_down(protected: Harness) -> None:
    h = protected
    assert await h.say(GROUP, HELPER_BOT, "bot talk") == "passed"
    assert await h.edit(GROUP, HELPER_BOT, "edited bot talk") == "passed"
    talk = {"message": h.message_payload(GROUP, HELPER_BOT, "bot talk, Redis down")}
    with redis_down(h):
        # Unclaimed it could be handled twice: answered 503, it comes back later.
        for _ in range(2):
            assert await h.feed(talk, update_id=900, answer=UNAVAILABLE) is None
    assert await h.feed(talk, update_id=900) == "passed"
    assert await h.feed(talk, update_id=900, answer=DUPLICATE) is None
    assert h.session.calls == []


async def test_a_bot_senders_redelivery_and_poison_update(protected: Harness) -> None:
    h = protected
    message = h.message_payload(GROUP, HELPER_BOT, "bot talk")
    assert await h.feed({"message": message}, update_id=60) == "passed"
    assert await h.feed({"message": message}, update_id=60, answer=DUPLICATE) is None
    crashing = h.message_payload(GROUP, HELPER_BOT, "bot talk, gate broken")
    with gate_crashing(h):
        for _ in range(h.runtime.settings.update_max_attempts):
            await h.feed({"message": crashing}, update_id=61, answer=FAILED)
        assert await h.feed({"message": crashing}, update_id=61, answer=DUPLICATE) is None
    assert sample(h, "bot_poison_updates_total") == 1
    assert sample(h, "bot_duplicate_updates_total") == 1
    assert h.session.calls == []


async def test_admins_and_exempt_users_pass_then_cost_nothing(protected: Harness) -> None:
    h = protected
    assert await h.say(GROUP, ADMIN, "admin talk") == "passed"
    await h.say(GROUP, ADMIN, f"/exempt {STRANGER}")
    h.session.clear()
    for text in ("exempt talk", "more"):
        assert await h.say(GROUP, STRANGER, text) == "passed"
        assert await h.say(GROUP, ADMIN, text) == "passed"
    assert await h.edit(GROUP, STRANGER, "edited") == "passed"
    assert h.session.calls == []
    exempt = {"message": h.message_payload(GROUP, STRANGER, "exempt, Redis down")}
    admin = {"message": h.message_payload(GROUP, ADMIN, "admin, Redis down")}
    with redis_down(h):  # not decided without it: delivered again later
        assert await h.feed(exempt, update_id=901, answer=UNAVAILABLE) is None
        assert await h.feed(admin, update_id=902, answer=UNAVAILABLE) is None
    assert await h.feed(exempt, update_id=901) == "passed"
    assert await h.feed(admin, update_id=902) == "passed"
    assert h.session.calls == []


async def test_unprotected_groups_are_ignored(harness: Harness) -> None:
    h = harness
    assert await h.say(GROUP, STRANGER, "never protected") == "ignored"
    assert await h.say(GROUP, STRANGER, "still not") == "ignored"
    await h.say(GROUP, ADMIN, "/protect @newschan")
    await h.say(GROUP, ADMIN, "/unprotect")
    h.session.clear()
    assert await h.say(GROUP, STRANGER, "no longer protected") == "ignored"
    assert await h.edit(GROUP, STRANGER, "edited") == "ignored"
    down = {"message": h.message_payload(GROUP, STRANGER, "Redis down")}
    with redis_down(h):
        assert await h.feed(down, update_id=903, answer=UNAVAILABLE) is None
    assert await h.feed(down, update_id=903) == "ignored"
    assert h.session.calls == []


async def test_members_and_strangers_wait_out_redis_down(protected: Harness) -> None:
    h = protected
    member = {"message": h.message_payload(GROUP, MEMBER, "cold cache, Redis down")}
    spam = {"message": h.message_payload(GROUP, STRANGER, "spam")}
    edited = h.message_payload(GROUP, STRANGER, "spam to be edited")
    edited["edit_date"] = edited["date"] + 1
    deliveries = [(910, member), (911, spam), (912, {"edited_message": edited})]
    with redis_down(h):
        for _ in range(2):  # Telegram tries again while Redis is still away
            for update_id, body in deliveries:
                assert await h.feed(body, update_id=update_id, answer=UNAVAILABLE) is None
    assert h.session.calls == []  # nothing decided, nothing done
    assert h.present(spam["message"])
    assert h.world.status(GROUP, STRANGER) == "member"
    # Back: the same updates, delivered again, are handled, and once.
    assert await h.feed(member, update_id=910) == "queued"
    assert await h.feed(spam, update_id=911) == "queued"
    assert await h.feed({"edited_message": edited}, update_id=912) == "removed"
    assert h.present(member["message"])
    assert not h.present(spam["message"])
    assert h.world.status(GROUP, STRANGER) == "restricted"
    restricted = len(h.session.called("restrictChatMember"))
    assert restricted == 1
    for update_id, body in deliveries:
        assert await h.feed(body, update_id=update_id, answer=DUPLICATE) is None
    assert len(h.session.called("restrictChatMember")) == restricted
    assert await h.say(GROUP, MEMBER, "and cached") == "passed"


async def test_database_down_answers_503_until_it_is_back(protected: Harness) -> None:
    h = protected
    # The group's configuration not cached: reading it needs the database.
    await h.redis.delete(CacheKeys(h.runtime.settings.redis_namespace).group(GROUP))
    spam = {"message": h.message_payload(GROUP, STRANGER, "spam")}
    await h.database_reachable(False)
    try:
        assert await h.feed(spam, update_id=920, answer=UNAVAILABLE) == "error"
        # Degraded now: refused while readiness fails (asked again first), not even claimed.
        assert await h.feed(spam, update_id=920, answer=UNAVAILABLE) is None
    finally:
        await h.database_reachable(True)
    assert h.session.calls == []
    assert await h.feed(spam, update_id=920) == "queued"
    assert not h.present(spam["message"])
    assert await h.feed(spam, update_id=920, answer=DUPLICATE) is None


async def test_a_holder_that_lost_its_lease_answers_503(protected: Harness) -> None:
    h = protected
    message = h.message_payload(GROUP, STRANGER, "spam")
    with gate_crashing(h, LeaseLost("update 79")):  # stalled past its lease, say
        assert await h.feed({"message": message}, update_id=79, answer=retry_later(5)) == "error"
    assert h.session.calls == []
    assert await h.feed({"message": message}, update_id=79) == "queued"
    assert deletions(h) == [message["message_id"]]


async def test_redelivery_is_acknowledged_without_acting_twice(protected: Harness) -> None:
    h = protected
    member, stranger = h.message_payload(GROUP, MEMBER, "hi"), h.message_payload(GROUP, STRANGER)
    assert await h.feed({"message": member}, update_id=500) == "queued"
    assert await h.feed({"message": stranger}, update_id=501) == "queued"
    assert h.present(member)
    assert not h.present(stranger)
    h.session.clear()
    for update_id, message in ((500, member), (501, stranger)):
        await h.feed({"message": message}, update_id=update_id, answer=DUPLICATE)
    assert h.session.calls == []
    assert sample(h, "bot_duplicate_updates_total") == 2


async def test_delivery_while_another_instance_handles_it(protected: Harness) -> None:
    h = protected
    assert h.runtime.guard is not None
    held = await h.runtime.guard.admit(42)  # "another instance" holds the lease
    message = h.message_payload(GROUP, STRANGER, "spam")
    await h.feed({"message": message}, update_id=42, answer=retry_later(5))
    assert h.session.calls == []
    await h.runtime.guard._claims.release(42, held.token)
    assert await h.feed({"message": message}, update_id=42) == "queued"
    assert not h.present(message)


async def test_a_crash_answers_500_and_the_redelivery_does_the_work(protected: Harness) -> None:
    h = protected
    message = h.message_payload(GROUP, STRANGER, "spam")
    with gate_crashing(h):
        assert await h.feed({"message": message}, update_id=77, answer=FAILED) == "error"
    assert h.session.calls == []
    assert await h.feed({"message": message}, update_id=77) == "queued"
    assert deletions(h) == [message["message_id"]]


async def test_poison_update_is_given_up_on_after_max_attempts(protected: Harness) -> None:
    h = protected
    message = h.message_payload(GROUP, STRANGER, "spam")
    attempts = h.runtime.settings.update_max_attempts
    with gate_crashing(h):
        for _ in range(attempts):
            await h.feed({"message": message}, update_id=88, answer=FAILED)
        assert h.session.calls == []
        # Given up on as an update, but not as a message: the workers still gate it.
        assert await h.feed({"message": message}, update_id=88, answer=DUPLICATE) is None
    assert not h.present(message)
    assert h.world.status(GROUP, STRANGER) == "restricted"
    h.session.clear()
    assert await h.feed({"message": message}, update_id=88, answer=DUPLICATE) is None
    assert sample(h, "bot_poison_updates_total") == 1
    assert h.session.calls == []


async def test_a_failed_update_settled_on_redelivery_still_counts_its_attempts(
    protected: Harness,
) -> None:
    h = protected
    # The gate fails on every attempt of one update and on the first of another;
    # meanwhile the sender joins the channel, so the cache would now settle both as
    # a pass. The first is a poison update all the same, the second is handled.
    poison, retried = (h.message_payload(GROUP, STRANGER, t) for t in ("hello", "again"))
    with gate_crashing(h):
        for _ in range(h.runtime.settings.update_max_attempts):
            await h.feed({"message": poison}, update_id=99, answer=FAILED)
        await h.feed({"message": retried}, update_id=100, answer=FAILED)
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    assert await h.say(GROUP, STRANGER, "a new message is settled") == "passed"
    assert await h.feed({"message": retried}, update_id=100) == "passed"
    assert await h.feed({"message": poison}, update_id=99, answer=DUPLICATE) is None
    assert sample(h, "bot_poison_updates_total") == 1


async def test_a_long_retry_after_answers_503_with_retry_after(protected: Harness) -> None:
    h = protected
    # The one look-up left inside the request: the group's admin list, when not cached.
    h.session.stage(
        "getChatAdministrators", 429, "Too Many Requests: retry after 30", retry_after=30
    )
    assert await h.say(GROUP, MEMBER, "hi", answer=retry_later(30)) == "error"


async def test_media_and_topic_messages(protected: Harness) -> None:
    h = protected
    photo = [{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}]
    spam = h.message_payload(GROUP, STRANGER, "x", photo=photo, caption="look")
    spam.pop("text")
    assert await h.feed({"message": spam}) == "queued"
    assert not h.present(spam)
    assert await h.edit(GROUP, STRANGER, "edited caption") == "removed"  # cached as missing
    topic: dict[str, Any] = {"message_thread_id": 5, "is_topic_message": True}
    assert await h.say(GROUP, MEMBER, "in a topic", **topic) == "queued"
    assert await h.say(GROUP, MEMBER, "in a topic again", **topic) == "passed"
    prompt = h.session.called("sendMessage")[-1]
    assert "message_thread_id" not in prompt.params  # the spam was not in a topic
