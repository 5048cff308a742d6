"""get_me, get_chat, get_member, get_admins: the same answers from every model of Telegram."""

from __future__ import annotations

import pytest

from gmbot.domain.telegram import (
    PERMISSION_FIELDS,
    BotBlocked,
    ChatNotFound,
    ChatType,
    MemberListInaccessible,
    MemberStatus,
)
from tests.contract.models import GROUP_DEFAULTS, TelegramModel


async def test_get_me(tg: TelegramModel) -> None:
    me = await tg.gateway.get_me()
    assert me == tg.bot
    assert (me.username, me.first_name) == ("gm_test_bot", "GMBot")


async def test_get_chat_of_a_supergroup(tg: TelegramModel) -> None:
    channel = await tg.channel("News", username="news_channel")
    group = await tg.supergroup("Group", linked_chat_id=channel)
    info = await tg.gateway.get_chat(group)
    assert (info.id, info.type, info.title) == (group, ChatType.SUPERGROUP, "Group")
    assert info.linked_chat_id == channel
    assert not info.is_channel
    # Every permission, exactly the group's defaults: what an unmute restores.
    assert info.permissions == GROUP_DEFAULTS
    assert list(info.permissions) == list(PERMISSION_FIELDS)


async def test_get_chat_of_a_channel_by_id_and_username(tg: TelegramModel) -> None:
    channel = await tg.channel("News", username="news_channel")
    by_id = await tg.gateway.get_chat(channel)
    assert (by_id.type, by_id.title, by_id.username) == (ChatType.CHANNEL, "News", "news_channel")
    assert by_id.is_channel
    assert by_id.permissions is None
    by_name = await tg.gateway.get_chat("@News_Channel")
    assert by_name.id == channel


async def test_get_chat_of_what_does_not_exist(tg: TelegramModel) -> None:
    await tg.channel("News", username="news_channel")
    with pytest.raises(ChatNotFound):
        await tg.gateway.get_chat(-1009999999999)
    with pytest.raises(ChatNotFound):
        await tg.gateway.get_chat("@no_such_channel")


async def test_get_member_of_each_status(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    owner, admin, member, stranger, banned = [await tg.user(n) for n in "OAMSB"]
    await tg.admin(group, owner, frozenset(), creator=True)
    await tg.admin(group, admin, frozenset({"can_delete_messages", "can_restrict_members"}))
    await tg.member(group, member)
    await tg.kick(group, banned)
    get = tg.gateway.get_member

    info = await get(group, owner)
    assert (info.status, info.is_admin, info.is_subscribed) == (MemberStatus.CREATOR, True, True)
    assert info.has_right("can_promote_members")  # the owner holds every right

    info = await get(group, admin)
    assert (info.status, info.is_admin) == (MemberStatus.ADMINISTRATOR, True)
    assert {"can_delete_messages", "can_restrict_members"} <= info.rights
    assert not info.has_right("can_promote_members")
    assert not info.has_right("can_invite_users")

    info = await get(group, member)
    assert (info.user_id, info.status, info.is_admin) == (member, MemberStatus.MEMBER, False)
    assert info.is_subscribed
    assert not info.is_bot

    info = await get(group, stranger)
    assert (info.status, info.is_subscribed) == (MemberStatus.LEFT, False)
    info = await get(group, banned)
    assert (info.status, info.is_subscribed, info.until) == (MemberStatus.KICKED, False, None)

    me = await get(group, tg.bot.id)
    assert (me.is_bot, me.is_admin) == (True, True)
    assert me.has_right("can_restrict_members")


async def test_get_member_of_a_channel(tg: TelegramModel) -> None:
    user = await tg.user()
    mine = await tg.channel("Mine")
    await tg.member(mine, user)
    assert (await tg.gateway.get_member(mine, user)).is_subscribed
    # Channels show their members to administrators only.
    other = await tg.channel("Other", bot_admin=False)
    await tg.member(other, user)
    with pytest.raises(MemberListInaccessible):
        await tg.gateway.get_member(other, user)
    with pytest.raises(ChatNotFound):
        await tg.gateway.get_member(-1009999999999, user)


async def test_get_member_after_the_bot_was_kicked(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.kick(group, tg.bot.id)
    with pytest.raises(BotBlocked):
        await tg.gateway.get_member(group, user)


async def test_get_admins(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    owner, admin, member = [await tg.user(n) for n in "OAM"]
    other_bot = await tg.user("HelperBot", is_bot=True)
    await tg.admin(group, owner, frozenset(), creator=True)
    await tg.admin(group, admin, frozenset({"can_delete_messages"}))
    await tg.admin(group, other_bot, frozenset({"can_delete_messages"}))
    await tg.member(group, member)
    admins = await tg.gateway.get_admins(group)
    # Bots other than this one are left out (getChatAdministrators without return_bots).
    assert {a.user_id for a in admins} == {owner, admin, tg.bot.id}
    assert all(a.is_admin for a in admins)
    by_id = {a.user_id: a for a in admins}
    assert by_id[owner].status is MemberStatus.CREATOR
    assert by_id[tg.bot.id].is_bot
    with pytest.raises(ChatNotFound):
        await tg.gateway.get_admins(-1009999999999)
    with pytest.raises(MemberListInaccessible):
        await tg.gateway.get_admins(await tg.channel("Other", bot_admin=False))
