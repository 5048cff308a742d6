"""Which of Telegram's flood limits each Bot API method uses, and waiting one's turn.

The classification is Telegram's (bots FAQ) as the Bot API emulator models it
(bot_api_emulator.ratelimit): calls that change what users see or may do spend the
bot's write budget, look-ups its read budget, and a message also its chat's budget.
answerCallbackQuery answers a user's own button press, and the webhook methods, getMe,
setMyCommands and createChatInviteLink are no bulk traffic: none of them waits.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from gmbot.domain.actions import Priority
from gmbot.domain.ports import RateLimiter
from gmbot.domain.telegram import RetryLater

WRITES = "writes"
READS = "reads"

WRITE_METHODS = frozenset(
    {
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
    }
)
READ_METHODS = frozenset(
    {"getChat", "getChatMember", "getChatAdministrators", "getChatMemberCount"}
)
# Methods that also spend the budget of the chat they post in.
MESSAGE_METHODS = frozenset({"sendMessage"})

# Waiters sleep up to this share of their wait longer (plus a few ms), so those who were
# told the same wait do not all ask again at the same instant.
JITTER = 0.3
JITTER_FLOOR = 0.005


@dataclass(frozen=True, slots=True)
class CallLimits:
    limits: tuple[str, ...]  # every limit the call takes a token from
    hold: str | None  # the one a 429 for this call holds back (the most specific)


NO_LIMITS = CallLimits((), None)


def limits_for(method: str, chat_id: int | str | None) -> CallLimits:
    if method in MESSAGE_METHODS and chat_id is not None:
        chat = f"chat:{chat_id}"
        return CallLimits((WRITES, chat), chat)
    if method in WRITE_METHODS:
        return CallLimits((WRITES,), WRITES)
    if method in READ_METHODS:
        return CallLimits((READS,), READS)
    return NO_LIMITS


def spread(wait: float) -> float:
    """The wait plus a random share of it."""
    return wait + random.uniform(0, wait * JITTER + JITTER_FLOOR)


async def wait_turn(
    limiter: RateLimiter,
    limits: Sequence[str],
    priority: Priority,
    *,
    deadline: float | None = None,
) -> None:
    """Wait until the limiter grants one token of every limit.

    `deadline` (time.monotonic()): raise RetryLater instead of waiting past it.
    """
    while True:
        wait = await limiter.acquire(limits, priority)
        if wait <= 0:
            return
        pause = spread(wait)
        if deadline is not None:
            left = deadline - time.monotonic()
            if wait >= left:
                raise RetryLater(wait)
            pause = min(pause, left)
        await asyncio.sleep(pause)
