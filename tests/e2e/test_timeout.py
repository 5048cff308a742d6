"""`/settings timeout`: a gated member who has not verified in time is removed (kicked,
free to come back), through the real dispatcher and the outbox on fakeredis; the timer
survives a restart and is carried out once by a fleet of instances."""

from __future__ import annotations

import asyncio
from pathlib import Path

import fakeredis
import pytest
from aiogram import Bot
from dependency_injector import providers

from gmbot.container import build_container
from gmbot.domain.models import AuditKind
from gmbot.runtime import start
from gmbot.services.texts import CALLBACK_PREFIX
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    GROUP,
    SECRET,
    STRANGER,
    Harness,
    make_settings,
)
from tests.fakes.telegram import FakeSession

TIMEOUT = 600  # "/settings timeout 10m"


@pytest.fixture
async def timed(harness: Harness) -> Harness:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    await harness.say(GROUP, ADMIN, "/settings timeout 10m")
    assert "timeout: 10m" in harness.last_bot_text(GROUP)
    # Prompts outlive the timeout: the prompt janitor (a background task on real time)
    # has nothing due while a test runs, so both doors see the same calls.
    await harness.say(GROUP, ADMIN, "/settings prompt 15m")
    harness.session.clear()
    return harness


async def gated(h: Harness) -> None:
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"  # looked up by a worker, then gated
    assert not h.present(spam)
    assert h.world.status(GROUP, STRANGER) == "restricted"


def removals(*sessions: FakeSession) -> list[str]:
    return [
        c.method
        for s in sessions
        for c in s.calls
        if c.method in ("banChatMember", "unbanChatMember")
        and c.params.get("user_id") == str(STRANGER)
    ]


async def removed_in_audit(h: Harness) -> int:
    return sum(1 for e in await h.audit(GROUP) if e.kind is AuditKind.TIMEOUT_REMOVED)


async def instance(h: Harness, tmp_path: Path, instance_id: str) -> Harness:
    """Another instance of the bot over the same Redis, database, Telegram and clock."""
    settings = make_settings(tmp_path, webhook_secret=SECRET, instance_id=instance_id)
    session = FakeSession(h.world)
    container = build_container(settings)
    container.gateways.wall_seconds.override(providers.Object(h.clock))
    bot = Bot(settings.token, session=session)
    redis = fakeredis.FakeAsyncRedis(server=h.redis_server)
    container.gateways.bot.override(providers.Object(bot))
    container.gateways.redis.override(providers.Object(redis))
    runtime = await start(settings, container)
    session.clear()
    return Harness(runtime, session, redis, h.redis_server, h.clock)


# --------------------------------------------------------------------------- the setting


async def test_settings_timeout_takes_a_duration_or_off_and_refuses_the_rest(
    harness: Harness,
) -> None:
    h = harness
    await h.say(GROUP, ADMIN, "/protect @newschan")
    await h.say(GROUP, ADMIN, "/settings timeout 30m")
    assert "timeout: 30m" in h.last_bot_text(GROUP)
    await h.say(GROUP, ADMIN, "/settings timeout off")
    assert "timeout: off" in h.last_bot_text(GROUP)
    for bad, why in (
        ("30s", "between 1m and 7d"),
        ("8d", "between 1m and 7d"),
        ("soon", "a duration (e.g. 10m, 1h or 1d) or “off”"),
        ("<b>5m</b>", "a duration (e.g. 10m, 1h or 1d) or “off”"),
    ):
        await h.say(GROUP, ADMIN, f"/settings timeout {bad}")
        assert why in h.last_bot_text(GROUP), bad
    await h.say(GROUP, ADMIN, "/status")
    assert "timeout: off" in h.last_bot_text(GROUP)  # no bad value was saved
    # Nobody gated now gets a timer.
    await gated(h)
    h.clock.advance(8 * 86400)
    await h.drain()
    assert removals(h.session) == []


# --------------------------------------------------------------------------- removal


async def test_a_member_not_verified_in_time_is_removed(timed: Harness) -> None:
    h = timed
    await gated(h)
    more = h.message_payload(GROUP, STRANGER, "more spam")  # one timer, not two
    assert await h.feed({"message": more}) == "removed"
    h.clock.advance(TIMEOUT - 5)
    await h.drain()
    assert removals(h.session) == []
    h.session.clear()
    h.clock.advance(6)
    await h.drain()
    # Telegram is asked first (the group, then the channel), then the kick: ban + unban.
    methods = [c.method for c in h.session.calls]
    assert methods[:2] == ["getChatMember", "getChatMember"]
    assert [c.params["chat_id"] for c in h.session.calls[:2]] == [str(GROUP), str(CHANNEL)]
    assert removals(h.session) == ["banChatMember", "unbanChatMember"]
    assert h.session.called("unbanChatMember")[0].params["only_if_banned"] == "true"
    assert h.world.status(GROUP, STRANGER) == "left"  # free to come back once subscribed
    assert await removed_in_audit(h) == 1
    assert h.runtime.services is not None
    assert (
        h.runtime.services.metrics.registry.get_sample_value(
            "bot_verify_timeouts_total", {"instance_id": "test-1", "outcome": "removed"}
        )
        == 1
    )
    h.clock.advance(10 * TIMEOUT)
    await h.drain()
    assert len(removals(h.session)) == 2  # once


async def test_a_member_who_verified_is_not_removed(timed: Harness) -> None:
    h = timed
    await gated(h)
    [prompt] = [m for m in h.bot_messages(GROUP) if f"tg://user?id={STRANGER}" in m["text"]]
    h.world.set_status(CHANNEL, STRANGER, "member")
    await h.press(GROUP, prompt["message_id"], STRANGER, f"{CALLBACK_PREFIX}:{STRANGER}")
    assert h.world.status(GROUP, STRANGER) == "member"  # unmuted
    h.clock.advance(TIMEOUT + 1)
    await h.drain()
    assert removals(h.session) == []
    assert await removed_in_audit(h) == 0


async def test_a_member_who_joined_without_telling_is_not_removed(timed: Harness) -> None:
    """No update reached the bot and the cache still says "not joined": Telegram is
    asked at due time."""
    h = timed
    await gated(h)
    h.world.set_status(CHANNEL, STRANGER, "member")
    h.clock.advance(TIMEOUT + 1)
    await h.drain()
    assert removals(h.session) == []
    assert h.world.status(GROUP, STRANGER) == "restricted"


@pytest.mark.parametrize("became", ["admin", "exempt", "left"])
async def test_admins_exempt_and_departed_members_are_not_removed(
    timed: Harness, became: str
) -> None:
    h = timed
    await gated(h)
    if became == "admin":
        h.world.set_status(GROUP, STRANGER, "administrator")
    elif became == "exempt":
        await h.say(GROUP, ADMIN, f"/exempt {STRANGER}")
    else:
        h.world.set_status(GROUP, STRANGER, "left")
    h.clock.advance(TIMEOUT + 1)
    await h.drain()
    assert removals(h.session) == []
    assert await removed_in_audit(h) == 0


# --------------------------------------------------------------------------- the fleet


async def test_a_restarted_fleet_still_removes_them(timed: Harness, tmp_path: Path) -> None:
    h = timed
    await gated(h)
    await h.runtime.stop()  # the instance that gated them is gone
    later = await instance(h, tmp_path, "test-2")
    try:
        later.clock.advance(TIMEOUT - 5)
        await later.drain()
        assert removals(later.session) == []
        later.clock.advance(6)
        await later.drain()
        assert removals(later.session) == ["banChatMember", "unbanChatMember"]
        assert h.world.status(GROUP, STRANGER) == "left"
        assert await removed_in_audit(later) == 1
        assert later.session.conformance_errors == []
    finally:
        await later.runtime.stop()


async def test_two_instances_due_at_once_remove_them_once(timed: Harness, tmp_path: Path) -> None:
    h = timed
    await gated(h)
    other = await instance(h, tmp_path, "test-2")
    try:
        h.clock.advance(TIMEOUT + 1)
        await asyncio.gather(h.drain(), other.drain(), h.drain(), other.drain())
        assert removals(h.session, other.session) == ["banChatMember", "unbanChatMember"]
        assert await removed_in_audit(h) == 1
        h.clock.advance(TIMEOUT)
        await asyncio.gather(h.drain(), other.drain())
        assert len(removals(h.session, other.session)) == 2
        assert other.session.conformance_errors == []
    finally:
        await other.runtime.stop()


async def test_after_the_removal_a_new_offence_starts_a_new_timer(timed: Harness) -> None:
    h = timed
    await gated(h)
    h.clock.advance(TIMEOUT + 1)
    await h.drain()
    assert h.world.status(GROUP, STRANGER) == "left"
    h.world.set_status(GROUP, STRANGER, "member")  # came back, still not subscribed
    spam = h.message_payload(GROUP, STRANGER, "back again")
    await h.feed({"message": spam})
    assert not h.present(spam)
    h.clock.advance(TIMEOUT + 1)
    await h.drain()
    assert removals(h.session).count("banChatMember") == 2
    assert await removed_in_audit(h) == 2
    # The first prompt was taken off the screen with them.
    assert [m for m in h.bot_messages(GROUP) if "tg://user?id=" in m["text"]] == []
