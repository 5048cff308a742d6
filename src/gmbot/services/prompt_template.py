"""The prompt as a group's admins made it: their template and button labels.

`/settings text <template>` sets the prompt's text (Telegram HTML) with placeholders:

  {mention}   the member's name, linked to them (tg://user)
  {name}      the member's name
  {channels}  the channels they still have to join
  {group}     the group's title
  {timeout}   how long they have to verify ("10 min"; "no time limit" when none is set)

`{{` and `}}` stand for literal braces. Placeholders are filled with HTML-escaped
values, so a member named “<b>&” cannot change the markup.

Whatever the template says, the lines telling the member what happened follow it
(a warning k of N, a removal, a removed message, the verification deadline unless the
template shows {timeout} itself): an admin's text cannot hide them.

Length: a template is refused when, rendered with the longest plausible values (names
of 129 characters, a group title of 128, five channels of 128 characters each, every
fact line), Telegram would refuse it (4096 characters once parsed). A prompt that is
over the limit anyway (more or longer channels than that) is sent with the default
text instead: a text is never cut, since a cut could split a tag or an entity.

Button labels are plain text (Telegram shows them as typed, so tags are refused), one
line, 1 to 64 characters as typed (a Join label's {channel} may make it longer; the
label is then cut at 64 characters).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from html import escape

import structlog

from gmbot.domain.models import GateAction, LinkedChannel, ProtectedGroup
from gmbot.domain.telegram import Keyboard
from gmbot.domain.telegram_html import html_problem
from gmbot.services import texts
from gmbot.services.group_settings import SettingsError

log = structlog.get_logger(__name__)

PLACEHOLDERS = ("mention", "name", "channels", "group", "timeout")
LABEL_MAX = texts.BUTTON_TEXT_MAX
MESSAGE_MAX = 4096  # Telegram: a message's text once entities are parsed
NO_TIMEOUT = "no time limit"

# The longest plausible values a template is checked with.
LONGEST_NAME = "W" * 129  # first name (64) + space + last name (64)
LONGEST_TITLE = "W" * 128
PLAUSIBLE_CHANNELS = 5
LONGEST_RIGHTS = ("can_delete_messages", "can_restrict_members", "can_invite_users")

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _tokens(template: str, allowed: tuple[str, ...]) -> list[tuple[str, str]]:
    """The template as ("text", literal) and ("field", name) parts; raises
    SettingsError on an unknown placeholder or a stray brace."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos : m.start()]))
        pos = m.end()
        token = m.group(0)
        if token in ("{{", "}}"):
            parts.append(("text", token[0]))
        elif m.group(1) is not None:
            name = m.group(1).strip()
            if name.lower() not in allowed:
                raise SettingsError(
                    f"unknown placeholder {{{m.group(1)}}}: " + _placeholders_hint(allowed)
                )
            parts.append(("field", name.lower()))
        else:
            raise SettingsError(
                f"a stray “{token}” at character {m.start() + 1}: placeholders are written "
                f"in braces ({_placeholders_hint(allowed, short=True)}); write “{token}{token}” "
                f"for a literal “{token}”."
            )
    if pos < len(template):
        parts.append(("text", template[pos:]))
    return parts


def _placeholders_hint(allowed: tuple[str, ...], *, short: bool = False) -> str:
    names = ", ".join(f"{{{p}}}" for p in allowed)
    if not allowed:
        return "this text takes no placeholders." if not short else "none here"
    return names if short else f"the placeholders are {names}."


def _fill(parts: list[tuple[str, str]], values: dict[str, str]) -> str:
    return "".join(values[v] if kind == "field" else v for kind, v in parts)


def _values(
    group: ProtectedGroup, user_id: int, name: str, missing: list[LinkedChannel]
) -> dict[str, str]:
    timeout = group.settings.verify_timeout
    return {
        "mention": texts.mention(user_id, name),
        "name": escape(name or "member"),
        "channels": texts.channel_list(missing),
        "group": escape(group.title),
        "timeout": texts.human_duration(timeout) if timeout else NO_TIMEOUT,
    }


def _custom(
    template: str,
    group: ProtectedGroup,
    user_id: int,
    name: str,
    missing: list[LinkedChannel],
    context: texts.PromptContext,
) -> str:
    parts = _tokens(template, PLACEHOLDERS)
    body = _fill(parts, _values(group, user_id, name, missing))
    uses_timeout = any(kind == "field" and v == "timeout" for kind, v in parts)
    facts = texts.prompt_facts(group, context, body_has_timeout=uses_timeout)
    return "\n".join([body, *facts])


def _with_rights(group: ProtectedGroup, text: str) -> str:
    if group.missing_rights:
        text += "\n\n" + texts.rights_warning(group.missing_rights)
    return text


def render_prompt(
    group: ProtectedGroup,
    user_id: int,
    name: str,
    missing: list[LinkedChannel],
    context: texts.PromptContext,
) -> str:
    """The prompt's text (HTML): the group's template, or the default text."""
    default = _with_rights(
        group,
        texts.prompt(group, user_id, name, missing, context, joined_label=joined_label(group)),
    )
    template = group.settings.prompt_text
    if not template:
        return default
    try:
        text = _with_rights(group, _custom(template, group, user_id, name, missing, context))
    except SettingsError as err:  # saved before a check existed, or edited by hand
        log.warning("prompt_template_invalid", chat_id=group.chat_id, error=str(err))
        return default
    problem = html_problem(text, max_length=MESSAGE_MAX)
    if problem is not None:
        log.warning("prompt_template_refused", chat_id=group.chat_id, problem=problem)
        return default
    return text


def _label(label: str, values: dict[str, str]) -> str:
    """A saved label with its placeholders filled (plain text: nothing escaped)."""
    try:
        return _fill(_tokens(label, tuple(values)), values)[:LABEL_MAX]
    except SettingsError:  # saved before a check existed: shown as typed
        return label[:LABEL_MAX]


def joined_label(group: ProtectedGroup) -> str:
    label = group.settings.joined_label
    return _label(label, {}) if label else texts.JOINED_BUTTON


def join_label(group: ProtectedGroup) -> Callable[[LinkedChannel], str]:
    label = group.settings.join_label
    if not label:
        return texts.join_button_label
    return lambda channel: _label(label, {"channel": channel.display})


def render_keyboard(
    group: ProtectedGroup,
    user_id: int,
    missing: list[LinkedChannel],
    context: texts.PromptContext,
    *,
    preview: bool = False,
) -> Keyboard:
    """The prompt's buttons with the group's labels. A removed member has no "I've
    joined" button (they are no longer in the group to press it); a preview's button
    has its own callback prefix and verifies nobody."""
    return texts.prompt_keyboard(
        user_id,
        missing,
        joined_label=joined_label(group),
        join_label=join_label(group),
        prefix=texts.PREVIEW_PREFIX if preview else texts.CALLBACK_PREFIX,
        joined_button=not context.removed,
    )


def raid_notice(group: ProtectedGroup, gated: int) -> str:
    return texts.raid_notice(gated, list(group.channels), joined_label(group))


def raid_keyboard(group: ProtectedGroup) -> Keyboard:
    return texts.raid_keyboard(
        list(group.channels), joined_label=joined_label(group), join_label=join_label(group)
    )


PREVIEW_NOTE = "\n\n<i>A preview for the admins: its “{label}” button verifies nobody.</i>"


def preview_context(group: ProtectedGroup) -> texts.PromptContext:
    """What a member gated by the group's action is told (not a removal: the preview
    keeps the "I've joined" button)."""
    s = group.settings
    if s.action is GateAction.WARN:
        return texts.PromptContext(muted=False, warning=(1, s.warn_limit))
    return texts.PromptContext(muted=s.action is GateAction.MUTE)


def preview(group: ProtectedGroup, user_id: int, name: str) -> tuple[str, Keyboard]:
    """/settings preview: the prompt as `user_id` (the admin) would get it, all the
    group's channels missing, with the same buttons; the "I've joined" one carries
    texts.PREVIEW_PREFIX. A line says it is a preview (left off if it would not fit)."""
    missing = list(group.channels)
    context = preview_context(group)
    text = render_prompt(group, user_id, name, missing, context)
    noted = text + PREVIEW_NOTE.format(label=escape(joined_label(group), quote=False))
    if html_problem(noted, max_length=MESSAGE_MAX) is None:
        text = noted
    return text, render_keyboard(group, user_id, missing, context, preview=True)


# --- checks, before anything is saved -------------------------------------------------


def _worst_group() -> ProtectedGroup:
    channels = tuple(
        LinkedChannel(channel_id=-100 - i, title=LONGEST_TITLE) for i in range(PLAUSIBLE_CHANNELS)
    )
    return ProtectedGroup(
        chat_id=-1,
        title=LONGEST_TITLE,
        protected_by=None,
        protected_at=datetime(2000, 1, 1, tzinfo=UTC),
        channels=channels,
        missing_rights=LONGEST_RIGHTS,
    )


def check_template(template: str) -> str:
    """The template as it will be saved; raises SettingsError naming the first problem
    (an unknown placeholder, a stray brace, markup Telegram refuses, too long)."""
    text = template.strip()
    if not text:
        raise SettingsError("the prompt text is empty: give a text, or “reset” for the default.")
    parts = _tokens(text, PLACEHOLDERS)
    # With short values first: the problems of the admin's own markup.
    short = replace(_worst_group(), title="Group", channels=(LinkedChannel(-100, "Channel"),))
    plain = _fill(parts, _values(short, 1, "Member", list(short.channels)))
    problem = html_problem(plain, max_length=MESSAGE_MAX)
    if problem is not None:
        raise SettingsError(f"Telegram would refuse this prompt text: {problem}.")
    worst = _worst_group()
    group = replace(
        worst,
        settings=replace(
            worst.settings,
            prompt_text=text,
            verify_timeout=999 * 86400 + 1,  # the longest duration text
            action=GateAction.WARN,
            escalation=GateAction.BAN,  # the longest escalation words
        ),
    )
    for context in (
        texts.PromptContext(muted=False, warning=(99, 100)),
        texts.PromptContext(muted=True, warning=(100, 100), removed=True),
    ):
        rendered = _with_rights(
            group, _custom(text, group, 2**52, LONGEST_NAME, list(group.channels), context)
        )
        problem = html_problem(rendered, max_length=MESSAGE_MAX)
        if problem is not None:
            raise SettingsError(
                "this prompt text is too long: with the longest names Telegram allows and "
                f"the lines the bot adds, Telegram would refuse it ({problem}). Shorten it, "
                "or use fewer placeholders."
            )
    return text


def check_label(label: str, placeholders: tuple[str, ...] = ()) -> str:
    """A button label as it will be saved: plain text, one line, 1 to 64 characters;
    `placeholders` are those it may use (the Join button: ("channel",))."""
    text = label.strip()
    if not text:
        raise SettingsError("the label is empty: give a text, or “reset” for the default.")
    if "\n" in text or "\r" in text:
        raise SettingsError("a button label is one line: remove the line breaks.")
    if len(text) > LABEL_MAX:
        raise SettingsError(
            f"the label is {len(text)} characters long, over the {LABEL_MAX} a button shows."
        )
    if re.search(r"</?[A-Za-z][^>]*>|&[#A-Za-z0-9]+;", text):
        raise SettingsError(
            "a button label is plain text: Telegram shows tags and entities as typed. "
            "Remove the HTML."
        )
    _tokens(text, placeholders)
    return text
