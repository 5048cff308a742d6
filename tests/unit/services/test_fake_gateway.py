"""The Telegram rules FakeTelegramGateway enforces, as the real Bot API (and
tests/fakes/telegram.py, the transport-level fake of the end-to-end tests) does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gmbot.domain.telegram import (
    MUTED,
    BotBlocked,
    ChatNotFound,
    ChatType,
    MemberListInaccessible,
    MemberStatus,
    NotEnoughRights,
    RetryLater,
    TelegramUnavailable,
)
from tests.fakes.telegram_gateway import DEFAULT_GROUP_PERMISSIONS, FakeTelegramGateway

GROUP, CHANNEL, USER = -100, -200, 42


@pytest.fixture
def tg() -> FakeTelegramGateway:
    tg = FakeTelegramGateway()
    tg.supergroup(GROUP)
    tg.channel(CHANNEL, username="Chan_X")
    tg.set_member(GROUP, USER)
    return tg


async def test_restrict_mutes_and_defaults_make_a_plain_member(tg: FakeTelegramGateway) -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    await tg.restrict(GROUP, USER, MUTED, until)
    member = await tg.get_member(GROUP, USER)
    assert (member.status, member.is_member, member.until) == (
        MemberStatus.RESTRICTED,
        True,
        until,
    )
    assert tg.is_muted(GROUP, USER)
    await tg.restrict(GROUP, USER, dict.fromkeys(DEFAULT_GROUP_PERMISSIONS, True))
    # "Pass True for all permissions to lift restrictions from a user" (restrictChatMember).
    assert tg.status(GROUP, USER) is MemberStatus.MEMBER
    assert not tg.is_muted(GROUP, USER)
    await tg.restrict(GROUP, USER, DEFAULT_GROUP_PERMISSIONS)
    assert tg.status(GROUP, USER) is MemberStatus.MEMBER


async def test_restrict_of_someone_not_in_the_group(tg: FakeTelegramGateway) -> None:
    await tg.restrict(GROUP, 99, MUTED)
    assert (await tg.get_member(GROUP, 99)).is_member is False
    await tg.restrict(GROUP, 99, DEFAULT_GROUP_PERMISSIONS)
    assert tg.status(GROUP, 99) is MemberStatus.LEFT


async def test_restrict_rules(tg: FakeTelegramGateway) -> None:
    tg.supergroup(-300, type_=ChatType.GROUP)
    with pytest.raises(NotEnoughRights, match="only for supergroups"):
        await tg.restrict(-300, USER, MUTED)
    tg.supergroup(-400, bot_rights=frozenset({"can_delete_messages"}))
    with pytest.raises(NotEnoughRights, match="not enough rights"):
        await tg.restrict(-400, USER, MUTED)
    tg.set_admin(GROUP, 7)
    with pytest.raises(NotEnoughRights, match="administrator"):
        await tg.restrict(GROUP, 7, MUTED)
    with pytest.raises(ChatNotFound):
        await tg.restrict(-999, USER, MUTED)


async def test_delete_rules(tg: FakeTelegramGateway) -> None:
    theirs = tg.post(GROUP, USER)
    assert await tg.delete_message(GROUP, theirs)
    assert not await tg.delete_message(GROUP, theirs)
    assert [(m.chat_id, m.message_id, m.sender_id) for m in tg.deleted] == [(GROUP, theirs, USER)]
    tg.supergroup(-400, bot_rights=frozenset({"can_restrict_members"}))
    theirs = tg.post(-400, USER)
    with pytest.raises(NotEnoughRights):
        await tg.delete_message(-400, theirs)
    own = await tg.send_message(-400, "hi")
    assert await tg.delete_message(-400, own)


async def test_channel_members_only_for_channel_admins(tg: FakeTelegramGateway) -> None:
    assert (await tg.get_member(CHANNEL, USER)).status is MemberStatus.LEFT
    tg.remove_member(CHANNEL, tg.bot.id)
    with pytest.raises(MemberListInaccessible):
        await tg.get_member(CHANNEL, USER)
    with pytest.raises(ChatNotFound):
        await tg.get_member(-999, USER)


async def test_get_chat_by_username_and_id(tg: FakeTelegramGateway) -> None:
    assert (await tg.get_chat("@chan_x")).id == CHANNEL
    assert (await tg.get_chat(CHANNEL)).username == "Chan_X"
    with pytest.raises(ChatNotFound):
        await tg.get_chat("@nobody")


async def test_private_messages_need_a_started_user(tg: FakeTelegramGateway) -> None:
    with pytest.raises(BotBlocked):
        await tg.send_message(USER, "hi")
    tg.started.add(USER)
    message_id = await tg.send_message(USER, "hi")
    assert [(m.chat_id, m.message_id, m.text) for m in tg.sent()] == [(USER, message_id, "hi")]


async def test_fail_raises_the_given_number_of_times_then_works(
    tg: FakeTelegramGateway,
) -> None:
    tg.fail("get_chat", TelegramUnavailable("down"), times=2)
    tg.fail("send_message", RetryLater(9), chat_id=GROUP)
    for _ in range(2):
        with pytest.raises(TelegramUnavailable):
            await tg.get_chat(GROUP)
    assert (await tg.get_chat(GROUP)).id == GROUP
    tg.started.add(USER)
    await tg.send_message(USER, "not the filtered chat")
    with pytest.raises(RetryLater):
        await tg.send_message(GROUP, "x")
    await tg.send_message(GROUP, "x")
    assert [c.method for c in tg.calls] == ["get_chat"] * 3 + ["send_message"] * 3
    with pytest.raises(AttributeError):
        tg.fail("no_such_method", TelegramUnavailable("x"))


async def test_admins_and_invite_links(tg: FakeTelegramGateway) -> None:
    tg.set_admin(GROUP, 7, creator=True)
    assert sorted(m.user_id for m in await tg.get_admins(GROUP)) == sorted([tg.bot.id, 7])
    assert await tg.create_invite_link(CHANNEL) == f"https://t.me/+fake{abs(CHANNEL)}"
    tg.channel(-500, bot_admin=False)
    with pytest.raises(NotEnoughRights):
        await tg.create_invite_link(-500)
    assert (await tg.get_me()).id == tg.bot.id
