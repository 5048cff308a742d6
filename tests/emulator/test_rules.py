"""Telegram's rules and error texts for the methods GMBot uses."""

from __future__ import annotations

from bot_api_emulator import EmulatorClient
from tests.emulator.helpers import ApiCall, World

MUTE = {"can_send_messages": False}


async def test_unknown_token_and_method(api: ApiCall, world: World) -> None:
    answer = await api("123:nope", "getMe")
    assert (answer.status, answer.description) == (401, "Unauthorized")
    answer = await api("garbage", "getMe")
    assert (answer.status, answer.description) == (404, "Not Found")
    answer = await api(world.bot.token, "getNothing")
    assert (answer.status, answer.description) == (404, "Not Found")
    # Method names are case-insensitive.
    answer = await api(world.bot.token, "GETME")
    assert answer.result["username"] == "gm_test_bot"


async def test_get_chat_by_username_and_id(api: ApiCall, world: World) -> None:
    info = (await api(world.bot.token, "getChat", chat_id="@news_channel")).result
    assert info["id"] == world.channel.id
    assert info["type"] == "channel"
    assert info["invite_link"].startswith("https://t.me/+")
    group = (await api(world.bot.token, "getChat", chat_id=world.group.id)).result
    assert group["permissions"]["can_send_messages"] is True
    missing = await api(world.bot.token, "getChat", chat_id="@no_such_chat")
    assert (missing.status, missing.description) == (400, "Bad Request: chat not found")


async def test_private_chat_unknown_to_bot(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    secret = await client.create_chat("supergroup", "Hidden")
    answer = await api(world.bot.token, "getChat", chat_id=secret.id)
    assert answer.description == "Bad Request: chat not found"


async def test_member_list_of_channel_needs_admin(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    answer = await api(
        world.bot.token, "getChatMember", chat_id=world.channel.id, user_id=world.alice.id
    )
    assert answer.result["status"] == "member"
    await client.set_member(world.channel.id, world.bot.id, "member")
    answer = await api(
        world.bot.token, "getChatMember", chat_id=world.channel.id, user_id=world.alice.id
    )
    assert (answer.status, answer.description) == (400, "Bad Request: member list is inaccessible")
    # Its own membership stays readable.
    own = await api(
        world.bot.token, "getChatMember", chat_id=world.channel.id, user_id=world.bot.id
    )
    assert own.result["status"] == "member"


async def test_get_chat_member_errors(api: ApiCall, world: World) -> None:
    token = world.bot.token
    answer = await api(token, "getChatMember", chat_id=world.group.id, user_id=999)
    assert answer.description == "Bad Request: user not found"
    answer = await api(token, "getChatMember", chat_id=world.group.id, user_id="x")
    assert answer.description == "Bad Request: invalid user_id specified"
    answer = await api(token, "getChatMember", chat_id=world.group.id, user_id=world.admin.id)
    member = answer.result
    assert member["status"] == "administrator"
    assert member["can_restrict_members"] is True
    assert member["can_be_edited"] is False


async def test_administrators_hide_other_bots(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    other = await client.create_bot("other_helper_bot")
    await client.set_member(world.group.id, other.id, "administrator")
    admins = (await api(world.bot.token, "getChatAdministrators", chat_id=world.group.id)).result
    ids = [a["user"]["id"] for a in admins]
    assert admins[0]["status"] == "creator"
    assert world.bot.id in ids
    assert world.admin.id in ids
    assert other.id not in ids
    admins = (
        await api(
            world.bot.token, "getChatAdministrators", chat_id=world.group.id, return_bots=True
        )
    ).result
    assert other.id in [a["user"]["id"] for a in admins]


async def test_restrict_requires_supergroup_and_rights(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    basic = await client.create_chat("group", "Basic")
    await client.set_member(basic.id, world.bot.id, "administrator")
    answer = await api(
        token, "restrictChatMember", chat_id=basic.id, user_id=world.alice.id, permissions=MUTE
    )
    assert answer.description == "Bad Request: method is available only for supergroups"
    await client.set_member(
        world.group.id, world.bot.id, "administrator", can_restrict_members=False
    )
    answer = await api(
        token, "restrictChatMember", chat_id=world.group.id, user_id=world.bob.id, permissions=MUTE
    )
    assert answer.description == (
        "Bad Request: not enough rights to restrict/unrestrict chat member"
    )


async def test_restrict_admin_owner_and_self(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    chat = await client.chat(world.group.id)
    cases = [
        (world.admin.id, "Bad Request: user is an administrator of the chat"),
        (chat["creator_id"], "Bad Request: can't remove chat owner"),
        (world.bot.id, "Bad Request: can't restrict self"),
    ]
    for user_id, text in cases:
        answer = await api(
            token, "restrictChatMember", chat_id=world.group.id, user_id=user_id, permissions=MUTE
        )
        assert (answer.status, answer.description) == (400, text)


async def test_restrict_then_unmute_with_defaults(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token, group = world.bot.token, world.group.id
    await client.update_chat(
        group, permissions={"can_send_messages": True, "can_send_photos": True}
    )
    assert (
        await api(
            token,
            "restrictChatMember",
            chat_id=group,
            user_id=world.bob.id,
            permissions=dict.fromkeys(("can_send_messages", "can_send_photos"), False),
        )
    ).result is True
    member = await client.member(group, world.bob.id)
    assert member["status"] == "restricted"
    assert member["is_member"] is True
    assert member["can_send_messages"] is False
    assert member["until_date"] == 0
    # Restricting with the chat's default permissions makes a plain member again.
    defaults = (await api(token, "getChat", chat_id=group)).result["permissions"]
    await api(
        token, "restrictChatMember", chat_id=group, user_id=world.bob.id, permissions=defaults
    )
    assert (await client.member(group, world.bob.id))["status"] == "member"


async def test_restriction_expires(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token, group = world.bot.token, world.group.id
    now = await client.advance_clock(0)
    # Less than 30 seconds ahead means forever.
    await api(
        token,
        "restrictChatMember",
        chat_id=group,
        user_id=world.bob.id,
        permissions=MUTE,
        until_date=now + 10,
    )
    assert (await client.member(group, world.bob.id))["until_date"] == 0
    await api(
        token,
        "restrictChatMember",
        chat_id=group,
        user_id=world.alice.id,
        permissions=MUTE,
        until_date=now + 120,
    )
    assert (await client.member(group, world.alice.id))["until_date"] == now + 120
    await client.advance_clock(121)
    assert (await client.member(group, world.alice.id))["status"] == "member"
    assert (await client.member(group, world.bob.id))["status"] == "restricted"


async def test_ban_and_unban(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token, group = world.bot.token, world.group.id
    assert (await api(token, "banChatMember", chat_id=group, user_id=world.bob.id)).result
    assert (await client.member(group, world.bob.id))["status"] == "kicked"
    await api(token, "unbanChatMember", chat_id=group, user_id=world.bob.id, only_if_banned=True)
    assert (await client.member(group, world.bob.id))["status"] == "left"
    # Without only_if_banned, unbanning a member removes them (documented behaviour).
    await api(token, "unbanChatMember", chat_id=group, user_id=world.alice.id)
    assert (await client.member(group, world.alice.id))["status"] == "left"


async def test_ban_sender_chat(api: ApiCall, client: EmulatorClient, world: World) -> None:
    answer = await api(
        world.bot.token,
        "banChatSenderChat",
        chat_id=world.group.id,
        sender_chat_id=world.channel.id,
    )
    assert answer.result is True
    error = None
    try:
        await client.send_message(
            world.group.id, world.alice.id, "hi", sender_chat_id=world.channel.id
        )
    except Exception as exc:
        error = str(exc)
    assert error is not None
    assert "banned" in error


async def test_delete_message_rules(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token, group = world.bot.token, world.group.id
    message = await client.send_message(group, world.bob.id, "spam")
    assert (
        await api(token, "deleteMessage", chat_id=group, message_id=message["message_id"])
    ).result is True
    again = await api(token, "deleteMessage", chat_id=group, message_id=message["message_id"])
    assert again.description == "Bad Request: message to delete not found"
    other = await client.send_message(group, world.bob.id, "more spam")
    await client.set_member(group, world.bot.id, "administrator", can_delete_messages=False)
    answer = await api(token, "deleteMessage", chat_id=group, message_id=other["message_id"])
    assert answer.description == "Bad Request: message can't be deleted"
    assert other["message_id"] in [m["message_id"] for m in await client.messages(group)]


async def test_delete_messages_skips_missing(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    group = world.group.id
    first = await client.send_message(group, world.bob.id, "a")
    second = await client.send_message(group, world.bob.id, "b")
    answer = await api(
        world.bot.token,
        "deleteMessages",
        chat_id=group,
        message_ids=[first["message_id"], second["message_id"], 9999],
    )
    assert answer.result is True
    left = [m["message_id"] for m in await client.messages(group)]
    assert first["message_id"] not in left
    assert second["message_id"] not in left


async def test_sending_where_the_bot_is_not(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    await client.set_member(world.group.id, world.bot.id, "left")
    answer = await api(token, "sendMessage", chat_id=world.group.id, text="hi")
    assert (answer.status, answer.description) == (
        403,
        "Forbidden: bot is not a member of the supergroup chat",
    )
    await client.set_member(world.group.id, world.bot.id, "kicked")
    answer = await api(token, "sendMessage", chat_id=world.group.id, text="hi")
    assert answer.description == "Forbidden: bot was kicked from the supergroup chat"


async def test_private_messages(api: ApiCall, client: EmulatorClient, world: World) -> None:
    token = world.bot.token
    answer = await api(token, "sendMessage", chat_id=world.alice.id, text="hello")
    assert (answer.status, answer.description) == (
        403,
        "Forbidden: bot can't initiate conversation with a user",
    )
    await client.user_starts_bot(world.alice.id)
    sent = (await api(token, "sendMessage", chat_id=world.alice.id, text="hello")).result
    assert sent["chat"] == {
        "id": world.alice.id,
        "type": "private",
        "first_name": "Alice",
        "username": "alice_user",
    }
    await client.block_bot(world.alice.id)
    answer = await api(token, "sendMessage", chat_id=world.alice.id, text="hello")
    assert answer.description == "Forbidden: bot was blocked by the user"


async def test_send_message_shape_and_thread(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    forum = await client.create_chat("supergroup", "Forum", is_forum=True)
    await client.set_member(forum.id, world.bot.id, "administrator")
    topic = await client.create_topic(forum.id, "Help")
    markup = {
        "inline_keyboard": [
            [
                {"text": "Join", "url": "https://t.me/news_channel"},
                {"text": "I've joined", "callback_data": "check"},
            ]
        ]
    }
    sent = (
        await api(
            world.bot.token,
            "sendMessage",
            chat_id=forum.id,
            text="Join first",
            message_thread_id=topic,
            reply_markup=markup,
        )
    ).result
    assert sent["message_thread_id"] == topic
    assert sent["is_topic_message"] is True
    assert sent["reply_markup"] == markup
    assert sent["from"]["id"] == world.bot.id
    missing = await api(
        world.bot.token, "sendMessage", chat_id=forum.id, text="x", message_thread_id=12345
    )
    assert missing.description == "Bad Request: message thread not found"
    reply = await api(
        world.bot.token,
        "sendMessage",
        chat_id=forum.id,
        text="x",
        reply_parameters={"message_id": 4242},
    )
    assert reply.description == "Bad Request: message to be replied not found"


async def test_text_checks(api: ApiCall, world: World) -> None:
    token, group = world.bot.token, world.group.id
    assert (await api(token, "sendMessage", chat_id=group, text="x" * 4097)).description == (
        "Bad Request: message is too long"
    )
    answer = await api(token, "sendMessage", chat_id=group, text="<b>hi", parse_mode="HTML")
    assert answer.description.startswith("Bad Request: can't parse entities")
    markup = {"inline_keyboard": [[{"text": "x", "callback_data": "y" * 65}]]}
    answer = await api(token, "sendMessage", chat_id=group, text="x", reply_markup=markup)
    assert answer.description == "Bad Request: BUTTON_DATA_INVALID"


async def test_edit_message(api: ApiCall, world: World) -> None:
    token, group = world.bot.token, world.group.id
    sent = (await api(token, "sendMessage", chat_id=group, text="one")).result
    edited = (
        await api(
            token, "editMessageText", chat_id=group, message_id=sent["message_id"], text="two"
        )
    ).result
    assert edited["text"] == "two"
    assert "edit_date" in edited
    same = await api(
        token, "editMessageText", chat_id=group, message_id=sent["message_id"], text="two"
    )
    assert same.description.startswith("Bad Request: message is not modified")
    missing = await api(token, "editMessageReplyMarkup", chat_id=group, message_id=999)
    assert missing.description == "Bad Request: message to edit not found"


async def test_migrated_group(api: ApiCall, client: EmulatorClient, world: World) -> None:
    basic = await client.create_chat("group", "Small")
    await client.set_member(basic.id, world.bot.id, "member")
    upgraded = await client.migrate_chat(basic.id)
    answer = await api(world.bot.token, "sendMessage", chat_id=basic.id, text="hi")
    assert answer.status == 400
    assert answer.body["parameters"] == {"migrate_to_chat_id": upgraded.id}
    assert (await api(world.bot.token, "sendMessage", chat_id=upgraded.id, text="hi")).result


async def test_join_requests_and_invite_links(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    link = (
        await api(
            token,
            "createChatInviteLink",
            chat_id=world.channel.id,
            creates_join_request=True,
            name="gate",
        )
    ).result
    assert link["creates_join_request"] is True
    assert link["creator"]["id"] == world.bot.id
    newcomer = await client.create_user("Nina")
    joined = await client.join_chat(world.channel.id, newcomer.id, invite_link=link["invite_link"])
    assert joined["status"] == "pending"
    assert (
        await api(token, "approveChatJoinRequest", chat_id=world.channel.id, user_id=newcomer.id)
    ).result is True
    assert (await client.member(world.channel.id, newcomer.id))["status"] == "member"
    again = await api(
        token, "approveChatJoinRequest", chat_id=world.channel.id, user_id=newcomer.id
    )
    assert again.description == "Bad Request: USER_ALREADY_PARTICIPANT"
    other = await client.create_user("Olga")
    missing = await api(token, "declineChatJoinRequest", chat_id=world.channel.id, user_id=other.id)
    assert missing.description == "Bad Request: HIDE_REQUESTER_MISSING"


async def test_leave_chat(api: ApiCall, client: EmulatorClient, world: World) -> None:
    assert (await api(world.bot.token, "leaveChat", chat_id=world.group.id)).result is True
    assert (await client.member(world.group.id, world.bot.id))["status"] == "left"
