"""ProtectionService: /protect refuses anything it cannot enforce; /unprotect."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from gmbot.domain.models import AuditKind
from gmbot.domain.telegram import (
    ChatNotFound,
    ChatType,
    MemberListInaccessible,
    MemberStatus,
    TelegramUnavailable,
)
from gmbot.services.events import Actor
from gmbot.services.protection import ChannelProblem, GroupProblem, Problem, ProtectResult
from tests.fakes.telegram_gateway import ALL_ADMIN_RIGHTS
from tests.unit.services.support import (
    CH_A,
    CH_B,
    CHAT,
    INVITE_B,
    LINKED,
    OWNER,
    Env,
    channel_a,
    channel_b,
)

ME = Actor(OWNER, "Owner")
ANONYMOUS = Actor(None, "Group", as_group=True)
PRIVATE_CH = -1002000000031


async def assert_nothing_stored(env: Env) -> None:
    assert await env.group() is None
    async with env.uow() as uow:
        assert await uow.owners.list(CHAT) == []
    assert await env.audit_kinds() == []
    assert env.uow.store.commits == 0


async def protect(env: Env, *args: str, actor: Actor = ME) -> ProtectResult:
    return await env.protection.protect(env.telegram.chats[CHAT], actor, list(args))


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("args", "bad"),
    [
        ((), ()),
        (("hello world",), ("hello world",)),
        (("@chan_a", "!!"), ("!!",)),
    ],
)
async def test_bad_references_are_refused(
    env: Env, args: tuple[str, ...], bad: tuple[str, ...]
) -> None:
    result = await protect(env, *args)
    assert result.bad_refs == bad
    assert not result.ok
    assert env.telegram.calls == []
    await assert_nothing_stored(env)


async def test_basic_group_is_refused(env: Env) -> None:
    env.telegram.supergroup(CHAT, type_=ChatType.GROUP)
    result = await protect(env, "@chan_a")
    assert result.group_problem == GroupProblem(basic_group=True)
    assert not result.ok
    await assert_nothing_stored(env)


async def test_bot_not_admin_is_refused(env: Env) -> None:
    env.telegram.supergroup(CHAT, bot_rights=None)
    result = await protect(env, "@chan_a")
    assert result.group_problem == GroupProblem(bot_not_admin=True)
    await assert_nothing_stored(env)


@pytest.mark.parametrize(
    ("rights", "missing"),
    [
        (frozenset({"can_delete_messages"}), ("can_restrict_members",)),
        (frozenset({"can_restrict_members"}), ("can_delete_messages",)),
        (frozenset(), ("can_delete_messages", "can_restrict_members")),
    ],
)
async def test_missing_group_rights_are_refused(
    env: Env, rights: frozenset[str], missing: tuple[str, ...]
) -> None:
    env.telegram.supergroup(CHAT, bot_rights=rights)
    result = await protect(env, "@chan_a")
    assert result.group_problem.missing_rights == missing
    assert result.group_problem.any
    await assert_nothing_stored(env)


async def test_bot_as_creator_has_every_right(env: Env) -> None:
    env.telegram.set_admin(CHAT, env.telegram.bot.id, frozenset(), creator=True)
    result = await protect(env, "@chan_a")
    assert result.ok


async def test_group_check_unavailable_is_refused(env: Env) -> None:
    env.telegram.fail("get_member", TelegramUnavailable("timeout"))
    result = await protect(env, "@chan_a")
    assert result.group_problem == GroupProblem(unavailable="timeout")
    await assert_nothing_stored(env)


async def test_unknown_channel_is_refused(env: Env) -> None:
    result = await protect(env, "@no_such_channel")
    assert result.channel_problems == (ChannelProblem("@no_such_channel", Problem.NOT_FOUND),)
    assert not result.ok
    await assert_nothing_stored(env)


async def test_not_a_channel_is_refused(env: Env) -> None:
    env.telegram.supergroup(-1001000000077, "Another group")
    result = await protect(env, "-1001000000077")
    assert result.channel_problems == (
        ChannelProblem("-1001000000077", Problem.NOT_A_CHANNEL, "supergroup"),
    )
    await assert_nothing_stored(env)


@pytest.mark.parametrize("bot_status", ["left", "member"])
async def test_bot_not_channel_admin_is_refused(env: Env, bot_status: str) -> None:
    env.telegram.channel(PRIVATE_CH, "Closed", username="closed_ch", bot_admin=False)
    if bot_status == "member":
        env.telegram.set_member(PRIVATE_CH, env.telegram.bot.id, MemberStatus.MEMBER)
    result = await protect(env, "@closed_ch")
    assert result.channel_problems == (
        ChannelProblem("@closed_ch", Problem.BOT_NOT_CHANNEL_ADMIN, "Closed"),
    )
    await assert_nothing_stored(env)


async def test_channel_lookup_unavailable_is_refused(env: Env) -> None:
    env.telegram.fail("get_chat", TelegramUnavailable("timeout"))
    result = await protect(env, "@chan_a")
    assert result.channel_problems == (ChannelProblem("@chan_a", Problem.UNAVAILABLE, "timeout"),)
    await assert_nothing_stored(env)


async def test_one_bad_channel_refuses_all(env: Env) -> None:
    result = await protect(env, "@chan_a", "@missing_one", str(CH_B))
    assert [p.ref for p in result.channel_problems] == ["@missing_one"]
    assert result.linked == ()
    await assert_nothing_stored(env)


async def test_refused_protect_does_not_touch_the_cache(env: Env) -> None:
    await protect(env, "@missing_one")
    assert env.gate_cache.dropped_groups == []


# --------------------------------------------------------------------------- success


async def test_success_stores_channels_owner_and_audit(env: Env) -> None:
    await env.warm()  # "not protected" and the admin list are cached
    with capture_logs() as logs:
        result = await protect(env, "@chan_a", "t.me/chan_a", str(CH_B))

    assert result.ok
    protected = {"event": "group_protected", "log_level": "info", "chat_id": CHAT}
    assert logs == [{**protected, "channels": [CH_A, CH_B]}]
    assert result.linked == (channel_a(), channel_b())
    group = await env.group()
    assert group is not None
    assert group.active
    assert group.channels == (channel_a(), channel_b())
    assert group.protected_by == OWNER
    assert group.linked_chat_id == LINKED
    assert group.missing_rights == ()
    assert result.group == group
    async with env.uow() as uow:
        assert await uow.owners.list(CHAT) == [OWNER]
    [entry] = await env.audit()
    assert (entry.kind, entry.actor_id, entry.detail) == (
        AuditKind.PROTECT,
        OWNER,
        f"{CH_A},{CH_B}",
    )
    # Every instance reloads the configuration and the admin list.
    assert not env.gate_cache.has_group(CHAT)
    assert not env.gate_cache.has_admins(CHAT)


async def test_anonymous_admin_is_not_recorded_as_owner(env: Env) -> None:
    result = await protect(env, "@chan_a", actor=ANONYMOUS)
    assert result.ok
    async with env.uow() as uow:
        assert await uow.owners.list(CHAT) == []
    [entry] = await env.audit()
    assert entry.kind is AuditKind.PROTECT


async def test_private_channel_without_username_gets_an_invite_link(env: Env) -> None:
    env.telegram.channel(PRIVATE_CH, "Secret")
    result = await protect(env, str(PRIVATE_CH))
    assert result.ok
    [linked] = result.linked
    assert linked.invite_link == f"https://t.me/+fake{abs(PRIVATE_CH)}"
    assert linked.join_url == linked.invite_link
    assert env.telegram.count("create_invite_link") == 1


async def test_channel_with_a_known_link_or_username_gets_no_new_link(env: Env) -> None:
    result = await protect(env, "@chan_a", str(CH_B))
    assert result.ok
    assert result.linked[1].invite_link == INVITE_B
    assert env.telegram.count("create_invite_link") == 0


async def test_invite_link_failure_still_protects(env: Env) -> None:
    env.telegram.channel(PRIVATE_CH, "Secret")
    env.telegram.fail("create_invite_link", TelegramUnavailable("down"))
    with capture_logs() as logs:
        result = await protect(env, str(PRIVATE_CH))
    assert result.ok
    failed = {"event": "invite_link_failed", "log_level": "warning", "channel_id": PRIVATE_CH}
    assert {**failed, "error": "down"} in logs
    assert result.linked[0].invite_link is None


async def test_protect_clears_recorded_missing_rights_and_keeps_links(env: Env) -> None:
    await env.protect(channels=[channel_a()], missing_rights=["can_restrict_members"])
    result = await protect(env, str(CH_B))
    assert result.ok
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ()
    assert [c.channel_id for c in group.channels] == [CH_A, CH_B]


@pytest.mark.parametrize("error", [ChatNotFound("chat not found"), MemberListInaccessible("x")])
async def test_channel_membership_refused_counts_as_not_admin(env: Env, error: Exception) -> None:
    env.telegram.fail("get_member", error, chat_id=CH_A)
    result = await protect(env, "@chan_a")
    assert result.channel_problems == (
        ChannelProblem("@chan_a", Problem.BOT_NOT_CHANNEL_ADMIN, "Channel A"),
    )
    await assert_nothing_stored(env)


async def test_channel_membership_unavailable_is_refused(env: Env) -> None:
    env.telegram.fail("get_member", TelegramUnavailable("timeout"), chat_id=CH_A)
    result = await protect(env, "@chan_a")
    assert result.channel_problems == (ChannelProblem("@chan_a", Problem.UNAVAILABLE, "timeout"),)
    await assert_nothing_stored(env)


# --------------------------------------------------------------------------- unprotect


async def test_unprotect_one_channel(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    await env.warm()
    with capture_logs() as logs:
        result = await env.protection.unprotect(CHAT, ME, ["@CHAN_A"])
    unprotected = {"event": "group_unprotected", "log_level": "info", "chat_id": CHAT}
    assert logs == [{**unprotected, "removed": 1}]
    assert (result.removed, result.was_protected, result.unknown_refs) == (1, True, ())
    assert result.still_linked == (channel_b(),)
    group = await env.group()
    assert group is not None
    assert group.active
    entry = (await env.audit())[-1]
    assert (entry.kind, entry.detail, entry.actor_id) == (AuditKind.UNPROTECT, str(CH_A), OWNER)
    assert not env.gate_cache.has_group(CHAT)


async def test_unprotect_all(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    result = await env.protection.unprotect(CHAT, ME, [])
    assert (result.removed, result.was_protected, result.still_linked) == (2, True, ())
    group = await env.group()
    assert group is not None
    assert not group.active
    assert (await env.audit())[-1].detail == "all"


async def test_unprotect_unknown_refs_changes_nothing(env: Env) -> None:
    await env.protect(channels=[channel_a()])
    result = await env.protection.unprotect(CHAT, ME, ["@other_chan", "junk!"])
    assert result.removed == 0
    assert result.was_protected
    assert result.unknown_refs == ("@other_chan", "junk!")
    assert result.still_linked == (channel_a(),)
    assert AuditKind.UNPROTECT not in await env.audit_kinds()


async def test_unprotect_mixed_refs_removes_the_known_and_reports_the_rest(env: Env) -> None:
    await env.protect(channels=[channel_a(), channel_b()])
    result = await env.protection.unprotect(CHAT, ME, [str(CH_B), "@other_chan"])
    assert result.removed == 1
    assert result.unknown_refs == ("@other_chan",)
    assert result.still_linked == (channel_a(),)


async def test_unprotect_of_an_unprotected_group(env: Env) -> None:
    result = await env.protection.unprotect(CHAT, ME, [])
    assert (result.removed, result.was_protected) == (0, False)
    assert await env.audit_kinds() == []


def test_all_admin_rights_cover_the_group_rights() -> None:
    # Guards the fixture world: the bot starts with every right GMBot checks for.
    from gmbot.services.protection import GROUP_RIGHTS

    assert set(GROUP_RIGHTS) <= ALL_ADMIN_RIGHTS
