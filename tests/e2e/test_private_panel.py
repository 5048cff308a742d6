"""The settings panel in the bot's private chat, through the real dispatcher: the group
list (asked of Telegram live), the channels and exemptions pages, the free-text settings
typed in private, /cancel, refusals on every press and every answer, and the refusal
texts of the group's admin commands."""

from __future__ import annotations

import html
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gmbot.bot.refusals import refusal_text
from gmbot.domain.models import ConfigRights, GroupSettings, ProtectedGroup
from gmbot.domain.ports import UnitOfWorkFactory
from gmbot.runtime import resolve
from gmbot.services.admin_check import Permission, Refusal
from gmbot.services.group_settings import SETTINGS, SettingsError, SettingSpec
from gmbot.services.settings_panel import MAX_DATA, encode
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    CHANNEL2,
    GROUP,
    MEMBER,
    SECRET,
    STRANGER,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

MOD = 5005  # an admin of the group without the "Ban users" right
HIDDEN_CHANNEL = -1002000000099  # a channel the bot is not an admin of


@pytest.fixture
async def h(tmp_path: Path) -> AsyncIterator[Harness]:
    world = TelegramWorld()
    standard_world(world)
    world.user(MOD, "Mo")
    world.set_status(GROUP, MOD, "administrator", can_restrict_members=False)
    world.chat(HIDDEN_CHANNEL, "channel", "Hidden", username="hiddenchan")
    for user_id in (ADMIN, MOD, STRANGER):
        world.start(user_id)
    harness = await start_harness(make_settings(tmp_path, webhook_secret=SECRET), world)
    try:
        await harness.open_door("dispatcher")
        await harness.say(GROUP, ADMIN, "/protect @newschan")
        harness.session.clear()
        yield harness
    finally:
        await harness.close()
    assert harness.session.conformance_errors == []


def keyboard(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def labels(message: dict[str, Any]) -> list[str]:
    return [b["text"] for b in keyboard(message)]


def data_of(message: dict[str, Any], label: str) -> str:
    button = next((b for b in keyboard(message) if b["text"] == label), None)
    assert button is not None, f"no {label!r} button in {labels(message)}"
    return str(button["callback_data"])


def last(h: Harness, chat_id: int) -> dict[str, Any]:
    messages = h.bot_messages(chat_id)
    assert messages, f"the bot sent nothing to {chat_id}"
    return messages[-1]


async def open_panel(h: Harness, user_id: int = ADMIN) -> dict[str, Any]:
    """The private panel of GROUP, opened by the deep link."""
    await h.say(user_id, user_id, f"/start g{GROUP}")
    panel = last(h, user_id)
    assert "Channels" in labels(panel), panel["text"]
    return panel


async def press(h: Harness, user_id: int, message: dict[str, Any], data: str) -> dict[str, Any]:
    """Press on a message in user_id's private chat: the message as it is after."""
    await h.press(user_id, message["message_id"], user_id, data)
    return h.world.messages[user_id][message["message_id"]]


async def group(h: Harness) -> ProtectedGroup:
    uow = await _uow(h)
    async with uow() as u:
        found = await u.groups.get(GROUP)
    assert found is not None
    return found


async def exempt(h: Harness) -> list[int]:
    uow = await _uow(h)
    async with uow() as u:
        return list(await u.exempt.list(GROUP))


async def _uow(h: Harness) -> UnitOfWorkFactory:
    uow: UnitOfWorkFactory = await resolve(h.runtime.container.gateways.uow)
    return uow


def forward_from_channel(h: Harness, channel_id: int) -> dict[str, Any]:
    origin = {
        "type": "channel",
        "chat": h.world.chat_summary(channel_id),
        "message_id": 77,
        "date": int(time.time()),
    }
    return {"forward_origin": origin, "forward_date": int(time.time())}


def forward_from_user(h: Harness, user_id: int | None) -> dict[str, Any]:
    now = int(time.time())
    if user_id is None:
        origin: dict[str, Any] = {"type": "hidden_user", "sender_user_name": "Ghost", "date": now}
    else:
        origin = {"type": "user", "sender_user": h.world.users[user_id], "date": now}
    return {"forward_origin": origin, "forward_date": now}


def alert(h: Harness) -> dict[str, Any]:
    return h.world.callback_answers[-1]


def plain(permission: Permission) -> str:
    text = refusal_text(permission)
    assert text is not None
    return html.unescape(text)


# ---- the group list


async def test_start_and_settings_list_the_groups_asked_of_telegram_live(h: Harness) -> None:
    await open_panel(h)  # ADMIN uses the panel: a candidate from now on
    await h.say(ADMIN, ADMIN, "/start")
    listed = last(h, ADMIN)
    assert labels(listed) == ["Fans"]
    assert "Pick one" in listed["text"]
    welcome = h.bot_messages(ADMIN)[-2]
    assert "GMBot" in welcome["text"]

    h.session.clear()
    await h.say(ADMIN, ADMIN, "/settings")
    assert labels(last(h, ADMIN)) == ["Fans"]
    asked = [c.params for c in h.session.called("getChatMember")]
    assert {"chat_id": str(GROUP), "user_id": str(ADMIN)} in [
        {k: str(v) for k, v in p.items()} for p in asked
    ], "not asked of Telegram"
    opened = await press(h, ADMIN, last(h, ADMIN), data_of(last(h, ADMIN), "Fans"))
    assert "Channels" in labels(opened)

    h.world.set_status(GROUP, ADMIN, "member")  # no longer an admin, nothing else told
    await h.say(ADMIN, ADMIN, "/settings")
    assert "no group" in last(h, ADMIN)["text"]
    assert keyboard(last(h, ADMIN)) == []
    sent = len(h.bot_messages(ADMIN))
    await h.say(ADMIN, ADMIN, "/start")
    assert len(h.bot_messages(ADMIN)) == sent + 1  # the welcome, and no list


async def test_an_admin_the_group_settings_lock_out_is_not_listed_but_remembered(
    h: Harness,
) -> None:
    await open_panel(h, MOD)
    await h.say(GROUP, ADMIN, "/settings admins restrict")
    await h.say(MOD, MOD, "/settings")
    assert keyboard(last(h, MOD)) == []
    await h.say(GROUP, ADMIN, "/settings admins all")
    await h.say(MOD, MOD, "/settings")
    assert labels(last(h, MOD)) == ["Fans"]  # still a candidate: not forgotten


# ---- the pages


async def test_every_page_of_the_private_panel(h: Harness) -> None:
    panel = await open_panel(h)
    assert "Close" in labels(panel)
    assert "Manage in private" not in labels(panel)

    channels = await press(h, ADMIN, panel, data_of(panel, "Channels"))
    assert "<b>Channels</b> of Fans" in channels["text"]
    assert "@newschan" in channels["text"]
    assert labels(channels) == ["✖ @newschan", "➕ Add channel", "« Back"]

    main = await press(h, ADMIN, channels, data_of(channels, "« Back"))
    exemptions = await press(h, ADMIN, main, data_of(main, "Exemptions"))
    assert "Nobody is exempt" in exemptions["text"]
    assert labels(exemptions) == ["➕ Add exemption", "« Back"]

    for i, spec in enumerate(SETTINGS):
        page = await press(h, ADMIN, exemptions, encode(GROUP, "p", i))
        assert spec.key in page["text"]
        if spec.choices:
            assert len(keyboard(page)) == len(spec.choices) + 1
        else:
            assert labels(page) == ["Edit", "« Back"]
    assert all(not a["show_alert"] for a in h.world.callback_answers)


def test_the_longest_callback_data_fits() -> None:
    chat = -1009999999999999  # -100 then 13 digits
    assert len(str(chat)) == 17
    datas = [encode(chat, page) for page in ("m", "x", "c", "ca", "e", "ea", "n")]
    datas += [encode(chat, page, chat) for page in ("cr", "cy")]
    datas += [encode(chat, "er", 2**52), encode(chat, "t", len(SETTINGS) - 1)]
    assert max(len(d.encode()) for d in datas) <= MAX_DATA


# ---- channels


async def test_add_a_channel_by_username_and_by_a_forwarded_post(h: Harness) -> None:
    panel = await open_panel(h)
    channels = await press(h, ADMIN, panel, data_of(panel, "Channels"))
    asked = await press(h, ADMIN, channels, data_of(channels, "➕ Add channel"))
    assert "@username" in asked["text"]
    assert labels(asked) == ["Cancel"]

    await h.say(ADMIN, ADMIN, "@extrachan")
    reply = last(h, ADMIN)
    assert "Protection on" in reply["text"]
    assert "@extrachan" in reply["text"]
    assert "✖ @extrachan" in labels(reply)  # the channels page again
    assert [c.channel_id for c in (await group(h)).channels] == [CHANNEL, CHANNEL2]

    # Nothing awaited any more: the next message is just a message.
    sent = len(h.bot_messages(ADMIN))
    await h.say(ADMIN, ADMIN, "@hiddenchan")
    assert len(h.bot_messages(ADMIN)) == sent

    await h.say(GROUP, ADMIN, "/unprotect @extrachan")
    h.world.set_status(HIDDEN_CHANNEL, h.world.bot_id, "left")
    await press(h, ADMIN, reply, encode(GROUP, "ca"))
    await h.say(ADMIN, ADMIN, "", **forward_from_channel(h, HIDDEN_CHANNEL))
    refused = last(h, ADMIN)
    assert "not an admin of this channel" in refused["text"]
    assert "/cancel" in refused["text"]
    assert len((await group(h)).channels) == 1

    await h.say(ADMIN, ADMIN, "hi", **forward_from_channel(h, CHANNEL2))  # still awaited
    assert "@extrachan" in last(h, ADMIN)["text"]
    assert [c.channel_id for c in (await group(h)).channels] == [CHANNEL, CHANNEL2]


async def test_add_channel_errors_are_the_protect_replies_and_nothing_changes(
    h: Harness,
) -> None:
    panel = await open_panel(h)
    await press(h, ADMIN, panel, encode(GROUP, "ca"))
    for text, expected in [
        ("@nosuchchannel", "no such channel"),
        ("not a channel!", "Not a channel reference"),
        ("<b>x</b>", "Not a channel reference: &lt;b&gt;x&lt;/b&gt;"),
        ("@" + "a" * 100, "Send at most 10 channels"),
        (" ".join(["@newschan"] * 11), "Send at most 10 channels"),
    ]:
        await h.say(ADMIN, ADMIN, text)
        assert expected in last(h, ADMIN)["text"], last(h, ADMIN)["text"]
    await h.say(ADMIN, ADMIN, "", **forward_from_user(h, MEMBER))
    assert "not forwarded from a channel" in last(h, ADMIN)["text"]
    assert [c.channel_id for c in (await group(h)).channels] == [CHANNEL]

    await h.say(ADMIN, ADMIN, "/cancel")
    cancelled = last(h, ADMIN)
    assert cancelled["text"].startswith("Cancelled.")
    assert "➕ Add channel" in labels(cancelled)
    sent = len(h.bot_messages(ADMIN))
    await h.say(ADMIN, ADMIN, "@extrachan")  # no longer awaited
    assert len(h.bot_messages(ADMIN)) == sent
    await h.say(ADMIN, ADMIN, "/cancel")
    assert last(h, ADMIN)["text"] == "Nothing to cancel."


async def test_the_cancel_button_stops_waiting(h: Harness) -> None:
    panel = await open_panel(h)
    asked = await press(h, ADMIN, panel, encode(GROUP, "ea"))
    back = await press(h, ADMIN, asked, data_of(asked, "Cancel"))
    assert "Exemptions" in back["text"]
    sent = len(h.bot_messages(ADMIN))
    await h.say(ADMIN, ADMIN, "12345")
    assert len(h.bot_messages(ADMIN)) == sent
    assert await exempt(h) == []


async def test_remove_a_channel_after_confirming(h: Harness) -> None:
    await h.say(GROUP, ADMIN, "/protect @extrachan")
    panel = await open_panel(h)
    channels = await press(h, ADMIN, panel, encode(GROUP, "c"))
    confirm = await press(h, ADMIN, channels, data_of(channels, "✖ @extrachan"))
    assert "Remove <b>@extrachan</b>?" in confirm["text"]
    assert "only channel" not in confirm["text"]
    assert len((await group(h)).channels) == 2  # not before confirming
    back = await press(h, ADMIN, confirm, data_of(confirm, "« No"))
    assert "✖ @extrachan" in labels(back)

    confirm = await press(h, ADMIN, back, data_of(back, "✖ @extrachan"))
    removed = await press(h, ADMIN, confirm, data_of(confirm, "Yes, remove"))
    assert removed["text"].startswith("Removed @extrachan.")
    assert labels(removed) == ["✖ @newschan", "➕ Add channel", "« Back"]
    assert [c.channel_id for c in (await group(h)).channels] == [CHANNEL]
    assert alert(h)["text"] == "Removed @extrachan."

    # A stale confirmation: already removed.
    await press(h, ADMIN, removed, encode(GROUP, "cy", CHANNEL2))
    assert alert(h)["text"] == "That channel is no longer linked."

    confirm = await press(h, ADMIN, removed, data_of(removed, "✖ @newschan"))
    assert "only channel" in confirm["text"]
    off = await press(h, ADMIN, confirm, data_of(confirm, "Yes, remove"))
    assert "protection is off" in off["text"]
    assert labels(off) == ["➕ Add channel", "« Back"]
    assert not (await group(h)).active


# ---- exemptions


async def test_add_and_remove_exemptions(h: Harness) -> None:
    panel = await open_panel(h)
    exemptions = await press(h, ADMIN, panel, encode(GROUP, "e"))
    asked = await press(h, ADMIN, exemptions, data_of(exemptions, "➕ Add exemption"))
    assert "numeric id" in asked["text"]

    for text, expected in [
        ("@somebody", "by @username"),
        ("t.me/somebody", "by @username"),
        ("<i>12</i>", "“&lt;i&gt;12&lt;/i&gt;” is not a user id"),
        ("-5", "not a user id"),
    ]:
        await h.say(ADMIN, ADMIN, text)
        assert expected in last(h, ADMIN)["text"], last(h, ADMIN)["text"]
    await h.say(ADMIN, ADMIN, "", **forward_from_user(h, None))
    assert "hides their account" in last(h, ADMIN)["text"]
    await h.say(ADMIN, ADMIN, "", **forward_from_channel(h, CHANNEL))
    assert "not by a user" in last(h, ADMIN)["text"]
    assert await exempt(h) == []

    await h.say(ADMIN, ADMIN, "987654321")
    added = last(h, ADMIN)
    assert "User <code>987654321</code> is now exempt" in added["text"]
    assert "✖ 987654321" in labels(added)

    await press(h, ADMIN, added, data_of(added, "➕ Add exemption"))
    await h.say(ADMIN, ADMIN, "look", **forward_from_user(h, STRANGER))
    added = last(h, ADMIN)
    assert f"User <code>{STRANGER}</code> is now exempt" in added["text"]
    assert sorted(await exempt(h)) == sorted([987654321, STRANGER])
    # The gate knows at once: the stranger, not subscribed, may write.
    said = h.message_payload(GROUP, STRANGER, "I am exempt")
    await h.feed({"message": said})
    assert h.present(said)

    removed = await press(h, ADMIN, added, data_of(added, f"✖ {STRANGER}"))
    assert alert(h)["text"] == "No longer exempt."
    assert f"✖ {STRANGER}" not in labels(removed)
    assert await exempt(h) == [987654321]
    said = h.message_payload(GROUP, STRANGER, "and now?")
    await h.feed({"message": said})
    assert not h.present(said)
    await press(h, ADMIN, removed, encode(GROUP, "er", STRANGER))
    assert alert(h)["text"] == "Was not exempt."


# ---- free-text settings


def _text_settings() -> list[tuple[int, SettingSpec]]:
    return [(i, spec) for i, spec in enumerate(SETTINGS) if not spec.choices]


def _values(spec: SettingSpec) -> tuple[str, str]:
    """A value the setting takes and one it refuses, found by its own parser."""
    candidates = [
        "Please join {channels} to write in {group}.",
        "Join {channel}",
        "I've joined",
        "Join",
        "<b>unclosed",
        "{no_such_placeholder}",
        "x" * 5000,
        "<script>",
    ]
    ok, bad = [], []
    for value in candidates:
        try:
            spec.apply(GroupSettings(), value)
        except SettingsError:
            bad.append(value)
        else:
            ok.append(value)
    assert ok, f"no value {spec.key} takes"
    assert bad, f"no value {spec.key} refuses"
    return ok[0], bad[0]


async def test_free_text_settings_are_typed_in_private(h: Harness) -> None:
    texts = _text_settings()
    if not texts:
        pytest.skip("the settings registry has no free-text setting")
    panel = await open_panel(h)
    for index, spec in texts:
        good, bad = _values(spec)
        page = await press(h, ADMIN, panel, encode(GROUP, "p", index))
        asked = await press(h, ADMIN, page, data_of(page, "Edit"))
        assert "Send me the new value (or /cancel)" in asked["text"]
        before = (await group(h)).settings

        await h.say(ADMIN, ADMIN, bad)
        refused = last(h, ADMIN)
        assert "Nothing was saved" in refused["text"]
        assert "<script>" not in refused["text"]  # quoted values are escaped
        assert (await group(h)).settings == before

        await h.say(ADMIN, ADMIN, good)
        saved = last(h, ADMIN)
        assert saved["text"].startswith(f"Saved. <b>{spec.key}</b>")
        assert "Channels" in labels(saved)  # the panel, shown again
        assert (await group(h)).settings == spec.apply(before, good)
        panel = saved

        # The next message is not taken as a value.
        sent = len(h.bot_messages(ADMIN))
        await h.say(ADMIN, ADMIN, good + " again")
        assert len(h.bot_messages(ADMIN)) == sent


async def test_free_text_input_cancelled_saves_nothing(h: Harness) -> None:
    texts = _text_settings()
    if not texts:
        pytest.skip("the settings registry has no free-text setting")
    index, spec = texts[0]
    good, _ = _values(spec)
    panel = await open_panel(h)
    await press(h, ADMIN, panel, encode(GROUP, "t", index))
    before = (await group(h)).settings
    await h.say(ADMIN, ADMIN, "/cancel")
    cancelled = last(h, ADMIN)
    assert cancelled["text"].startswith("Cancelled.")
    assert "Edit" in labels(cancelled)  # the setting's page
    await h.say(ADMIN, ADMIN, good)
    assert (await group(h)).settings == before


# ---- refusals


async def test_presses_are_checked_live_and_refused_with_the_reason(h: Harness) -> None:
    panel = await open_panel(h, MOD)
    await h.say(GROUP, ADMIN, "/settings admins restrict")
    before = dict(h.world.messages[MOD][panel["message_id"]])
    for data in (encode(GROUP, "c"), encode(GROUP, "ca"), encode(GROUP, "cy", CHANNEL)):
        await press(h, MOD, panel, data)
        assert alert(h) == {
            "text": plain(Permission(Refusal.LACKS_RESTRICT, ConfigRights.RESTRICT)),
            "show_alert": True,
        }
    assert h.world.messages[MOD][panel["message_id"]] == before
    assert [c.channel_id for c in (await group(h)).channels] == [CHANNEL]
    sent = len(h.bot_messages(MOD))
    await h.say(MOD, MOD, "@extrachan")  # "ca" was refused: nothing awaited
    assert len(h.bot_messages(MOD)) == sent

    await h.say(GROUP, ADMIN, "/settings admins creator")
    await press(h, MOD, panel, encode(GROUP, "e"))
    assert "owner" in alert(h)["text"]

    # A stranger with made-up data, in their own chat.
    await h.say(STRANGER, STRANGER, "/start")
    welcome = last(h, STRANGER)
    await press(h, STRANGER, welcome, encode(GROUP, "er", MEMBER))
    assert alert(h)["text"] == plain(Permission(Refusal.NOT_ADMIN))
    await press(h, STRANGER, welcome, encode(GROUP, "m"))
    assert alert(h)["show_alert"] is True
    assert h.session.called("editMessageText") == []


async def test_an_answer_from_someone_no_longer_allowed_is_refused(h: Harness) -> None:
    panel = await open_panel(h)
    await press(h, ADMIN, panel, encode(GROUP, "ea"))
    h.world.set_status(GROUP, ADMIN, "member")
    await h.say(ADMIN, ADMIN, "987654321")
    assert last(h, ADMIN)["text"] == refusal_text(Permission(Refusal.NOT_ADMIN))
    assert await exempt(h) == []
    h.world.set_status(GROUP, ADMIN, "creator")
    sent = len(h.bot_messages(ADMIN))
    await h.say(ADMIN, ADMIN, "987654321")  # the question was dropped
    assert len(h.bot_messages(ADMIN)) == sent


async def test_a_failed_check_is_said_so(h: Harness) -> None:
    panel = await open_panel(h)
    h.session.stage("getChatMember", 400, "Bad Request: PARTICIPANT_ID_INVALID")
    await press(h, ADMIN, panel, encode(GROUP, "c"))
    assert alert(h)["text"] == plain(Permission(Refusal.CHECK_FAILED))


async def test_deep_link_refusal_names_the_reason(h: Harness) -> None:
    await h.say(GROUP, ADMIN, "/settings admins restrict")
    await h.say(MOD, MOD, f"/start g{GROUP}")
    assert last(h, MOD)["text"] == refusal_text(
        Permission(Refusal.LACKS_RESTRICT, ConfigRights.RESTRICT)
    )
    assert keyboard(last(h, MOD)) == []


async def test_group_commands_are_refused_with_the_reason(h: Harness) -> None:
    await h.say(GROUP, MEMBER, "hi")  # checked once: the refusal is sent when the message stays
    await h.say(GROUP, MEMBER, "/status")
    assert h.last_bot_text(GROUP) == plain(Permission(Refusal.NOT_ADMIN))

    await h.say(GROUP, ADMIN, "/settings admins restrict")
    await h.say(GROUP, MOD, "/settings")
    assert h.last_bot_text(GROUP) == plain(
        Permission(Refusal.LACKS_RESTRICT, ConfigRights.RESTRICT)
    )
    assert "Ban users" in h.last_bot_text(GROUP)

    group_chat = h.world.chat_summary(GROUP)
    await h.say(GROUP, None, "/status", sender_chat=group_chat)  # an anonymous admin
    anonymous = h.last_bot_text(GROUP)
    assert anonymous == plain(Permission(Refusal.ANONYMOUS, ConfigRights.RESTRICT))
    assert "Remain anonymous" in anonymous

    await h.say(GROUP, ADMIN, "/settings admins creator")
    await h.say(GROUP, MOD, "/exempt 42")
    assert h.last_bot_text(GROUP) == plain(Permission(Refusal.NOT_CREATOR, ConfigRights.CREATOR))

    await h.say(GROUP, ADMIN, "/settings admins all")
    h.session.stage("getChatMember", 400, "Bad Request: PARTICIPANT_ID_INVALID")
    await h.say(GROUP, MOD, "/status")
    assert h.last_bot_text(GROUP) == plain(Permission(Refusal.CHECK_FAILED))
