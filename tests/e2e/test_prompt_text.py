"""A group's own prompt: /settings text, button, joinbutton and preview, end to end;
and what the prompt says of warnings, removals, the deadline and mode any."""

from __future__ import annotations

import html
from dataclasses import replace
from typing import Any

import pytest

from gmbot.domain.models import GroupSettings
from gmbot.domain.telegram import ChatType
from gmbot.domain.telegram_html import html_problem
from gmbot.runtime import resolve
from gmbot.services.events import IncomingMessage
from gmbot.services.prompting import PromptService
from gmbot.services.texts import CALLBACK_PREFIX, JOINED_BUTTON, PREVIEW_PREFIX
from tests.e2e.harness import ADMIN, CHANNEL, CHANNEL2, GROUP, STRANGER, Harness

NASTY = 3100  # a member named like markup
NASTY_NAME = "<b>&"


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    harness.world.user(NASTY, NASTY_NAME)
    harness.world.set_status(GROUP, NASTY, "member")
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    harness.session.clear()
    return harness


def prompt_of(h: Harness, user_id: int) -> dict[str, Any]:
    prompts = [m for m in h.bot_messages(GROUP) if f"tg://user?id={user_id}" in m["text"]]
    assert prompts, "no prompt was sent"
    return prompts[-1]


def buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for row in message["reply_markup"]["inline_keyboard"] for b in row]


async def settings(h: Harness) -> GroupSettings:
    assert h.runtime.services is not None
    s = await h.runtime.services.group_admin.settings_of(GROUP)
    assert s is not None
    return s


async def store(h: Harness, **changes: Any) -> None:
    """Settings no /settings key offers here, written as the registry would."""
    uow = await resolve(h.runtime.container.gateways.uow)
    async with uow() as u:
        group = await u.groups.get(GROUP)
        assert group is not None
        await u.groups.update_settings(GROUP, replace(group.settings, **changes))
        await u.commit()
    directory = await resolve(h.runtime.container.services.directory)
    await directory.invalidate(GROUP)


async def test_a_template_is_used_with_placeholders_filled_and_escaped(
    protected: Harness,
) -> None:
    h = protected
    template = "Hey {mention} (<i>{name}</i>): join {channels} to talk in <b>{group}</b>!"
    await h.say(GROUP, ADMIN, f"/settings text {template}")
    assert h.last_bot_text(GROUP).startswith("Saved.")
    assert "text: custom" in h.last_bot_text(GROUP)
    assert (await settings(h)).prompt_text == template
    await h.say(GROUP, NASTY, "spam")
    prompt = prompt_of(h, NASTY)
    assert prompt["text"] == (
        f'Hey <a href="tg://user?id={NASTY}">&lt;b&gt;&amp;</a> (<i>&lt;b&gt;&amp;</i>): '
        "join @newschan to talk in <b>Fans</b>!"
    )
    assert html_problem(prompt["text"]) is None
    assert buttons(prompt)[-1] == {
        "text": JOINED_BUTTON,
        "callback_data": f"{CALLBACK_PREFIX}:{NASTY}",
    }
    # Reset: today's text again.
    await h.say(GROUP, ADMIN, "/settings text reset")
    assert (await settings(h)).prompt_text is None
    await h.say(GROUP, ADMIN, "/settings raid off")
    await h.say(GROUP, STRANGER, "spam")
    assert prompt_of(h, STRANGER)["text"].startswith(
        f'<a href="tg://user?id={STRANGER}">Stan</a>, to write in this group please join '
        "@newschan, then press “✅ I've joined”."
    )


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("Hi <div>{mention}</div>", "unsupported tag <div>"),
        ("Hi <b>{mention}", "tag <b> is not closed"),
        ("Hi {mention} " + "x" * 4100, "over 4096"),
        ("Hi {mention} " + "x" * 3900, "too long"),
        ("Hi {member}", "unknown placeholder {member}"),
        ("Hi {mention} }", "a stray “}”"),
    ],
)
async def test_bad_templates_are_refused_and_nothing_is_saved(
    protected: Harness, template: str, problem: str
) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings text Hello {mention}")
    await h.say(GROUP, ADMIN, f"/settings text {template}")
    answer = h.last_bot_text(GROUP)
    assert html.escape(problem, quote=False) in answer
    assert not answer.startswith("Saved")
    assert html_problem(answer) is None  # the admin's markup is quoted, escaped
    assert (await settings(h)).prompt_text == "Hello {mention}"
    await h.say(GROUP, STRANGER, "spam")
    assert prompt_of(h, STRANGER)["text"] == f'Hello <a href="tg://user?id={STRANGER}">Stan</a>'


async def test_button_labels(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid off")
    await h.say(GROUP, ADMIN, "/settings button Done, let me in")
    await h.say(GROUP, ADMIN, "/settings joinbutton 📣 Subscribe to {channel}")
    s = await settings(h)
    assert (s.joined_label, s.join_label) == ("Done, let me in", "📣 Subscribe to {channel}")
    await h.say(GROUP, STRANGER, "spam")
    prompt = prompt_of(h, STRANGER)
    assert buttons(prompt) == [
        {"text": "📣 Subscribe to @newschan", "url": "https://t.me/newschan"},
        {"text": "Done, let me in", "callback_data": f"{CALLBACK_PREFIX}:{STRANGER}"},
    ]
    assert "then press “Done, let me in”." in prompt["text"]
    # Refused: HTML, too long, an unknown placeholder. Nothing changes.
    for value, problem in [
        ("<b>Done</b>", "plain text"),
        ("x" * 65, "over the 64"),
        ("Join {chanel}", "unknown placeholder {chanel}"),
    ]:
        key = "joinbutton" if "{" in value else "button"
        await h.say(GROUP, ADMIN, f"/settings {key} {value}")
        assert html.escape(problem, quote=False) in h.last_bot_text(GROUP)
    assert await settings(h) == s
    await h.say(GROUP, ADMIN, "/settings button reset")
    await h.say(GROUP, ADMIN, "/settings joinbutton reset")
    s = await settings(h)
    assert (s.joined_label, s.join_label) == (None, None)


async def test_preview_shows_the_prompt_and_its_button_verifies_nobody(
    protected: Harness,
) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings text Welcome {mention}, join {channels} first.")
    await h.say(GROUP, ADMIN, "/settings button I'm in")
    await h.say(GROUP, STRANGER, "spam")  # muted, prompted
    assert h.world.status(GROUP, STRANGER) == "restricted"
    h.session.clear()
    await h.say(GROUP, ADMIN, "/settings preview")
    preview = prompt_of(h, ADMIN)
    assert preview["text"].startswith(
        f'Welcome <a href="tg://user?id={ADMIN}">Alice</a>, join @newschan first.'
    )
    assert "preview" in preview["text"].lower()
    assert buttons(preview) == [
        {"text": "Join @newschan", "url": "https://t.me/newschan"},
        {"text": "I'm in", "callback_data": f"{PREVIEW_PREFIX}:{ADMIN}"},
    ]
    # Nothing but the preview itself (and the admin's rights looked up): nobody's
    # membership is checked, nobody muted or verified.
    asked = [c.method for c in h.session.calls if c.method != "getChatMember"]
    assert asked == ["sendMessage"]
    assert [c.params["user_id"] for c in h.session.called("getChatMember")] in ([], [str(ADMIN)])
    h.session.clear()
    for presser in (ADMIN, STRANGER):
        await h.press(GROUP, preview["message_id"], presser, f"{PREVIEW_PREFIX}:{ADMIN}")
        answer = h.world.callback_answers[-1]
        assert answer["text"].startswith("This is a preview")
        assert answer["show_alert"] is True
    assert [c.method for c in h.session.calls] == ["answerCallbackQuery"] * 2
    assert h.world.status(GROUP, STRANGER) == "restricted"


async def test_preview_of_the_default_prompt(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings preview")
    preview = prompt_of(h, ADMIN)
    assert preview["text"].startswith(
        f'<a href="tg://user?id={ADMIN}">Alice</a>, to write in this group please join '
        "@newschan, then press “✅ I've joined”."
    )
    assert buttons(preview)[-1]["callback_data"] == f"{PREVIEW_PREFIX}:{ADMIN}"


async def test_any_mode_and_the_deadline_are_in_the_prompt(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/protect @newschan @extrachan")
    await h.say(GROUP, ADMIN, "/settings mode any")
    await store(h, verify_timeout=600)
    await h.say(GROUP, STRANGER, "spam")
    text = prompt_of(h, STRANGER)["text"]
    assert "please join one of @newschan, @extrachan, then press" in text
    assert text.endswith("\nVerify within 10 min or you will be removed from the group.")
    await h.say(GROUP, ADMIN, "/settings mode all")
    await h.say(GROUP, ADMIN, "/settings text {mention}: {channels} within {timeout}.")
    await h.say(GROUP, NASTY, "spam")
    text = prompt_of(h, NASTY)["text"]
    # The template shows the deadline: the sentence is not repeated.
    assert text == (
        f'<a href="tg://user?id={NASTY}">&lt;b&gt;&amp;</a>: @newschan, @extrachan within 10 min.'
    )


async def gated(h: Harness, user_id: int, **kwargs: Any) -> str:
    """A member gated as the outbox's prompt action would report it."""
    prompting: PromptService = await resolve(h.runtime.container.services.prompting)
    msg = IncomingMessage(
        GROUP, ChatType.SUPERGROUP, 999, user_id, h.world.users[user_id]["first_name"]
    )
    await prompting.gated(msg, [CHANNEL, CHANNEL2], **kwargs)
    return str(prompt_of(h, user_id)["text"])


async def test_warning_and_removal_wording(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid off")
    await store(h, escalation=GroupSettings().escalation)
    text = await gated(h, STRANGER, muted=False, warning=(1, 3))
    assert text == (
        f'<a href="tg://user?id={STRANGER}">Stan</a>, to write in this group please join '
        "@newschan, then press “✅ I've joined”.\n"
        "⚠️ Warning 1 of 3: at warning 3 you will be muted.\n"
        "Your message was removed."
    )
    text = await gated(h, NASTY, muted=True, warning=(3, 3), removed=True)
    assert text == (
        f'<a href="tg://user?id={NASTY}">&lt;b&gt;&amp;</a>, you were removed from this group '
        "because you have not joined @newschan. You may come back after you join @newschan.\n"
        "⚠️ Warning 3 of 3: this was your last warning."
    )
    removed = prompt_of(h, NASTY)
    assert all("callback_data" not in b for b in buttons(removed))  # no "I've joined"


async def test_custom_text_keeps_the_warning_and_removal_lines(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid off")
    await h.say(GROUP, ADMIN, "/settings text Psst {mention}, join {channels}.")
    text = await gated(h, STRANGER, muted=True, warning=(2, 5), removed=True)
    assert text == (
        f'Psst <a href="tg://user?id={STRANGER}">Stan</a>, join @newschan.\n'
        "⚠️ Warning 2 of 5: at warning 5 you will be muted.\n"
        "You were removed from the group. You may come back after joining."
    )


async def test_the_gate_s_warnings_and_kicks_use_the_custom_text(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid off")
    await h.say(GROUP, ADMIN, "/settings text Psst {mention}, join {channels}.")
    await h.say(GROUP, ADMIN, "/settings action warn")
    await h.say(GROUP, ADMIN, "/settings warnings 3")
    await h.say(GROUP, ADMIN, "/settings escalation kick")
    await h.say(GROUP, STRANGER, "spam")
    warned = prompt_of(h, STRANGER)
    assert warned["text"].startswith(
        f'Psst <a href="tg://user?id={STRANGER}">Stan</a>, join @newschan.\n'
        "⚠️ Warning 1 of 3: at warning 3 you will be removed from the group."
    )
    assert buttons(warned)[-1]["callback_data"] == f"{CALLBACK_PREFIX}:{STRANGER}"
    await h.say(GROUP, ADMIN, "/settings action kick")
    await h.say(GROUP, NASTY, "spam")
    assert h.world.status(GROUP, NASTY) == "left"
    kicked = prompt_of(h, NASTY)
    assert kicked["text"] == (
        f'Psst <a href="tg://user?id={NASTY}">&lt;b&gt;&amp;</a>, join @newschan.\n'
        "You were removed from the group. You may come back after joining."
    )
    assert [b.get("callback_data") for b in buttons(kicked)] == [None]  # Join only


async def test_a_template_on_the_lines_after_the_key_keeps_its_line_breaks(
    protected: Harness,
) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings text\nHello {mention}!\n\n<b>Join</b> {channels}")
    assert (await settings(h)).prompt_text == "Hello {mention}!\n\n<b>Join</b> {channels}"
    await h.say(GROUP, ADMIN, "/settings button\nDone")
    assert (await settings(h)).joined_label == "Done"
    await h.say(GROUP, STRANGER, "spam")
    assert prompt_of(h, STRANGER)["text"] == (
        f'Hello <a href="tg://user?id={STRANGER}">Stan</a>!\n\n<b>Join</b> @newschan'
    )


async def test_the_raid_notice_uses_the_group_s_labels(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings raid on")
    await h.say(GROUP, ADMIN, "/settings button Done <3")
    await h.say(GROUP, ADMIN, "/settings joinbutton Follow {channel}")
    await h.say(GROUP, STRANGER, "spam")
    [notice] = [m for m in h.bot_messages(GROUP) if m["text"].startswith("🛡 Many new messages")]
    assert "then press “Done &lt;3”." in notice["text"]
    assert buttons(notice) == [
        {"text": "Follow @newschan", "url": "https://t.me/newschan"},
        {"text": "Done <3", "callback_data": f"{CALLBACK_PREFIX}:0"},
    ]


async def test_the_preview_is_deleted_after_the_prompt_s_lifetime(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings prompt 30s")
    await h.say(GROUP, ADMIN, "/settings preview")
    preview = prompt_of(h, ADMIN)
    janitor = await resolve(h.runtime.container.services.janitor)
    await janitor.sweep()
    assert h.present(preview)
    h.clock.advance(31)
    assert await janitor.sweep() == 1
    assert not h.present(preview)
