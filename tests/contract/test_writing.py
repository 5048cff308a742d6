"""send_message, delete_message(s), edit_message, answer_callback, create_invite_link in
every model."""

from __future__ import annotations

import pytest

from gmbot.domain.telegram import BadRequest, BotBlocked, Button, ChatNotFound, NotEnoughRights
from tests.contract.models import FULL_RIGHTS, TelegramModel


async def test_send_message_to_a_group(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    keyboard = [
        [Button("Join", url="https://t.me/news_channel")],
        [Button("ok", callback_data="v:1")],
    ]
    first = await tg.gateway.send_message(group, "<b>hello</b>", keyboard=keyboard)
    second = await tg.gateway.send_message(group, "again")
    assert second != first
    # A bot that is only a member may still write where members may.
    quiet = await tg.supergroup(bot_rights=None)
    assert await tg.gateway.send_message(quiet, "hi")


async def test_send_message_in_private_needs_a_start(tg: TelegramModel) -> None:
    user = await tg.user()
    with pytest.raises(BotBlocked):
        await tg.gateway.send_message(user, "hi")
    await tg.start(user)
    assert await tg.gateway.send_message(user, "hi")


async def test_send_message_where_the_bot_is_not(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    await tg.kick(group, tg.bot.id)
    with pytest.raises(BotBlocked):
        await tg.gateway.send_message(group, "hi")
    with pytest.raises(ChatNotFound):
        await tg.gateway.send_message(-1009999999999, "hi")


async def test_delete_message(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    own = await tg.gateway.send_message(group, "prompt")
    theirs = await tg.post(group, user)
    assert await tg.gateway.delete_message(group, own) is True
    assert await tg.gateway.delete_message(group, theirs) is True
    # Already gone: False, not an error (prompts are deleted by more than one path).
    assert await tg.gateway.delete_message(group, own) is False


async def test_delete_message_without_the_right(tg: TelegramModel) -> None:
    group = await tg.supergroup(bot_rights=FULL_RIGHTS - {"can_delete_messages"})
    user = await tg.user()
    await tg.member(group, user)
    theirs = await tg.post(group, user)
    with pytest.raises(NotEnoughRights):
        await tg.gateway.delete_message(group, theirs)
    # Its own messages it may always delete.
    own = await tg.gateway.send_message(group, "prompt")
    assert await tg.gateway.delete_message(group, own) is True


async def test_delete_messages_skips_what_is_gone(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    own = await tg.gateway.send_message(group, "prompt")
    first, second, kept = [await tg.post(group, user, f"spam {n}") for n in range(3)]
    gone = await tg.post(group, user, "already removed")
    assert await tg.gateway.delete_message(group, gone) is True
    await tg.gateway.delete_messages(group, [own, first, gone, second])
    for message_id in (own, first, second):
        assert await tg.gateway.delete_message(group, message_id) is False
    assert await tg.gateway.delete_message(group, kept) is True
    # Every one of them gone already: still nothing to report.
    await tg.gateway.delete_messages(group, [own, first])


async def test_delete_messages_refusals(tg: TelegramModel) -> None:
    weak = await tg.supergroup(bot_rights=FULL_RIGHTS - {"can_delete_messages"})
    user = await tg.user()
    await tg.member(weak, user)
    theirs = [await tg.post(weak, user) for _ in range(2)]
    with pytest.raises(NotEnoughRights):
        await tg.gateway.delete_messages(weak, theirs)
    with pytest.raises(ChatNotFound):
        await tg.gateway.delete_messages(-1009999999999, [1])
    # 1-100 ids per call: anything else is refused before Telegram is asked.
    for ids in ([], list(range(1, 102))):
        with pytest.raises(ValueError, match="1-100"):
            await tg.gateway.delete_messages(weak, ids)


async def test_edit_message(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    keyboard = [[Button("ok", callback_data="v:1")]]
    notice = await tg.gateway.send_message(group, "<b>3</b> waiting", keyboard=keyboard)
    assert await tg.gateway.edit_message(group, notice, "<b>4</b> waiting", keyboard=keyboard)
    # The same text and keyboard again: "message is not modified" is no failure.
    assert await tg.gateway.edit_message(group, notice, "<b>4</b> waiting", keyboard=keyboard)
    assert await tg.gateway.edit_message(group, notice, "<b>4</b> waiting")  # keyboard removed
    assert await tg.gateway.delete_message(group, notice) is True
    assert await tg.gateway.edit_message(group, notice, "too late") is False
    # Only the bot's own messages can be edited.
    theirs = await tg.post(group, user)
    with pytest.raises(BadRequest, match="can't be edited"):
        await tg.gateway.edit_message(group, theirs, "edited")
    with pytest.raises(ChatNotFound):
        await tg.gateway.edit_message(-1009999999999, 1, "nowhere")


async def test_answer_callback(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    query = await tg.callback_query(group, user)
    await tg.gateway.answer_callback(query, "Joined, thanks", alert=True)
    assert await tg.callback_answers() == [("Joined, thanks", True)]


async def test_answer_callback_that_expired_does_not_raise(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    query = await tg.callback_query(group, user)
    await tg.gateway.answer_callback(query)
    # A second answer to the same query is refused by Telegram; nothing is lost by that.
    await tg.gateway.answer_callback(query, "late")


async def test_create_invite_link(tg: TelegramModel) -> None:
    channel = await tg.channel()
    link = await tg.gateway.create_invite_link(channel)
    assert link.startswith("https://t.me/+")
    group = await tg.supergroup(bot_rights=FULL_RIGHTS - {"can_invite_users"})
    with pytest.raises(NotEnoughRights):
        await tg.gateway.create_invite_link(group)
    with pytest.raises(ChatNotFound):
        await tg.gateway.create_invite_link(-1009999999999)
