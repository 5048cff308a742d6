"""The inline settings panel through the real dispatcher: opened by /settings,
changed in place by its buttons (the message edited, never re-sent)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gmbot.services.group_settings import SETTINGS
from gmbot.services.settings_panel import encode
from tests.e2e.harness import (
    ADMIN,
    GROUP,
    SECRET,
    STRANGER,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

ACTION = [s.key for s in SETTINGS].index("action")


@pytest.fixture
async def protected(tmp_path: Path) -> AsyncIterator[Harness]:
    world = TelegramWorld()
    standard_world(world)
    h = await start_harness(make_settings(tmp_path, webhook_secret=SECRET), world)
    try:
        await h.open_door("dispatcher")
        await h.say(GROUP, ADMIN, "/protect @newschan")
        h.session.clear()
        yield h
    finally:
        await h.close()
    assert h.session.conformance_errors == []


def keyboard(message: dict[str, Any]) -> list[dict[str, Any]]:
    markup = message.get("reply_markup") or {}
    if isinstance(markup, str):
        markup = json.loads(markup)
    return [b for row in markup.get("inline_keyboard", []) for b in row]


def panel_message(h: Harness) -> dict[str, Any]:
    panels = [m for m in h.bot_messages(GROUP) if "<b>Settings</b>" in m["text"] or keyboard(m)]
    panels = [
        m for m in panels if any(b.get("callback_data", "").startswith("gms:") for b in keyboard(m))
    ]
    assert panels, "no panel was sent"
    return panels[-1]


async def test_open_press_and_choose_edits_the_panel_in_place(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings")
    panel = panel_message(h)
    texts = [b["text"] for b in keyboard(panel)]
    assert "Action: mute" in texts
    assert "Close" in texts
    link = next(b for b in keyboard(panel) if b["text"] == "Manage in private")
    assert link["url"].endswith(f"?start=g{GROUP}")
    sent = len(h.session.called("sendMessage"))

    await h.press(GROUP, panel["message_id"], ADMIN, encode(GROUP, "p", ACTION))
    page = h.world.messages[GROUP][panel["message_id"]]
    assert "✓ mute" in [b["text"] for b in keyboard(page)]

    delete = SETTINGS[ACTION].choices.index("delete")
    await h.press(GROUP, panel["message_id"], ADMIN, encode(GROUP, "s", ACTION, delete))
    main = h.world.messages[GROUP][panel["message_id"]]
    assert "Action: delete" in [b["text"] for b in keyboard(main)]
    assert len(h.session.called("sendMessage")) == sent  # edited, never re-sent
    assert len(h.session.called("editMessageText")) == 2
    # The text form sees the change: it went through the same service.
    await h.say(GROUP, ADMIN, "/settings action mute")
    await h.press(GROUP, panel["message_id"], ADMIN, encode(GROUP, "m"))
    main = h.world.messages[GROUP][panel["message_id"]]
    assert "Action: mute" in [b["text"] for b in keyboard(main)]

    await h.press(GROUP, panel["message_id"], ADMIN, encode(GROUP, "x"))
    assert panel["message_id"] not in h.world.messages[GROUP]


async def test_a_non_admin_gets_an_alert_and_nothing_changes(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings")
    panel = panel_message(h)
    before = dict(h.world.messages[GROUP][panel["message_id"]])
    delete = SETTINGS[ACTION].choices.index("delete")
    await h.press(GROUP, panel["message_id"], STRANGER, encode(GROUP, "s", ACTION, delete))
    answer = h.world.callback_answers[-1]
    assert answer["show_alert"] is True
    assert "admins" in answer["text"]
    assert h.world.messages[GROUP][panel["message_id"]] == before
    assert h.session.called("editMessageText") == []


async def test_stale_data_has_expired(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings")
    panel = panel_message(h)
    await h.press(GROUP, panel["message_id"], ADMIN, f"gms:{GROUP}:s:99:0")
    assert h.world.callback_answers[-1]["text"] == "This panel has expired."
    assert h.session.called("editMessageText") == []


async def test_private_deep_link_opens_the_panel_for_an_admin_only(protected: Harness) -> None:
    h = protected
    h.world.start(ADMIN)
    await h.say(ADMIN, ADMIN, f"/start g{GROUP}")
    private = [m for m in h.bot_messages(ADMIN) if keyboard(m)]
    assert private, "no panel in private"
    texts = [b["text"] for b in keyboard(private[-1])]
    assert "Action: mute" in texts
    assert "Manage in private" not in texts
    await h.press(ADMIN, private[-1]["message_id"], ADMIN, encode(GROUP, "s", ACTION, 0))
    edited = h.world.messages[ADMIN][private[-1]["message_id"]]
    assert f"Action: {SETTINGS[ACTION].choices[0]}" in [b["text"] for b in keyboard(edited)]

    h.world.start(STRANGER)
    await h.say(STRANGER, STRANGER, f"/start g{GROUP}")
    assert "admins" in h.last_bot_text(STRANGER)
    assert not any(keyboard(m) for m in h.bot_messages(STRANGER))


async def test_private_group_list_drops_a_stale_admin(protected: Harness) -> None:
    h = protected
    h.world.start(ADMIN)
    await h.say(GROUP, ADMIN, "/settings")
    panel = panel_message(h)
    await h.press(GROUP, panel["message_id"], ADMIN, encode(GROUP, "m"))  # ADMIN recorded
    await h.say(ADMIN, ADMIN, "/settings")
    listed = [m for m in h.bot_messages(ADMIN) if keyboard(m)]
    assert listed, "no group list"
    assert [b["text"] for b in keyboard(listed[-1])] == ["Fans"]
    await h.press(ADMIN, listed[-1]["message_id"], ADMIN, keyboard(listed[-1])[0]["callback_data"])
    opened = h.world.messages[ADMIN][listed[-1]["message_id"]]
    assert "Action: mute" in [b["text"] for b in keyboard(opened)]

    h.world.set_status(GROUP, ADMIN, "member")  # no longer an admin
    await h.say(ADMIN, ADMIN, "/settings")
    assert "no group" in h.last_bot_text(ADMIN)
    assert not keyboard(h.bot_messages(ADMIN)[-1])
