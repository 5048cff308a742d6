"""Channel reference parsing, AdminCheck, PrivateService, GroupDirectory, MuteService."""

from __future__ import annotations

from datetime import timedelta

import pytest

from gmbot.domain.models import AuditKind, GroupSettings, LinkedChannel
from gmbot.domain.telegram import MUTED, MemberStatus, NotEnoughRights, TelegramUnavailable
from gmbot.services.events import Actor
from gmbot.services.muting import MuteOutcome
from gmbot.services.private import add_to_group_url
from gmbot.services.refs import ChannelRef, parse_channel_ref, parse_channel_refs
from tests.unit.services.support import (
    ADMIN,
    CH_A,
    CHAT,
    GROUP_TTL,
    OWNER,
    USER,
    Env,
    channel_a,
)

# --------------------------------------------------------------------------- refs


@pytest.mark.parametrize(
    ("text", "lookup"),
    [
        ("@chan_a", "@chan_a"),
        ("chan_a", "@chan_a"),
        ("@Chan_A,", "@Chan_A"),
        ("  @chan_a  ", "@chan_a"),
        ("t.me/chan_a", "@chan_a"),
        ("https://t.me/chan_a", "@chan_a"),
        ("http://t.me/chan_a/", "@chan_a"),
        ("https://telegram.me/chan_a", "@chan_a"),
        ("-1002000000001", -1002000000001),
        ("1234567", 1234567),
    ],
)
def test_valid_refs(text: str, lookup: int | str) -> None:
    ref = parse_channel_ref(text)
    assert ref is not None
    assert ref.lookup == lookup


@pytest.mark.parametrize(
    "text",
    [
        "",
        "@",
        "@abc",  # too short
        "@" + "a" * 33,  # too long
        "@1channel",  # starts with a digit
        "@chan-a",
        "hello world",
        "https://t.me/+AbCdEf",  # invite links cannot be looked up
        "https://t.me/joinchat/AbCdEf",
        "https://example.com/chan_a",
        "t.me/chan_a/123",  # a post link
        "-123",  # too short for an id
        "12ab34567",
    ],
)
def test_junk_is_not_a_ref(text: str) -> None:
    assert parse_channel_ref(text) is None


def test_refs_keep_order_drop_duplicates_and_report_junk() -> None:
    refs, bad = parse_channel_refs(
        ["@chan_a", "t.me/CHAN_A", "junk!", "-1002000000001", "-1002000000001", "@chan_b", "!"]
    )
    assert refs == [
        ChannelRef("@chan_a", "@chan_a"),
        ChannelRef("-1002000000001", -1002000000001),
        ChannelRef("@chan_b", "@chan_b"),
    ]
    assert bad == ["junk!", "!"]


def test_ref_matches_a_linked_channel() -> None:
    channel = LinkedChannel(CH_A, "A", username="Chan_A")
    assert ChannelRef("@chan_a", "@chan_a").matches(channel)
    assert ChannelRef(str(CH_A), CH_A).matches(channel)
    assert not ChannelRef("@chan_b", "@chan_b").matches(channel)
    assert not ChannelRef("@chan_a", "@chan_a").matches(LinkedChannel(CH_A, "A"))


# --------------------------------------------------------------------------- admin check


async def test_admin_check(env: Env) -> None:
    check = env.admin_check
    assert await check.allowed(CHAT, Actor(ADMIN, "a"))
    assert await check.allowed(CHAT, Actor(OWNER, "o"))
    assert not await check.allowed(CHAT, Actor(USER, "u"))
    assert not await check.allowed(CHAT, Actor(None, "?"))
    env.telegram.calls.clear()
    assert await check.allowed(CHAT, Actor(None, "group", as_group=True))
    env.operators.add(USER)
    assert await check.allowed(CHAT, Actor(USER, "operator"))
    assert env.telegram.calls == []
    assert check.is_operator(USER)
    assert not check.is_operator(None)


async def test_admin_check_denies_when_telegram_fails(env: Env) -> None:
    env.telegram.fail("get_member", TelegramUnavailable("down"))
    assert not await env.admin_check.allowed(CHAT, Actor(ADMIN, "a"))


# --------------------------------------------------------------------------- private


async def test_started_user_becomes_reachable_and_stats_count(env: Env) -> None:
    await env.private.started(USER)
    async with env.uow() as uow:
        assert await uow.users.reachable([USER, OWNER]) == [USER]
    await env.protect(channels=[channel_a()])
    stats = await env.private.stats()
    assert (stats.groups_enabled, stats.groups_total, stats.channel_links) == (1, 1, 1)
    assert stats.active_mutes == 0


def test_add_to_group_url() -> None:
    assert add_to_group_url("gm_bot") == (
        "https://t.me/gm_bot?startgroup=protect&admin=delete_messages+restrict_members+invite_users"
    )


# --------------------------------------------------------------------------- directory


async def test_directory_reads_through_the_cache(env: Env) -> None:
    await env.protect(exempt=[USER])
    group = await env.directory.group(CHAT)
    assert group is not None
    opened = env.uow.opened
    assert await env.directory.group(CHAT) == group
    assert env.uow.opened == opened
    assert env.counter("bot_cache_lookups_total", cache="group", result="hit") == 1
    env.clock.advance(GROUP_TTL + 1)
    assert await env.directory.group(CHAT) == group
    assert env.uow.opened == opened + 1


async def test_directory_caches_not_protected(env: Env) -> None:
    assert await env.directory.group(CHAT) is None
    opened = env.uow.opened
    assert await env.directory.group(CHAT) is None
    assert env.uow.opened == opened


async def test_load_admins_failure_caches_nothing(env: Env) -> None:
    env.telegram.fail("get_admins", TelegramUnavailable("down"))
    assert not await env.directory.load_admins(CHAT)
    assert not env.gate_cache.has_admins(CHAT)


# --------------------------------------------------------------------------- muting


async def test_mute_refused_by_telegram_records_nothing(env: Env) -> None:
    group = await env.protect()
    env.telegram.fail("restrict", NotEnoughRights("user is an administrator"))
    assert await env.muter.mute(group, USER) is MuteOutcome.REFUSED
    assert await env.restriction(CHAT, USER) is None
    assert await env.audit_kinds() == []


async def test_mute_of_an_admin_is_refused(env: Env) -> None:
    group = await env.protect()
    assert await env.muter.mute(group, ADMIN) is MuteOutcome.REFUSED
    assert env.telegram.status(CHAT, ADMIN) is MemberStatus.ADMINISTRATOR


async def test_mute_then_lift_round_trip(env: Env) -> None:
    group = await env.protect()
    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED
    assert env.telegram.member_permissions[(CHAT, USER)] == MUTED
    entry = (await env.audit())[-1]
    assert (entry.kind, entry.user_id, entry.detail) == (AuditKind.MUTE, USER, "until=None")
    assert await env.muter.lift(CHAT, USER, "manual")
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    entry = (await env.audit())[-1]
    assert (entry.kind, entry.detail) == (AuditKind.UNMUTE, "manual")
    assert not await env.muter.lift(CHAT, USER, "again")


async def test_lift_restores_defaults_for_a_timed_mute_still_running(env: Env) -> None:
    group = await env.protect(settings=GroupSettings(mute_seconds=3600))
    await env.muter.mute(group, USER)
    restriction = await env.restriction(CHAT, USER)
    assert restriction is not None
    assert restriction.until == env.clock.utc() + timedelta(hours=1)
    env.clock.advance(60)
    assert await env.muter.lift(CHAT, USER, "x")
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
