"""The inline settings panel: one message whose keyboard shows every setting and
changes it in place. Built from the settings registry (group_settings.SETTINGS) and
applied through GroupAdminService.update_settings, so the panel accepts exactly what
`/settings <key> <value>` accepts.

Callback data (Telegram allows 64 bytes): "gms:<chat id>:<page>[:<i>[:<j>]]" where
page is m (main), p (setting i's page), s (choose setting i's choice j) or x (close).
Indexes, not values, so a long choice never pushes the data past the limit; a
registry change makes old data stale, which decodes as expired.

The private panel (services/private_panel.py) has pages of its own, decoded here too:
c (channels), ca (add one), cr:<channel id> (confirm removing it), cy:<channel id>
(remove it), e (exemptions), ea (add one), er:<user id> (remove it), t:<i> (type free-
text setting i) and n (stop waiting for what was asked). The longest, "cy" with a
-100 and 13 digits twice, is 42 bytes.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import structlog

from gmbot.domain.models import GroupSettings
from gmbot.domain.ports import UnitOfWorkFactory
from gmbot.domain.telegram import Button, Keyboard
from gmbot.domain.telegram_html import MAX_CALLBACK_DATA
from gmbot.services.admin_check import AdminCheck, Permission, Refusal
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.group_settings import SETTINGS, SettingsError, SettingSpec

log = structlog.get_logger(__name__)

PREFIX = "gms"
MAX_DATA = MAX_CALLBACK_DATA  # bytes
EXPIRED = "This panel has expired."
REFUSED = "Only the group's admins can change its settings."
PRIVATE_ONLY = "Open the panel in a private chat with me for this."
# The private panel's own pages (services/private_panel.py).
PRIVATE_PAGES = frozenset({"c", "ca", "cr", "cy", "e", "ea", "er", "t", "n"})
_PLAIN_PAGES = frozenset({"m", "x", "c", "ca", "e", "ea", "n"})  # no index
_ID_PAGES = frozenset({"cr", "cy", "er"})  # a channel's or a user's id


@dataclass(frozen=True, slots=True)
class Panel:
    text: str  # HTML
    keyboard: Keyboard


class Outcome(StrEnum):
    SHOWN = "shown"  # a page was shown (navigation)
    CHANGED = "changed"
    ASKED = "asked"  # the user is asked to send something in private
    CLOSED = "closed"  # the caller deletes the panel message
    EXPIRED = "expired"
    REFUSED = "refused"
    INVALID = "invalid"  # the registry refused the value


@dataclass(frozen=True, slots=True)
class Press:
    """What a button press did: the panel to show (None: leave it), and the
    callback answer."""

    outcome: Outcome
    panel: Panel | None = None
    notice: str | None = None  # plain text
    alert: bool = False
    refusal: Permission | None = None  # REFUSED: why (the caller words it)


@dataclass(frozen=True, slots=True)
class Decoded:
    chat_id: int
    page: str
    setting: int | None = None
    choice: int | None = None
    target: int | None = None  # the channel or user of cr, cy, er


def encode(chat_id: int, page: str, *indexes: int) -> str:
    data = ":".join([PREFIX, str(chat_id), page, *(str(i) for i in indexes)])
    if len(data.encode()) > MAX_DATA:  # cannot happen for Telegram's ids; never send it
        raise ValueError(f"callback data over {MAX_DATA} bytes: {data!r}")
    return data


def _index(text: str, bound: int) -> int | None:
    if not _digits(text) or len(text) > 3:
        return None
    value = int(text)
    return value if value < bound else None


def _id(text: str) -> int | None:
    """A chat or user id as str(int) writes it (Telegram's fit in 52 bits)."""
    digits = text[1:] if text.startswith("-") else text
    if not _digits(digits) or len(digits) > 16 or (digits != "0" and digits[0] == "0"):
        return None
    return int(text)


def decode(data: str | None) -> Decoded | None:
    """None for anything that is not data this module wrote for the current registry."""
    if not data or len(data.encode()) > MAX_DATA:
        return None
    parts = data.split(":")
    if len(parts) < 3 or parts[0] != PREFIX:
        return None
    chat_id, page, rest = _id(parts[1]), parts[2], parts[3:]
    if chat_id is None:
        return None
    if page in _PLAIN_PAGES and not rest:
        return Decoded(chat_id, page)
    if page in _ID_PAGES and len(rest) == 1:
        target = _id(rest[0])
        if target is None or (page == "er" and target <= 0):
            return None
        return Decoded(chat_id, page, target=target)
    if page in {"p", "s", "t"} and rest:
        setting = _index(rest[0], len(SETTINGS))
        if setting is None:
            return None
        if page == "p" and len(rest) == 1:
            return Decoded(chat_id, page, setting)
        if page == "t" and len(rest) == 1 and is_text_only(SETTINGS[setting]):
            return Decoded(chat_id, page, setting)
        if page == "s" and len(rest) == 2:
            choice = _index(rest[1], len(SETTINGS[setting].choices))
            if choice is not None:
                return Decoded(chat_id, page, setting, choice)
    return None


def deep_link(bot_username: str, chat_id: int) -> str:
    """The private chat with this group selected (/start payload: A-Za-z0-9_-)."""
    return f"https://t.me/{bot_username}?start=g{chat_id}"


def parse_start(payload: str | None) -> int | None:
    """The group id of a "g<chat id>" /start payload; None for anything else."""
    if not payload or not payload.startswith("g"):
        return None
    return _id(payload[1:])


def is_text_only(spec: SettingSpec) -> bool:
    """A setting whose value is free text (no choices to press): typed in private."""
    return not spec.choices


def _digits(text: str) -> bool:
    # str.isdigit also takes other scripts' digits (int() parses them too).
    return bool(text) and text.isascii() and text.isdigit()


def _e(text: str) -> str:
    return html.escape(text, quote=False)


class SettingsPanelService:
    def __init__(
        self,
        group_admin: GroupAdminService,
        admin_check: AdminCheck,
        uow: UnitOfWorkFactory,
        clock: Callable[[], datetime],
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._group_admin = group_admin
        self._admin_check = admin_check

    async def open(
        self, chat_id: int, *, private: bool = False, bot_username: str = ""
    ) -> Panel | None:
        """The main page; None when the group is not protected. The caller has
        checked the opener may configure (the command's own admin check)."""
        settings = await self._group_admin.settings_of(chat_id)
        if settings is None:
            return None
        return self.main_page(chat_id, settings, private=private, bot_username=bot_username)

    async def open_for(
        self, chat_id: int, user_id: int, *, private: bool
    ) -> Panel | Permission | str:
        """The panel for a user who has not passed a command's admin check (the
        private /start deep link): the panel, the refusal, or why not (HTML)."""
        permission = await self.permission(chat_id, user_id)
        if not permission.allowed:
            return permission
        await self._saw(chat_id, user_id)
        panel = await self.open(chat_id, private=private)
        return panel if panel is not None else "That group is not protected by GMBot."

    async def groups_of(self, user_id: int, limit: int = 20) -> Panel:
        """The private group list: candidates GMBot saw this user administer, each
        checked live; one who is no longer an admin there is forgotten."""
        async with self._uow() as uow:
            candidates = await uow.managers.groups_of(user_id, limit)
            groups = [await uow.groups.get(chat_id) for chat_id in candidates]
        rows: Keyboard = []
        for chat_id, group in zip(candidates, groups, strict=True):
            if group is None or not group.active:
                continue
            permission = await self.permission(chat_id, user_id)
            if permission.refusal is Refusal.NOT_ADMIN:
                async with self._uow() as uow:
                    await uow.managers.forget(chat_id, user_id)
                    await uow.commit()
                log.info("manager_forgotten", chat_id=chat_id, user_id=user_id)
                continue
            if not permission.allowed:
                # Still an admin there (a stricter "admins" setting, or Telegram did
                # not answer): not listed now, remembered for the next time.
                continue
            rows.append([Button(group.title[:60], callback_data=encode(chat_id, "m"))])
        if not rows:
            return Panel("You manage no group GMBot protects (that I know of).", [])
        return Panel("<b>Your groups</b>\nPick one to change its settings.", rows)

    async def press(
        self, data: str | None, user_id: int, *, private: bool = False, bot_username: str = ""
    ) -> Press:
        decoded = decode(data)
        if decoded is None:
            return Press(Outcome.EXPIRED, notice=EXPIRED)
        chat_id = decoded.chat_id
        refused = await self.refused(chat_id, user_id)
        if refused is not None:
            return refused
        if decoded.page == "x":
            return Press(Outcome.CLOSED)
        if decoded.page in PRIVATE_PAGES:  # only offered in private, never in a group
            return Press(Outcome.EXPIRED, notice=PRIVATE_ONLY)
        settings = await self._group_admin.settings_of(chat_id)
        if settings is None:
            return Press(Outcome.EXPIRED, notice="This group is no longer protected.")
        if decoded.page == "m":
            return Press(
                Outcome.SHOWN,
                self.main_page(chat_id, settings, private=private, bot_username=bot_username),
            )
        assert decoded.setting is not None
        spec = SETTINGS[decoded.setting]
        if decoded.page == "p":
            page = self.setting_page(chat_id, decoded.setting, settings, private=private)
            return Press(Outcome.SHOWN, page)
        assert decoded.choice is not None
        value = spec.choices[decoded.choice]
        try:
            new = await self._group_admin.update_settings(chat_id, spec.key, value)
        except SettingsError as err:
            return Press(Outcome.INVALID, notice=str(err)[:200], alert=True)
        log.info("panel_changed", chat_id=chat_id, user_id=user_id, key=spec.key, value=value)
        panel = self.main_page(chat_id, new, private=private, bot_username=bot_username)
        return Press(Outcome.CHANGED, panel, notice=f"{spec.key}: {spec.show(new)}")

    async def permission(self, chat_id: int, user_id: int) -> Permission:
        # The group's "admins" setting decides (any admin, those who may restrict, the
        # creator), asked of Telegram live.
        return await self._admin_check.may_configure_user(chat_id, user_id)

    async def refused(self, chat_id: int, user_id: int) -> Press | None:
        """The answer to a press by someone who may not configure the group (None:
        allowed, and recorded as one of its managers)."""
        permission = await self.permission(chat_id, user_id)
        if not permission.allowed:
            log.info("panel_refused", chat_id=chat_id, user_id=user_id, why=permission.refusal)
            return Press(Outcome.REFUSED, notice=REFUSED, alert=True, refusal=permission)
        await self._saw(chat_id, user_id)
        return None

    async def _saw(self, chat_id: int, user_id: int) -> None:
        """An admin using the panel: a candidate for their private group list."""
        async with self._uow() as uow:
            await uow.managers.saw(chat_id, [user_id], self._clock())
            await uow.commit()

    # ---- rendering

    def main_page(
        self, chat_id: int, settings: GroupSettings, *, private: bool, bot_username: str = ""
    ) -> Panel:
        """bot_username: for the "Manage in private" link (none without it)."""
        rows: Keyboard = []
        pair: list[Button] = []
        for i, spec in enumerate(SETTINGS):
            pair.append(Button(_label(spec, settings), callback_data=encode(chat_id, "p", i)))
            if len(pair) == 2:
                rows.append(pair)
                pair = []
        if pair:
            rows.append(pair)
        if private:
            rows.append(
                [
                    Button("Channels", callback_data=encode(chat_id, "c")),
                    Button("Exemptions", callback_data=encode(chat_id, "e")),
                ]
            )
        bottom = [Button("Close", callback_data=encode(chat_id, "x"))]
        if not private and bot_username:
            bottom.insert(0, Button("Manage in private", url=deep_link(bot_username, chat_id)))
        rows.append(bottom)
        text = "<b>Settings</b>\nPress a setting to change it."
        return Panel(text, rows)

    def setting_page(
        self, chat_id: int, index: int, settings: GroupSettings, *, private: bool
    ) -> Panel:
        spec = SETTINGS[index]
        current = spec.show(settings)
        text = f"<b>{_e(spec.key)}</b>: {_e(current)}"
        rows: Keyboard = []
        if is_text_only(spec) and private:
            rows.append([Button("Edit", callback_data=encode(chat_id, "t", index))])
        elif is_text_only(spec):
            text += f"\nTo change it: <code>/settings {_e(spec.key)} {_e(spec.usage)}</code>"
            text += " in the group, or open the panel in private."
        for j, choice in enumerate(spec.choices):
            label = choice
            if _is_current(spec, settings, choice):
                label = "✓ " + choice
            rows.append([Button(label, callback_data=encode(chat_id, "s", index, j))])
        rows.append([Button("« Back", callback_data=encode(chat_id, "m"))])
        return Panel(text, rows)


def _label(spec: SettingSpec, settings: GroupSettings) -> str:
    label = f"{spec.key.capitalize()}: {spec.show(settings)}"
    # Telegram shows a button's text as plain text; a custom label is cut short.
    return label if len(label) <= 40 else label[:39] + "…"


def _is_current(spec: SettingSpec, settings: GroupSettings, choice: str) -> bool:
    """Would choosing this change nothing? (The registry's own parse decides.)"""
    try:
        return spec.apply(settings, choice) == settings
    except SettingsError:
        return False
