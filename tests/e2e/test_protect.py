"""/protect, /unprotect, /status, /settings, /exempt through the real dispatcher."""

from __future__ import annotations

from tests.e2e.harness import ADMIN, CHANNEL, CHANNEL2, GROUP, MEMBER, OPERATOR, STRANGER, Harness


async def test_admin_protects_group(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    assert "Protection on" in harness.last_bot_text(GROUP)
    assert "@newschan" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/status")
    status = harness.last_bot_text(GROUP)
    assert "Protected" in status
    assert "@newschan ✅" in status
    assert "sufficient" in status


async def test_protect_several_channels_by_link_and_id(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, f"/protect https://t.me/newschan {CHANNEL2}")
    text = harness.last_bot_text(GROUP)
    assert "@newschan" in text
    assert "@extrachan" in text


async def test_non_admin_is_refused(harness: Harness) -> None:
    await harness.say(GROUP, MEMBER, "/protect @newschan")
    assert harness.last_bot_text(GROUP) == "Only the group's admins can configure GMBot here."
    await harness.say(GROUP, ADMIN, "/status")
    assert "not protected" in harness.last_bot_text(GROUP)


async def test_anonymous_admin_and_operator_may_protect(harness: Harness) -> None:
    # An anonymous admin posts as the group itself (sender_chat == chat).
    group = harness.world.chat_summary(GROUP)
    await harness.say(GROUP, None, "/protect @newschan", sender_chat=group)
    assert "Protection on" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, OPERATOR, "/unprotect")
    assert "Protection off" in harness.last_bot_text(GROUP)


async def test_protect_usage_and_bad_reference(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/protect")
    assert "Usage" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/protect not/a/channel")
    assert "Not a channel reference" in harness.last_bot_text(GROUP)


async def test_protect_unknown_channel(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/protect @nosuchchannel")
    assert "no such channel" in harness.last_bot_text(GROUP)


async def test_protect_channel_where_bot_is_not_admin(harness: Harness) -> None:
    harness.world.set_status(CHANNEL, harness.world.bot_id, "left")
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    assert "not an admin of this channel" in harness.last_bot_text(GROUP)


async def test_protect_a_group_not_a_channel(harness: Harness) -> None:
    harness.world.chat(-1009, "supergroup", "Other", username="othergroup")
    await harness.say(GROUP, ADMIN, "/protect @othergroup")
    assert "not a channel" in harness.last_bot_text(GROUP)


async def test_protect_without_group_rights(harness: Harness) -> None:
    harness.world.set_status(
        GROUP, harness.world.bot_id, "administrator", can_restrict_members=False
    )
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    assert "missing admin rights" in harness.last_bot_text(GROUP)
    assert "Ban users" in harness.last_bot_text(GROUP)
    harness.world.set_status(GROUP, harness.world.bot_id, "member")
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    assert "I am not an admin of this group" in harness.last_bot_text(GROUP)


async def test_basic_group_explains_upgrade(harness: Harness) -> None:
    harness.world.chat(-555, "group", "Basic")
    harness.world.set_status(-555, ADMIN, "creator")
    await harness.say(-555, ADMIN, "/protect @newschan")
    assert "basic group" in harness.last_bot_text(-555)
    assert "supergroup" in harness.last_bot_text(-555)


async def test_unprotect_one_channel_then_all(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/protect @newschan @extrachan")
    await harness.say(GROUP, ADMIN, "/unprotect @extrachan")
    assert "Still required: @newschan" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/unprotect @unknownchan")
    assert "Not linked here" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/unprotect")
    assert "Protection off" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/unprotect")
    assert "not protected" in harness.last_bot_text(GROUP)


async def test_settings_change_and_errors(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/settings action delete")
    assert "not protected yet" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    await harness.say(GROUP, ADMIN, "/settings action delete")
    assert "action: delete" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings prompt 120s")
    assert "prompt: 2m" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings mute soon")
    assert "not a duration" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings colour blue")
    assert "Unknown setting" in harness.last_bot_text(GROUP)


async def test_setting_errors_are_escaped_for_telegrams_html(harness: Harness) -> None:
    """Replies go out with HTML parse mode: a "<duration>" in the text, or markup the
    admin typed, would make Telegram refuse the reply ("can't parse entities") and the
    command fail on every redelivery. The fake Telegram parses HTML as Telegram does."""
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    await harness.say(GROUP, ADMIN, "/settings prompt")
    assert "/settings prompt &lt;duration&gt;" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings <b>colour blue")
    assert "Unknown setting “&lt;b&gt;colour”" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings mute <b>soon")
    assert "“&lt;b&gt;soon” is not a duration" in harness.last_bot_text(GROUP)


async def test_exempt_by_reply_and_by_id(harness: Harness) -> None:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    target = harness.message_payload(GROUP, STRANGER, "hi")
    await harness.say(GROUP, ADMIN, "/exempt", reply_to_message=target)
    assert harness.last_bot_text(GROUP) == (
        f"User <code>{STRANGER}</code> now exempt from the channel check."
    )
    await harness.say(GROUP, STRANGER, "exempt users pass the gate")
    assert harness.session.called("restrictChatMember") == []
    await harness.say(GROUP, ADMIN, f"/exempt {STRANGER}")
    assert "already exempt" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/exempt")
    assert "Reply to a message" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, f"/unexempt {STRANGER}")
    assert "no longer exempt" in harness.last_bot_text(GROUP)


async def test_private_start_and_stats(harness: Harness) -> None:
    harness.world.chat(MEMBER, "private", "Mel")
    harness.world.set_status(MEMBER, harness.world.bot_id, "member")
    await harness.say(MEMBER, MEMBER, "/start")
    text = harness.last_bot_text(MEMBER)
    assert "startgroup" in text
    assert "restrict_members" in text
    await harness.say(MEMBER, MEMBER, "/stats")
    assert "operators" in harness.last_bot_text(MEMBER)
    harness.world.chat(OPERATOR, "private", "Otto")
    harness.world.set_status(OPERATOR, harness.world.bot_id, "member")
    await harness.say(OPERATOR, OPERATOR, "/stats")
    assert "protected groups" in harness.last_bot_text(OPERATOR)
    await harness.say(MEMBER, MEMBER, "/protect @newschan")
    assert "works in a group" in harness.last_bot_text(MEMBER)


async def test_renamed_channel_stays_linked_and_status_picks_up_the_new_name(
    harness: Harness,
) -> None:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    chan = harness.world.chats[CHANNEL]
    chan["username"], chan["title"] = "renamedchan", "Renamed"
    await harness.say(GROUP, ADMIN, "/status")
    assert "@renamedchan ✅" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, STRANGER, "spam")
    prompt = harness.bot_messages(GROUP)[-1]
    urls = [b.get("url") for row in prompt["reply_markup"]["inline_keyboard"] for b in row]
    assert "https://t.me/renamedchan" in urls


async def test_protect_and_status_when_telegram_does_not_answer(harness: Harness) -> None:
    harness.session.stage("getChat", 502, "Bad Gateway", times=3)
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    assert "Telegram did not answer" in harness.last_bot_text(GROUP)
    harness.session.stage("getChat", 502, "Bad Gateway", times=3)
    await harness.say(GROUP, ADMIN, "/status")
    assert "Telegram did not answer" in harness.last_bot_text(GROUP)
    await harness.say(GROUP, ADMIN, "/settings")
    assert "not protected yet" in harness.last_bot_text(GROUP)
