"""The settings panel in the bot's private chat: the group's settings pages
(SettingsPanelService) and, only here, its channels, its exemptions and the free-text
settings, which ask for something to be sent ("Send me the channel's @username").

What was asked is remembered per user in PendingInputs (shared by the fleet, any
instance may receive the answer) for PENDING_TTL; the next private message of that
user answers it. Every press and every answer asks Telegram again whether the user
may still configure the group.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import structlog

from gmbot.domain.models import ChannelMode, ProtectedGroup
from gmbot.domain.ports import InputKind, PendingInput, PendingInputs, UnitOfWorkFactory
from gmbot.domain.telegram import Button, Keyboard
from gmbot.services.admin_check import Permission
from gmbot.services.events import Actor
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.group_settings import BY_KEY, SETTINGS, SettingsError
from gmbot.services.protection import ProtectionService, ProtectResult
from gmbot.services.settings_panel import (
    EXPIRED,
    PRIVATE_PAGES,
    Decoded,
    Outcome,
    Panel,
    Press,
    SettingsPanelService,
    decode,
    encode,
    is_text_only,
)

log = structlog.get_logger(__name__)

PENDING_TTL = 600  # seconds an unanswered question is remembered
MAX_LISTED = 20  # exemptions with a remove button
MAX_USER_ID = 2**53  # Telegram's ids fit in 52 bits
MAX_REFS, MAX_REF = 10, 64  # channel references in one answer; characters in one
MAX_ERROR = 1000  # characters of a refusal quoting what was sent
NOT_PROTECTED = "That group is no longer protected by GMBot."
ASK_CHANNEL = (
    "Send me the channel's @username (or its t.me link, or its numeric id), or forward "
    "a post from it. I must be an admin of the channel. Send /cancel to stop."
)
ASK_EXEMPT = "Send me the user's numeric id, or forward a message they wrote. Send /cancel to stop."
ASK_SETTING = "Send me the new value (or /cancel)."
AGAIN = "Send another, or /cancel."


@dataclass(frozen=True, slots=True)
class Sent:
    """A private message, as an answer reads it."""

    text: str | None = None
    forwarded_channel: int | None = None  # a channel's post, forwarded
    forwarded_user: int | None = None  # a user's message, forwarded
    forwarded_hidden: bool = False  # from a user who hides their account in forwards
    forwarded_chat: bool = False  # posted on behalf of a group


@dataclass(frozen=True, slots=True)
class Reply:
    """What to send back to an answer: `text` (HTML, after the /protect reply of
    `protected` when there is one), then `panel`; or the refusal."""

    text: str = ""
    panel: Panel | None = None
    protected: ProtectResult | None = None
    refusal: Permission | None = None


def _e(text: str) -> str:
    return html.escape(text, quote=False)


class PrivatePanelService:
    def __init__(
        self,
        panel: SettingsPanelService,
        group_admin: GroupAdminService,
        protection: ProtectionService,
        inputs: PendingInputs,
        uow: UnitOfWorkFactory,
    ) -> None:
        self._panel = panel
        self._group_admin = group_admin
        self._protection = protection
        self._inputs = inputs
        self._uow = uow

    # ---- presses

    async def press(
        self, data: str | None, user_id: int, name: str = "", *, bot_username: str = ""
    ) -> Press:
        decoded = decode(data)
        if decoded is None or decoded.page not in PRIVATE_PAGES:
            return await self._panel.press(data, user_id, private=True, bot_username=bot_username)
        refused = await self._panel.refused(decoded.chat_id, user_id)
        if refused is not None:
            return refused
        group = await self._group(decoded.chat_id)
        if group is None:
            return Press(Outcome.EXPIRED, notice=NOT_PROTECTED)
        actor = Actor(user_id=user_id, name=name)
        return await self._private_page(decoded, group, actor)

    async def _private_page(self, decoded: Decoded, group: ProtectedGroup, actor: Actor) -> Press:
        assert actor.user_id is not None
        chat_id, page = group.chat_id, decoded.page
        if page == "c":
            return Press(Outcome.SHOWN, self.channels_page(group))
        if page == "e":
            return Press(Outcome.SHOWN, await self.exemptions_page(chat_id))
        if page == "n":
            dropped = await self._inputs.drop(actor.user_id)
            return Press(Outcome.SHOWN, await self._page_for(dropped, group), notice="Cancelled.")
        if page == "ca":
            await self._ask(actor.user_id, PendingInput(chat_id, InputKind.CHANNEL))
            return Press(Outcome.ASKED, self._asking(chat_id, ASK_CHANNEL))
        if page == "ea":
            await self._ask(actor.user_id, PendingInput(chat_id, InputKind.EXEMPT))
            return Press(Outcome.ASKED, self._asking(chat_id, ASK_EXEMPT))
        if page == "t":
            assert decoded.setting is not None
            spec = SETTINGS[decoded.setting]
            await self._ask(actor.user_id, PendingInput(chat_id, InputKind.SETTING, spec.key))
            text = (
                f"<b>{_e(spec.key)}</b>: {_e(spec.show(group.settings))}\n"
                f"Form: <code>{_e(spec.usage)}</code>\n\n{_e(ASK_SETTING)}"
            )
            return Press(Outcome.ASKED, Panel(text, self._cancel_row(chat_id)))
        assert decoded.target is not None
        if page == "er":
            changed = await self._group_admin.exempt(chat_id, actor, decoded.target, False)
            notice = "No longer exempt." if changed else "Was not exempt."
            outcome = Outcome.CHANGED if changed else Outcome.SHOWN
            return Press(outcome, await self.exemptions_page(chat_id), notice=notice)
        channel = group.channel(decoded.target)
        if channel is None:
            notice = "That channel is no longer linked."
            return Press(Outcome.SHOWN, self.channels_page(group), notice=notice)
        if page == "cr":
            return Press(Outcome.SHOWN, self.confirm_page(group, decoded.target))
        result = await self._protection.unprotect(chat_id, actor, [str(decoded.target)])
        log.info("panel_channel_removed", chat_id=chat_id, channel_id=decoded.target)
        after = await self._group(chat_id)
        head = f"Removed {_e(channel.display)}."
        if not result.still_linked:
            head += " No channel is left: protection is off"
            head += f" ({result.unmuted} mute(s) lifted)." if result.unmuted else "."
        page_panel = self.channels_page(after or group, head)
        return Press(Outcome.CHANGED, page_panel, notice=f"Removed {channel.display}.")

    async def _ask(self, user_id: int, pending: PendingInput) -> None:
        await self._inputs.expect(user_id, pending, PENDING_TTL)
        log.info("panel_asked", chat_id=pending.chat_id, user_id=user_id, kind=pending.kind)

    # ---- answers

    async def forget(self, user_id: int) -> None:
        """Whatever was asked is not awaited any more (the user started over)."""
        await self._inputs.drop(user_id)

    async def cancel(self, user_id: int) -> Reply:
        """/cancel in private."""
        pending = await self._inputs.drop(user_id)
        if pending is None:
            return Reply("Nothing to cancel.")
        permission = await self._panel.permission(pending.chat_id, user_id)
        group = await self._group(pending.chat_id) if permission.allowed else None
        if group is None:
            return Reply("Cancelled.")
        return Reply("Cancelled.", await self._page_for(pending, group))

    async def receive(self, user_id: int, name: str, sent: Sent) -> Reply | None:
        """A private message: the answer to what was asked; None when nothing was."""
        pending = await self._inputs.awaited(user_id)
        if pending is None:
            return None
        chat_id = pending.chat_id
        permission = await self._panel.permission(chat_id, user_id)
        if not permission.allowed:
            await self._inputs.drop(user_id)
            log.info("panel_answer_refused", chat_id=chat_id, user_id=user_id)
            return Reply(refusal=permission)
        group = await self._group(chat_id)
        if group is None:
            await self._inputs.drop(user_id)
            return Reply(_e(NOT_PROTECTED))
        actor = Actor(user_id=user_id, name=name)
        if pending.kind is InputKind.CHANNEL:
            return await self._channel_answer(group, actor, sent)
        if pending.kind is InputKind.EXEMPT:
            return await self._exempt_answer(group, actor, sent)
        return await self._setting_answer(group, actor, pending.key, sent)

    async def _channel_answer(self, group: ProtectedGroup, actor: Actor, sent: Sent) -> Reply:
        assert actor.user_id is not None
        if sent.forwarded_channel is not None:
            args = [str(sent.forwarded_channel)]
        elif sent.forwarded_user is not None or sent.forwarded_hidden or sent.forwarded_chat:
            return Reply(
                "That message was not forwarded from a channel: forward a post from the "
                "channel itself, or send its @username. " + _e(AGAIN)
            )
        elif sent.text and sent.text.strip():
            # The same references, checks and replies as /protect in the group.
            args = sent.text.replace(",", " ").split()
            if len(args) > MAX_REFS or any(len(arg) > MAX_REF for arg in args):
                # Quoted back whole, they would not fit in one message.
                return Reply(
                    f"Send at most {MAX_REFS} channels, each an @username, a t.me link or "
                    "an id. " + _e(AGAIN)
                )
        else:
            return Reply(_e("Send the channel's @username as text, or forward a post from it."))
        result = await self._protection.protect_chat(group.chat_id, actor, args)
        if not result.ok:
            return Reply(_e(AGAIN), protected=result)
        await self._inputs.drop(actor.user_id)
        log.info("panel_channel_added", chat_id=group.chat_id, user_id=actor.user_id)
        after = await self._group(group.chat_id)
        return Reply(panel=self.channels_page(after or group), protected=result)

    async def _exempt_answer(self, group: ProtectedGroup, actor: Actor, sent: Sent) -> Reply:
        assert actor.user_id is not None
        target = sent.forwarded_user
        if sent.forwarded_hidden:
            return Reply(
                "That user hides their account in forwarded messages, so Telegram does not "
                "tell me who they are: send their numeric id instead. " + _e(AGAIN)
            )
        if sent.forwarded_channel is not None or sent.forwarded_chat:
            return Reply(
                "That message was posted as a channel or a group, not by a user. " + _e(AGAIN)
            )
        if target is None:
            text = (sent.text or "").strip()
            if text.isascii() and text.isdigit() and 0 < int(text) < MAX_USER_ID:
                target = int(text)
            elif text.startswith("@") or "t.me/" in text:
                return Reply(
                    "Telegram does not let bots look a user up by @username: send their "
                    "numeric id, or forward a message they wrote. " + _e(AGAIN)
                )
            else:
                shown = f"“{_e(text[:64])}” is" if text else "That is"
                return Reply(f"{shown} not a user id (digits only). " + _e(AGAIN))
        changed = await self._group_admin.exempt(group.chat_id, actor, target, True)
        await self._inputs.drop(actor.user_id)
        done = "is now exempt from the channel check" if changed else "was already exempt"
        return Reply(
            f"User <code>{target}</code> {done}.", await self.exemptions_page(group.chat_id)
        )

    async def _setting_answer(
        self, group: ProtectedGroup, actor: Actor, key: str, sent: Sent
    ) -> Reply:
        assert actor.user_id is not None
        spec = BY_KEY.get(key)
        if spec is None or not is_text_only(spec):  # the registry changed meanwhile
            await self._inputs.drop(actor.user_id)
            return Reply(
                _e(EXPIRED), self._panel.main_page(group.chat_id, group.settings, private=True)
            )
        value = (sent.text or "").strip()
        if not value:
            return Reply(_e(f"Send the new {spec.key} as text. {AGAIN}"))
        try:
            new = await self._group_admin.update_settings(group.chat_id, spec.key, value)
        except SettingsError as err:
            # Nothing was saved; the question stays open.
            return Reply(f"{_e(str(err)[:MAX_ERROR])}\nNothing was saved. {_e(AGAIN)}")
        await self._inputs.drop(actor.user_id)
        log.info("panel_changed", chat_id=group.chat_id, user_id=actor.user_id, key=spec.key)
        saved = f"Saved. <b>{_e(spec.key)}</b>: {_e(spec.show(new))}"
        return Reply(saved, self._panel.main_page(group.chat_id, new, private=True))

    # ---- pages

    async def _group(self, chat_id: int) -> ProtectedGroup | None:
        async with self._uow() as uow:
            return await uow.groups.get(chat_id)

    async def _page_for(self, pending: PendingInput | None, group: ProtectedGroup) -> Panel:
        """The page a question was asked from."""
        if pending is not None and pending.kind is InputKind.CHANNEL:
            return self.channels_page(group)
        if pending is not None and pending.kind is InputKind.EXEMPT:
            return await self.exemptions_page(group.chat_id)
        if pending is not None and pending.key in BY_KEY:
            index = SETTINGS.index(BY_KEY[pending.key])
            return self._panel.setting_page(group.chat_id, index, group.settings, private=True)
        return self._panel.main_page(group.chat_id, group.settings, private=True)

    def _cancel_row(self, chat_id: int) -> Keyboard:
        return [[Button("Cancel", callback_data=encode(chat_id, "n"))]]

    def _asking(self, chat_id: int, question: str) -> Panel:
        return Panel(_e(question), self._cancel_row(chat_id))

    def channels_page(self, group: ProtectedGroup, head: str = "") -> Panel:
        """head: HTML shown above the page (what was just done)."""
        chat_id = group.chat_id
        lines = [head, ""] if head else []
        lines.append(f"<b>Channels</b> of {_e(group.title)}")
        if group.channels:
            every = "every one" if group.settings.mode is ChannelMode.ALL else "at least one"
            lines.append(f"Members must be subscribed to {every} of:")
            lines += [f"• {_e(c.display)}" for c in group.channels]
            lines.append("Press a channel to remove it.")
        else:
            lines.append("No channel is linked: nobody is checked until you add one.")
        rows: Keyboard = [
            [Button(_short("✖ " + c.display), callback_data=encode(chat_id, "cr", c.channel_id))]
            for c in group.channels
        ]
        rows.append([Button("➕ Add channel", callback_data=encode(chat_id, "ca"))])
        rows.append([Button("« Back", callback_data=encode(chat_id, "m"))])
        return Panel("\n".join(lines), rows)

    def confirm_page(self, group: ProtectedGroup, channel_id: int) -> Panel:
        channel = group.channel(channel_id)
        assert channel is not None
        text = (
            f"Remove <b>{_e(channel.display)}</b>? Members will no longer need to be "
            "subscribed to it."
        )
        if len(group.channels) == 1:
            text += (
                "\nIt is the only channel: protection turns off and the members GMBot "
                "muted are unmuted."
            )
        chat_id = group.chat_id
        rows: Keyboard = [
            [
                Button("Yes, remove", callback_data=encode(chat_id, "cy", channel_id)),
                Button("« No", callback_data=encode(chat_id, "c")),
            ]
        ]
        return Panel(text, rows)

    async def exemptions_page(self, chat_id: int) -> Panel:
        async with self._uow() as uow:
            exempt = await uow.exempt.list(chat_id)
        lines = ["<b>Exemptions</b>"]
        if exempt:
            lines.append("These users are never checked:")
            lines += [f"• <code>{user_id}</code>" for user_id in exempt[:MAX_LISTED]]
            if len(exempt) > MAX_LISTED:
                more = len(exempt) - MAX_LISTED
                lines.append(f"… and {more} more (<code>/unexempt &lt;id&gt;</code> in the group).")
            lines.append("Press one to remove it.")
        else:
            lines.append("Nobody is exempt: every member is checked.")
        rows: Keyboard = [
            [Button(f"✖ {user_id}", callback_data=encode(chat_id, "er", user_id))]
            for user_id in exempt[:MAX_LISTED]
        ]
        rows.append([Button("➕ Add exemption", callback_data=encode(chat_id, "ea"))])
        rows.append([Button("« Back", callback_data=encode(chat_id, "m"))])
        return Panel("\n".join(lines), rows)


def _short(label: str) -> str:
    return label if len(label) <= 40 else label[:39] + "…"
