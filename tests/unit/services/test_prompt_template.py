"""Prompt templates and button labels: checks before saving, and rendering."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from gmbot.domain.models import (
    ChannelMode,
    GateAction,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
)
from gmbot.domain.telegram import Button
from gmbot.domain.telegram_html import html_problem
from gmbot.services import prompt_template as pt
from gmbot.services import texts
from gmbot.services.group_settings import SettingsError, apply_setting

NEWS = LinkedChannel(-1002, "News", username="newschan")
EXTRA = LinkedChannel(-1003, "Extra & More", invite_link="https://t.me/+abc")
USER = 42
MUTED = texts.PromptContext(muted=True)


def group(**settings: object) -> ProtectedGroup:
    return ProtectedGroup(
        chat_id=-1001,
        title="Fans <3",
        protected_by=1,
        protected_at=datetime(2026, 1, 1, tzinfo=UTC),
        settings=replace(GroupSettings(), **settings),  # type: ignore[arg-type]
        channels=(NEWS, EXTRA),
    )


def refused(text: str) -> str:
    with pytest.raises(SettingsError) as err:
        pt.check_template(text)
    return str(err.value)


# --- checks ---------------------------------------------------------------------------


def test_a_good_template_is_kept_as_typed_without_surrounding_space() -> None:
    text = "Hi {mention}! Join {channels} to talk in <b>{group}</b> ({timeout})."
    assert pt.check_template(f"  {text}\n") == text


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("<div>{mention}</div>", "unsupported tag <div>"),
        ("<b>{mention}", "tag <b> is not closed"),
        ("<b><i>{mention}</b></i>", "</b> found where </i> was expected"),
        ("{mention} & you", "Telegram would refuse this prompt text"),
        ("Hello {user}", "unknown placeholder {user}"),
        ("Hello {mention", "a stray “{” at character 7"),
        ("Hello } {mention}", "a stray “}” at character 7"),
        ("", "the prompt text is empty"),
        ("x" * 4097, "over 4096"),
    ],
)
def test_bad_templates_are_refused_naming_the_problem(template: str, problem: str) -> None:
    assert problem in refused(template)


def test_unknown_placeholder_lists_the_known_ones() -> None:
    message = refused("{Mention} {foo}")
    assert "{foo}" in message
    for name in pt.PLACEHOLDERS:
        assert f"{{{name}}}" in message


def test_a_template_that_fits_only_with_short_names_is_refused_as_too_long() -> None:
    # 3530 characters fit with short values, but not with a 129-character name five
    # times over, five long channel titles and the lines the bot adds.
    template = "x" * 3500 + " {name}" * 5
    assert html_problem(template) is None
    message = refused(template)
    assert "too long" in message
    assert "over 4096" in message


def test_the_longest_accepted_template_fits_when_rendered_with_long_values() -> None:
    template = "y" * 2500 + " {mention} {channels} {group} {timeout}"
    pt.check_template(template)
    long_name = "N" * 129
    channels = tuple(LinkedChannel(-100 - i, "C" * 128) for i in range(pt.PLAUSIBLE_CHANNELS))
    g = replace(
        group(prompt_text=template, verify_timeout=3600, action=GateAction.WARN),
        title="T" * 128,
        channels=channels,
        missing_rights=("can_delete_messages", "can_restrict_members"),
    )
    context = texts.PromptContext(muted=False, warning=(2, 3))
    text = pt.render_prompt(g, USER, long_name, list(channels), context)
    assert text.startswith("y" * 2500)  # the template, not the default
    assert html_problem(text) is None


def test_doubled_braces_are_literal_braces() -> None:
    pt.check_template("{{not a placeholder}} {mention}")
    g = group(prompt_text="{{x}} {name}")
    assert pt.render_prompt(g, USER, "Bo", [NEWS], MUTED).startswith("{x} Bo")


def test_reset_and_text_go_through_the_settings_registry() -> None:
    s = apply_setting(GroupSettings(), "text", "Hi {mention}")
    assert s.prompt_text == "Hi {mention}"
    assert apply_setting(s, "text", "reset").prompt_text is None
    with pytest.raises(SettingsError, match="unsupported tag <div>"):
        apply_setting(s, "text", "<div>x</div>")
    s = apply_setting(GroupSettings(), "button", "Done ✔")
    assert s.joined_label == "Done ✔"
    assert apply_setting(s, "button", "RESET").joined_label is None
    s = apply_setting(GroupSettings(), "joinbutton", "➕ {channel}")
    assert s.join_label == "➕ {channel}"
    assert apply_setting(s, "joinbutton", "reset").join_label is None


@pytest.mark.parametrize(
    ("label", "placeholders", "problem"),
    [
        ("", (), "empty"),
        ("   ", (), "empty"),
        ("a" * 65, (), "65 characters long, over the 64"),
        ("<b>Done</b>", (), "plain text"),
        ("Fish &amp; chips", (), "plain text"),
        ("two\nlines", (), "one line"),
        ("Join {channel}", (), "this text takes no placeholders"),
        ("Join {chan}", ("channel",), "unknown placeholder {chan}"),
        ("Join {channel", ("channel",), "a stray “{”"),
    ],
)
def test_bad_labels_are_refused(label: str, placeholders: tuple[str, ...], problem: str) -> None:
    with pytest.raises(SettingsError) as err:
        pt.check_label(label, placeholders)
    assert problem in str(err.value)


def test_good_labels_are_kept() -> None:
    assert pt.check_label("a" * 64) == "a" * 64
    assert pt.check_label(" Fish & chips < 5 ") == "Fish & chips < 5"  # plain text, as typed
    assert pt.check_label("Join {channel} now", ("channel",)) == "Join {channel} now"


# --- rendering -----------------------------------------------------------------------


def test_default_text_is_today_s_text() -> None:
    g = group()
    text = pt.render_prompt(g, USER, "Bo", [NEWS], MUTED)
    assert text == (
        '<a href="tg://user?id=42">Bo</a>, to write in this group please join @newschan, '
        "then press “✅ I've joined”."
    )
    removed_msg = pt.render_prompt(g, USER, "Bo", [NEWS], texts.PromptContext(muted=False))
    assert removed_msg == text + "\nYour message was removed."
    assert pt.render_keyboard(g, USER, [NEWS, EXTRA], MUTED) == [
        [Button(text="Join @newschan", url="https://t.me/newschan")],
        [Button(text="Join Extra & More", url="https://t.me/+abc")],
        [Button(text=texts.JOINED_BUTTON, callback_data=f"gmv:{USER}")],
    ]


def test_placeholders_are_filled_with_escaped_values() -> None:
    g = group(prompt_text="<b>{name}</b> {mention} → {channels} in {group}, {timeout}")
    text = pt.render_prompt(g, USER, "<b>&", [NEWS, EXTRA], MUTED)
    assert text == (
        '<b>&lt;b&gt;&amp;</b> <a href="tg://user?id=42">&lt;b&gt;&amp;</a> → '
        "@newschan, Extra &amp; More in Fans &lt;3, no time limit"
    )
    assert html_problem(text) is None


def test_timeout_placeholder_and_sentence() -> None:
    g = group(prompt_text="Verify in {timeout}, {mention}", verify_timeout=600)
    text = pt.render_prompt(g, USER, "Bo", [NEWS], MUTED)
    # The template shows the deadline itself: the sentence is not added again.
    assert text == 'Verify in 10 min, <a href="tg://user?id=42">Bo</a>'
    g = group(prompt_text="Hello {mention}", verify_timeout=7200)
    assert pt.render_prompt(g, USER, "Bo", [NEWS], MUTED).endswith(
        "\nVerify within 2 h or you will be removed from the group."
    )
    default = pt.render_prompt(group(verify_timeout=600), USER, "Bo", [NEWS], MUTED)
    assert default.endswith("\nVerify within 10 min or you will be removed from the group.")


def test_any_mode_says_join_one_of() -> None:
    text = pt.render_prompt(group(mode=ChannelMode.ANY), USER, "Bo", [NEWS, EXTRA], MUTED)
    assert "please join one of @newschan, Extra &amp; More," in text
    text = pt.render_prompt(group(), USER, "Bo", [NEWS, EXTRA], MUTED)
    assert "please join each of @newschan, Extra &amp; More," in text
    text = pt.render_prompt(group(mode=ChannelMode.ANY), USER, "Bo", [NEWS], MUTED)
    assert "please join @newschan," in text


def test_warning_and_removal_lines_follow_default_and_custom_texts() -> None:
    warn = texts.PromptContext(muted=False, warning=(1, 3))
    for g in (group(escalation=GateAction.KICK), group(prompt_text="Hi {mention}")):
        text = pt.render_prompt(g, USER, "Bo", [NEWS], warn)
        verb = "removed from the group" if g.settings.prompt_text is None else "muted"
        assert f"⚠️ Warning 1 of 3: at warning 3 you will be {verb}." in text
    last = texts.PromptContext(muted=True, warning=(3, 3), removed=True)
    text = pt.render_prompt(group(escalation=GateAction.KICK), USER, "Bo", [NEWS], last)
    assert text.startswith(
        '<a href="tg://user?id=42">Bo</a>, you were removed from this group because you have '
        "not joined @newschan. You may come back after you join @newschan."
    )
    assert "⚠️ Warning 3 of 3: this was your last warning." in text
    custom = pt.render_prompt(group(prompt_text="Hi {mention}"), USER, "Bo", [NEWS], last)
    assert "You were removed from the group. You may come back after joining." in custom
    # A removed member gets no "I've joined" button: they are not in the group.
    assert pt.render_keyboard(group(), USER, [NEWS], last) == [
        [Button(text="Join @newschan", url="https://t.me/newschan")]
    ]


def test_custom_labels_in_prompt_keyboard_and_raid_notice() -> None:
    g = replace(group(joined_label="Done <3", join_label="➕ {channel} {{now}}"))
    assert pt.render_keyboard(g, USER, [NEWS], MUTED) == [
        [Button(text="➕ @newschan {now}", url="https://t.me/newschan")],
        [Button(text="Done <3", callback_data=f"gmv:{USER}")],
    ]
    # The default text names the button by its label, escaped.
    assert "then press “Done &lt;3”." in pt.render_prompt(g, USER, "Bo", [NEWS], MUTED)
    assert "then press “Done &lt;3”." in pt.raid_notice(g, 4)
    assert pt.raid_keyboard(g)[-1] == [Button(text="Done <3", callback_data="gmv:0")]


def test_a_join_label_longer_than_64_with_its_channel_is_cut() -> None:
    long = LinkedChannel(-1009, "L" * 128, username=None, invite_link="https://t.me/+x")
    g = replace(group(join_label="Join {channel}"), channels=(long,))
    [[button], _] = pt.render_keyboard(g, USER, [long], MUTED)
    assert button.text == ("Join " + "L" * 128)[:64]


def test_a_rendered_prompt_over_the_limit_falls_back_to_the_default_text() -> None:
    # Checked for five channels of 128 characters: twenty of them do not fit.
    many = tuple(LinkedChannel(-100 - i, "C" * 128) for i in range(20))
    template = "z" * 1500 + " {channels}"
    pt.check_template(template)
    g = replace(group(prompt_text=template), channels=many)
    text = pt.render_prompt(g, USER, "Bo", list(many), MUTED)
    assert not text.startswith("z")
    assert text.startswith('<a href="tg://user?id=42">Bo</a>, to write in this group')


def test_an_invalid_saved_template_falls_back_to_the_default_text() -> None:
    g = group(prompt_text="<div>{nope}")  # never accepted by the check: stored by hand
    text = pt.render_prompt(g, USER, "Bo", [NEWS], MUTED)
    assert text.startswith('<a href="tg://user?id=42">Bo</a>, to write in this group')


def test_preview_is_the_prompt_with_a_note_and_a_button_that_verifies_nobody() -> None:
    g = group(prompt_text="Hi {mention}", joined_label="Done")
    text, keyboard = pt.preview(g, 7, "Alice")
    assert text.startswith('Hi <a href="tg://user?id=7">Alice</a>')
    assert "verifies nobody" in text
    assert html_problem(text) is None
    assert keyboard == [
        [Button(text="Join @newschan", url="https://t.me/newschan")],
        [Button(text="Join Extra & More", url="https://t.me/+abc")],
        [Button(text="Done", callback_data="gmp:7")],
    ]
    text, _ = pt.preview(group(action=GateAction.WARN, warn_limit=5), 7, "Alice")
    assert "⚠️ Warning 1 of 5" in text
