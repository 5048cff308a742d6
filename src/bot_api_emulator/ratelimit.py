"""Telegram's flood limits, answered with 429 "Too Many Requests: retry after N".

Telegram documents its limits in the bots FAQ ("My bot is hitting limits, how do I avoid
this?"): about 30 messages a second per bot for bulk messages and notifications, no more than
one message a second in a particular chat (short bursts tolerated), and no more than 20
messages a minute in a group. The emulator keeps separate buckets:

* writes, per bot (``rate_global_per_second``, 30/s): the calls that change what users see or
  what they may do - sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage,
  deleteMessages (one call, however many ids), restrictChatMember, banChatMember,
  unbanChatMember, banChatSenderChat, unbanChatSenderChat, approveChatJoinRequest,
  declineChatJoinRequest, setChatPermissions. answerCallbackQuery is not counted: it answers
  a user's own button press and is no bulk notification; nor are getUpdates, the webhook
  methods and the bot's own settings (setMyCommands and the like).
* reads, per bot (``rate_reads_per_second``): getChat, getChatMember, getChatAdministrators,
  getChatMemberCount. Telegram publishes no number for reads; the default (100/s) is an
  assumption, generous enough not to throttle a bot that checks members as they join, and a
  read never uses up the write budget (nor the reverse).
* messages per chat, for the messages the bot posts (sendMessage): in a private chat about one
  a second after a burst of ``rate_private_burst``; in a group, supergroup or channel 20 in
  any minute (``rate_group_per_minute``), which lets a short burst through. One chat's budget
  never blocks another chat.

A call over any of its limits fails with 429 and ``parameters.retry_after`` (whole seconds, the
time until every limit it needs has room again) and has no effect; a refused call is not
counted. A write or read is counted before the method runs, so a call Telegram refuses for
another reason (400, 403) still uses its request budget; a message uses its chat's budget only
when it is sent. Limits are off by default (``rate_limits``) and switched with PUT
``/_emulator/rate_limits``; switching resets every bucket.
"""

from __future__ import annotations

import math
import time
from collections import deque

from .errors import too_many_requests
from .settings import Settings

WRITE_METHODS = frozenset(
    name.lower()
    for name in (
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "deleteMessages",
        "restrictChatMember",
        "banChatMember",
        "unbanChatMember",
        "banChatSenderChat",
        "unbanChatSenderChat",
        "approveChatJoinRequest",
        "declineChatJoinRequest",
        "setChatPermissions",
    )
)
READ_METHODS = frozenset(
    name.lower()
    for name in ("getChat", "getChatMember", "getChatAdministrators", "getChatMemberCount")
)
# Messages check their chat's budget together with the write bucket (see check_send).
_SENDS = frozenset({"sendmessage"})

# Bucket keys: (bot_id, kind, chat_id); chat_id is 0 for the per-bot buckets.
_WRITES, _READS, _CHAT = "writes", "reads", "chat"


class _Window:
    """At most `limit` events in any `span` seconds."""

    __slots__ = ("events", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.events: deque[float] = deque()
        self.limit = limit
        self.span = span

    def wait_time(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.span:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[-self.limit] + self.span - now


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._windows: dict[tuple[int, str, int], _Window] = {}

    def reset(self) -> None:
        self._windows.clear()

    def _window(self, key: tuple[int, str, int], limit: int, span: float) -> _Window:
        window = self._windows.get(key)
        if window is None or window.limit != limit or window.span != span:
            window = _Window(limit, span)
            self._windows[key] = window
        return window

    def _take(self, windows: list[_Window]) -> None:
        """Count one event in every window, or raise 429 (counting nothing) if one is full."""
        now = time.monotonic()
        wait = max(w.wait_time(now) for w in windows)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for window in windows:
            window.events.append(now)

    def check_call(self, bot_id: int, method: str) -> None:
        """Count one request of a limited method (lower-case name), or raise 429."""
        if not self.settings.rate_limits or method in _SENDS:
            return
        s = self.settings
        if method in WRITE_METHODS:
            self._take([self._window((bot_id, _WRITES, 0), s.rate_global_per_second, 1.0)])
        elif method in READ_METHODS:
            self._take([self._window((bot_id, _READS, 0), s.rate_reads_per_second, 1.0)])

    def check_send(self, bot_id: int, chat_id: int, chat_type: str) -> None:
        """Count one outgoing message (a write and its chat's budget), or raise 429."""
        if not self.settings.rate_limits:
            return
        s = self.settings
        windows = [self._window((bot_id, _WRITES, 0), s.rate_global_per_second, 1.0)]
        if chat_type == "private":
            span = s.rate_private_burst / s.rate_private_per_second
            windows.append(self._window((bot_id, _CHAT, chat_id), s.rate_private_burst, span))
        else:
            windows.append(self._window((bot_id, _CHAT, chat_id), s.rate_group_per_minute, 60.0))
        self._take(windows)
