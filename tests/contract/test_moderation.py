"""ban, unban, kick, edit_keyboard and the bot's command lists in every model, with the
refusals Telegram documents (and the admin features rely on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gmbot.domain.telegram import (
    BadRequest,
    Button,
    CommandScope,
    MemberStatus,
    NotEnoughRights,
    ScopeType,
    refusal_reason,
)
from tests.contract.models import FULL_RIGHTS, TelegramModel


async def _status(tg: TelegramModel, chat_id: int, user_id: int) -> MemberStatus:
    return (await tg.gateway.get_member(chat_id, user_id)).status


# ---------------------------------------------------------------- ban / unban / kick


async def test_ban_then_unban_a_member(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.gateway.ban(group, user)
    banned = await tg.gateway.get_member(group, user)
    assert (banned.status, banned.until) == (MemberStatus.KICKED, None)  # forever
    assert not banned.is_subscribed
    await tg.gateway.unban(group, user)
    # "The user will not return to the group automatically, but will be able to join."
    assert await _status(tg, group, user) is MemberStatus.LEFT


async def test_ban_until(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    until = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    await tg.gateway.ban(group, user, until=until, revoke_messages=True)
    banned = await tg.gateway.get_member(group, user)
    assert (banned.status, banned.until) == (MemberStatus.KICKED, until)


async def test_ban_of_someone_not_in_the_group(tg: TelegramModel) -> None:
    # Banning ahead of a join is allowed: they cannot come in afterwards.
    group, user = await tg.supergroup(), await tg.user()
    await tg.gateway.ban(group, user)
    assert await _status(tg, group, user) is MemberStatus.KICKED


async def test_kick_removes_and_lets_them_back(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.gateway.kick(group, user)
    assert await _status(tg, group, user) is MemberStatus.LEFT


async def test_unban_only_if_banned_leaves_a_member_alone(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.gateway.unban(group, user, only_if_banned=True)
    assert await _status(tg, group, user) is MemberStatus.MEMBER
    # Without only_if_banned Telegram removes a member who is in the chat.
    await tg.gateway.unban(group, user, only_if_banned=False)
    assert await _status(tg, group, user) is MemberStatus.LEFT


@pytest.mark.parametrize("creator", [False, True], ids=["admin", "owner"])
async def test_admins_cannot_be_banned_or_kicked(tg: TelegramModel, creator: bool) -> None:
    group, admin = await tg.supergroup(), await tg.user()
    await tg.admin(group, admin, frozenset({"can_delete_messages"}), creator=creator)
    for attempt in (tg.gateway.ban(group, admin), tg.gateway.kick(group, admin)):
        with pytest.raises(NotEnoughRights) as refused:
            await attempt
        assert refusal_reason(refused.value) == "target_is_admin"
    expected = MemberStatus.CREATOR if creator else MemberStatus.ADMINISTRATOR
    assert await _status(tg, group, admin) is expected


async def test_ban_and_unban_need_the_restrict_right(tg: TelegramModel) -> None:
    group = await tg.supergroup(bot_rights=FULL_RIGHTS - {"can_restrict_members"})
    user = await tg.user()
    await tg.member(group, user)
    with pytest.raises(NotEnoughRights) as refused:
        await tg.gateway.ban(group, user)
    assert refusal_reason(refused.value) == "no_rights"
    with pytest.raises(NotEnoughRights):
        await tg.gateway.unban(group, user)
    with pytest.raises(NotEnoughRights):
        await tg.gateway.kick(group, user)
    assert await _status(tg, group, user) is MemberStatus.MEMBER
    # A bot that is no admin at all is refused the same way.
    plain = await tg.supergroup(bot_rights=None)
    await tg.member(plain, user)
    with pytest.raises(NotEnoughRights):
        await tg.gateway.ban(plain, user)


async def test_basic_group_has_no_ban_list(tg: TelegramModel) -> None:
    group = await tg.basic_group()
    banned, kicked = await tg.user(), await tg.user()
    await tg.member(group, banned)
    await tg.member(group, kicked)
    # banChatMember works in basic groups, but only removes the user ...
    await tg.gateway.ban(group, banned)
    assert await _status(tg, group, banned) is MemberStatus.LEFT
    # ... and unbanChatMember is for supergroups and channels only.
    with pytest.raises(NotEnoughRights) as refused:
        await tg.gateway.unban(group, banned)
    assert refusal_reason(refused.value) == "basic_group"
    # So a kick there is the ban alone, and succeeds.
    await tg.gateway.kick(group, kicked)
    assert await _status(tg, group, kicked) is MemberStatus.LEFT


# ---------------------------------------------------------------- edit_keyboard


async def test_edit_keyboard_changes_and_removes(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    message = await tg.gateway.send_message(
        group, "prompt", keyboard=[[Button("Join", url="https://t.me/news")]]
    )
    assert await tg.keyboard_texts(group, message) == [["Join"]]
    new = [[Button("Joined", callback_data="v:1")], [Button("Help", callback_data="h")]]
    assert await tg.gateway.edit_keyboard(group, message, new) is True
    assert await tg.keyboard_texts(group, message) == [["Joined"], ["Help"]]
    # The same keyboard again: Telegram says "message is not modified", no failure.
    assert await tg.gateway.edit_keyboard(group, message, new) is True
    assert await tg.gateway.edit_keyboard(group, message, None) is True
    assert await tg.keyboard_texts(group, message) is None
    assert await tg.gateway.edit_keyboard(group, message, None) is True  # already none


async def test_edit_keyboard_of_a_gone_message(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    message = await tg.gateway.send_message(group, "prompt")
    assert await tg.gateway.delete_message(group, message)
    keyboard = [[Button("ok", callback_data="v:1")]]
    assert await tg.gateway.edit_keyboard(group, message, keyboard) is False


async def test_edit_keyboard_of_someone_elses_message(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    theirs = await tg.post(group, user)
    with pytest.raises(BadRequest, match="message can't be edited"):
        await tg.gateway.edit_keyboard(group, theirs, [[Button("x", callback_data="x")]])


# ---------------------------------------------------------------- commands

_PRIVATE = [("start", "Start the bot"), ("help", "How GMBot works")]
_ADMINS = [("settings", "Group settings"), ("link", "Link a channel")]


async def test_commands_per_scope(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    private = CommandScope(ScopeType.ALL_PRIVATE_CHATS)
    admins = CommandScope(ScopeType.ALL_CHAT_ADMINISTRATORS)
    here = CommandScope.chat_administrators(group)
    await tg.gateway.set_commands(_PRIVATE, private)
    await tg.gateway.set_commands(_ADMINS, admins)
    await tg.gateway.set_commands(_ADMINS[:1], here)
    assert await tg.gateway.get_commands(private) == _PRIVATE
    assert await tg.gateway.get_commands(admins) == _ADMINS
    assert await tg.gateway.get_commands(here) == _ADMINS[:1]
    # Nothing was set for these scopes.
    assert await tg.gateway.get_commands(CommandScope()) == []
    assert await tg.gateway.get_commands(CommandScope(ScopeType.ALL_GROUP_CHATS)) == []
    assert await tg.gateway.get_commands(CommandScope.chat(group)) == []
    # Setting a list again replaces it; an empty list clears it.
    await tg.gateway.set_commands(_PRIVATE[:1], private)
    assert await tg.gateway.get_commands(private) == _PRIVATE[:1]
    await tg.gateway.set_commands([], private)
    assert await tg.gateway.get_commands(private) == []


async def test_commands_per_language(tg: TelegramModel) -> None:
    scope = CommandScope()
    russian = [("start", "Запустить бота")]
    await tg.gateway.set_commands(_PRIVATE, scope)
    await tg.gateway.set_commands(russian, scope, "ru")
    assert await tg.gateway.get_commands(scope) == _PRIVATE
    assert await tg.gateway.get_commands(scope, "ru") == russian
    assert await tg.gateway.get_commands(scope, "de") == []


@pytest.mark.parametrize(
    ("command", "description", "error"),
    [
        ("Start", "Start the bot", "BOT_COMMAND_INVALID"),  # lower case only
        ("/start", "Start the bot", "BOT_COMMAND_INVALID"),
        ("", "Start the bot", "BOT_COMMAND_INVALID"),
        ("a" * 33, "Start the bot", "BOT_COMMAND_INVALID"),
        ("start", "", "BOT_COMMAND_DESCRIPTION_INVALID"),
        ("start", "x" * 257, "BOT_COMMAND_DESCRIPTION_INVALID"),
    ],
)
async def test_invalid_command_is_refused(
    tg: TelegramModel, command: str, description: str, error: str
) -> None:
    scope = CommandScope()
    await tg.gateway.set_commands(_PRIVATE, scope)
    with pytest.raises(BadRequest, match=error):
        await tg.gateway.set_commands([*_PRIVATE, (command, description)], scope)
    assert await tg.gateway.get_commands(scope) == _PRIVATE  # the old list stands


async def test_longest_command_and_description_are_fine(tg: TelegramModel) -> None:
    longest = [("a_1" + "b" * 29, "x" * 256)]
    await tg.gateway.set_commands(longest, CommandScope())
    assert await tg.gateway.get_commands(CommandScope()) == longest


def test_chat_scopes_name_a_chat() -> None:
    with pytest.raises(ValueError, match="chat_id"):
        CommandScope(ScopeType.CHAT)
    with pytest.raises(ValueError, match="chat_id"):
        CommandScope(ScopeType.DEFAULT, chat_id=-100)
    assert CommandScope.chat(-100).as_api() == {"type": "chat", "chat_id": -100}
