"""GroupAdminService: /status, /exempt, /unexempt, /settings."""

from __future__ import annotations

import pytest

from gmbot.domain.models import AuditKind, GateAction, GroupSettings
from gmbot.domain.telegram import MemberStatus, TelegramUnavailable
from gmbot.services.events import Actor
from gmbot.services.gate import Verdict
from gmbot.services.group_admin import ChannelHealth
from gmbot.services.group_settings import SettingsError, apply_setting, parse_duration
from gmbot.services.protection import GroupProblem
from tests.unit.services.support import (
    CH_A,
    CH_B,
    CHAT,
    OWNER,
    USER,
    Env,
    channel_a,
    channel_b,
    message,
)

ME = Actor(OWNER, "Owner")
BOTH = ("can_delete_messages", "can_restrict_members")


# --------------------------------------------------------------------------- status


async def test_status_of_an_unprotected_group(env: Env) -> None:
    report = await env.group_admin.status(env.telegram.chats[CHAT])
    assert report.group is None
    assert report.rights == GroupProblem()
    assert report.channels == ()


async def test_status_records_live_rights_and_channel_health(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()], exempt=[USER])
    env.telegram.supergroup(CHAT, bot_rights=frozenset({"can_delete_messages"}))
    env.telegram.remove_member(CH_B, env.telegram.bot.id)
    await env.warm()

    report = await env.group_admin.status(env.telegram.chats[CHAT])

    assert report.rights.missing_rights == ("can_restrict_members",)
    assert report.channels == (ChannelHealth("@chan_a", True), ChannelHealth("Channel B", False))
    assert report.exempt == (USER,)
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_restrict_members",)
    assert [c.bot_is_admin for c in group.channels] == [True, False]
    assert not env.gate_cache.has_group(CHAT)


async def test_status_clears_rights_that_came_back(env: Env) -> None:
    await env.protect(missing_rights=list(BOTH))
    async with env.uow() as uow:
        await uow.groups.set_channel_admin(CH_A, False)
        await uow.commit()
    report = await env.group_admin.status(env.telegram.chats[CHAT])
    assert report.rights == GroupProblem()
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ()
    assert group.channels[0].bot_is_admin is True


async def test_status_keeps_records_when_telegram_does_not_answer(env: Env) -> None:
    await env.protect(missing_rights=["can_restrict_members"])
    env.telegram.fail("get_member", TelegramUnavailable("down"), times=2)
    report = await env.group_admin.status(env.telegram.chats[CHAT])
    assert report.rights.unavailable == "down"
    assert report.channels == (ChannelHealth("@chan_a", None),)
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_restrict_members",)
    assert group.channels[0].bot_is_admin is True


async def test_status_when_the_bot_is_not_admin_keeps_rights_missing(env: Env) -> None:
    await env.protect(missing_rights=list(BOTH))
    env.telegram.set_member(CHAT, env.telegram.bot.id, MemberStatus.MEMBER, is_bot=True)
    report = await env.group_admin.status(env.telegram.chats[CHAT])
    assert report.rights.bot_not_admin
    group = await env.group()
    assert group is not None
    assert set(group.missing_rights) == set(BOTH)


# --------------------------------------------------------------------------- exempt


async def test_exempt_and_unexempt(env: Env) -> None:
    await env.protect()
    await env.warm()
    assert await env.group_admin.exempt(CHAT, ME, USER, add=True)
    assert not env.gate_cache.has_group(CHAT)
    assert not await env.group_admin.exempt(CHAT, ME, USER, add=True)
    async with env.uow() as uow:
        assert await uow.exempt.list(CHAT) == [USER]
    assert await env.group_admin.exempt(CHAT, ME, USER, add=False)
    assert not await env.group_admin.exempt(CHAT, ME, USER, add=False)
    async with env.uow() as uow:
        assert await uow.exempt.list(CHAT) == []
    entries = await env.audit()
    assert [(e.kind, e.user_id, e.actor_id) for e in entries] == [
        (AuditKind.EXEMPT, USER, OWNER),
        (AuditKind.UNEXEMPT, USER, OWNER),
    ]


async def test_exempt_takes_effect_at_the_gate(env: Env) -> None:
    await env.protect()
    await env.gate_message(message(env))  # cached: USER not exempt, not joined
    await env.group_admin.exempt(CHAT, ME, USER, add=True)
    assert await env.gate.on_message(message(env)) is Verdict.PASSED


# --------------------------------------------------------------------------- settings


async def test_update_settings_stores_and_invalidates(env: Env) -> None:
    await env.protect()
    await env.warm()
    settings = await env.group_admin.update_settings(CHAT, "ACTION", " Delete ")
    assert settings == GroupSettings(action=GateAction.DELETE)
    group = await env.group()
    assert group is not None
    assert group.settings == settings
    assert not env.gate_cache.has_group(CHAT)
    settings = await env.group_admin.update_settings(CHAT, "mute", "2h")
    assert settings == GroupSettings(action=GateAction.DELETE, mute_seconds=7200)


async def test_update_settings_of_an_unprotected_group(env: Env) -> None:
    with pytest.raises(SettingsError, match="not protected"):
        await env.group_admin.update_settings(CHAT, "action", "mute")


async def test_invalid_setting_changes_nothing(env: Env) -> None:
    await env.protect()
    with pytest.raises(SettingsError):
        await env.group_admin.update_settings(CHAT, "prompt", "5s")
    group = await env.group()
    assert group is not None
    assert group.settings == GroupSettings()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), (" 15M ", 900)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1.5h", "ten", "5w", "-"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(SettingsError, match="not a duration"):
        parse_duration(text)


D = GroupSettings()


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("action", "mute", D),
        ("action", "DELETE", GroupSettings(action=GateAction.DELETE)),
        ("prompt", "10s", GroupSettings(prompt_ttl=10)),
        ("prompt", "1d", GroupSettings(prompt_ttl=86400)),
        ("Prompt", "2m", GroupSettings(prompt_ttl=120)),
        ("mute", "30s", GroupSettings(mute_seconds=30)),
        ("mute", "366d", GroupSettings(mute_seconds=366 * 86400)),
        ("mute", "off", D),
        ("mute", "forever", D),
        ("mute", "until-verified", D),
        ("mute", "0", D),
        ("channelposts", "off", GroupSettings(delete_channel_posts=False)),
        ("channel_posts", "no", GroupSettings(delete_channel_posts=False)),
        ("channelposts", "false", GroupSettings(delete_channel_posts=False)),
        ("channelposts", "on", D),
        ("channelposts", "YES", D),
        ("channelposts", "true", D),
    ],
)
def test_apply_setting(key: str, value: str, expected: GroupSettings) -> None:
    assert apply_setting(D, key, value) == expected


def test_mute_off_clears_a_length() -> None:
    assert apply_setting(GroupSettings(mute_seconds=60), "mute", "off").mute_seconds is None


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("action", "explode", "action must be"),
        ("action", "", "action must be"),
        ("prompt", "9", "between 10s and 1d"),
        ("prompt", "86401", "between 10s and 1d"),
        ("prompt", "soon", "not a duration"),
        ("mute", "29", "between 30s and 366d"),
        ("mute", "367d", "between 30s and 366d"),
        ("mute", "-5", "between 30s and 366d"),
        ("mute", "later", "not a duration"),
        ("channelposts", "maybe", "channelposts must be"),
        ("colour", "red", "Unknown setting"),
        ("", "x", "Unknown setting"),
    ],
)
def test_apply_setting_errors(key: str, value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        apply_setting(D, key, value)
