"""Plain group messages skip aiogram: the per-message hot path.

Most webhook traffic is members chatting in protected groups. For those the
router would only translate the message and call the gate, at several times the
cost of the gate itself, so the webhook handler sends them here instead: a
strict reading of the raw JSON (anything unexpected falls back to aiogram, which
validates fully), one Redis round trip that claims the update and looks up the
gate, and the gate service itself for anything that is not a plain pass.
Commands, service messages, posts sent as chats and every other update type
still go through aiogram's routers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import structlog
from redis.exceptions import RedisError

from gmbot.cache.gate_claims import RedisGateClaims
from gmbot.cache.update_claims import ClaimState
from gmbot.delivery.guard import Admission, Ticket, UpdateGuard
from gmbot.delivery.update_shapes import CHAT_FIELDS, MESSAGE_FIELDS, USER_FIELDS
from gmbot.domain.ports import CacheUnavailable, GateLookup
from gmbot.domain.telegram import USER_CONTENT_TYPES, ChatType
from gmbot.metrics import Metrics
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import GateService
from gmbot.services.gate_verdicts import SETTLED

log = structlog.get_logger(__name__)

# Keys whose presence makes a message media content (the text case is checked apart;
# "unknown" content is left to aiogram).
MEDIA_KEYS = USER_CONTENT_TYPES - {"text", "unknown"}
_GROUP_TYPES = {"group": ChatType.GROUP, "supergroup": ChatType.SUPERGROUP}


def plain_group_message(data: dict[str, Any]) -> tuple[int, str, IncomingMessage] | None:
    """(update_id, event kind, message) for a member's plain message in a group.

    None for anything else, or anything not shaped exactly as Telegram sends it.
    """
    if len(data) != 2:
        return None
    update_id = data.get("update_id")
    if type(update_id) is not int:
        return None
    kind = "message" if "message" in data else "edited_message" if "edited_message" in data else ""
    msg = data.get(kind)
    if type(msg) is not dict:
        return None
    chat, user = msg.get("chat"), msg.get("from")
    if type(chat) is not dict or type(user) is not dict or type(msg.get("date")) is not int:
        return None
    # Every field as Telegram sends it, read here or not: anything else is for aiogram's
    # full validation to judge (a 4xx when it is no valid update, never acted on here).
    if not (
        _shaped(msg, MESSAGE_FIELDS) and _shaped(chat, CHAT_FIELDS) and _shaped(user, USER_FIELDS)
    ):
        return None
    chat_type = _GROUP_TYPES.get(chat.get("type"))  # type: ignore[arg-type]
    if chat_type is None or "sender_chat" in msg or "migrate_to_chat_id" in msg:
        return None
    text = msg.get("text")
    if text is not None:
        if type(text) is not str or text.startswith("/"):
            return None  # a command: aiogram's routers handle it
    else:
        caption = msg.get("caption")
        if not MEDIA_KEYS.intersection(msg) or (type(caption) is str and caption.startswith("/")):
            return None
    chat_id, message_id, user_id = chat.get("id"), msg.get("message_id"), user.get("id")
    first, last = user.get("first_name"), user.get("last_name")
    is_bot = user.get("is_bot")
    if (
        type(chat_id) is not int
        or type(message_id) is not int
        or type(user_id) is not int
        or type(first) is not str
        or type(is_bot) is not bool
        or (last is not None and type(last) is not str)
    ):
        return None
    thread = msg.get("message_thread_id") if msg.get("is_topic_message") is True else None
    if thread is not None and type(thread) is not int:
        return None
    return (
        update_id,
        kind,
        IncomingMessage(
            chat_id=chat_id,
            chat_type=chat_type,
            message_id=message_id,
            user_id=user_id,
            user_name=f"{first} {last}" if last else first,
            user_is_bot=is_bot,
            thread_id=thread,
            edited=kind == "edited_message",
        ),
    )


def _shaped(obj: dict[str, Any], fields: Mapping[str, type]) -> bool:
    get = fields.get
    return all(get(key) is type(value) for key, value in obj.items())


class FastPathUnavailable(Exception):
    """Redis could not be asked: the caller takes the ordinary path instead."""


class FastPath:
    def __init__(
        self, claims: RedisGateClaims, gate: GateService, guard: UpdateGuard, metrics: Metrics
    ) -> None:
        self._claims = claims
        self._gate = gate
        self._guard = guard
        self._metrics = metrics
        self._dup = metrics.duplicates.labels(metrics.instance_id)

    async def handle(self, update_id: int, kind: str, msg: IncomingMessage) -> Admission:
        """Handle the message; the admission tells the webhook how to answer.

        Raises FastPathUnavailable, having done nothing and counted nothing, when
        Redis cannot be asked: the ordinary path then handles (and counts) it. As on
        the ordinary path, bot_updates_total counts the updates handled: duplicates
        and poison updates have counters of their own.
        """
        started = time.perf_counter()
        try:
            admission, outcome = await self._handle(update_id, msg)
        except FastPathUnavailable:
            raise
        except BaseException:
            self._metrics.observe_latency(kind, time.perf_counter() - started)
            self._metrics.count_update(kind, "error")
            raise
        if outcome is not None:
            self._metrics.observe_latency(kind, time.perf_counter() - started)
            self._metrics.count_update(kind, outcome)
        return admission

    async def _handle(self, update_id: int, msg: IncomingMessage) -> tuple[Admission, str | None]:
        """The admission, and the outcome when the update was handled."""
        assert msg.user_id is not None
        lookup: GateLookup | None = None
        # Up to the work itself, a Redis failure hands the update to the ordinary path,
        # which meets Redis down at its own claim and answers 503 (Telegram retries).
        try:
            if msg.user_is_bot:  # the gate passes bots: claim like any other update
                ticket = await self._guard.admit(update_id, msg.chat_id)
                if ticket.admission is not Admission.HANDLE:
                    return ticket.admission, None
            else:
                asked_at = time.monotonic()
                found = await self._claims.claim_lookup(update_id, msg.chat_id, msg.user_id)
                if found.claim is ClaimState.DONE:
                    self._dup.inc()
                    return Admission.DUPLICATE_DONE, None
                if found.claim is ClaimState.LEASED:
                    self._dup.inc()
                    return Admission.DUPLICATE_IN_FLIGHT, None
                lookup = found.lookup
                assert lookup is not None
                if found.attempt == 0:  # settled by the lookup, already marked done
                    return Admission.HANDLE, SETTLED[lookup.state]
                ticket = Ticket(update_id, Admission.HANDLE, found.token, found.attempt, asked_at)
                if await self._guard.too_many_attempts(ticket, msg.chat_id):
                    # Given up on as an update, not as a message: a worker still
                    # decides on it, so a gated message never stays for that.
                    try:
                        await self._gate.defer(msg)
                    except CacheUnavailable:
                        log.error("poison_message_not_deferred", update_id=update_id)
                    return Admission.POISON, None
        except (RedisError, OSError) as exc:
            raise FastPathUnavailable(str(exc)) from exc
        with structlog.contextvars.bound_contextvars(
            update_id=update_id, chat_id=msg.chat_id, user_id=msg.user_id
        ):
            verdict = await self._guard.run(
                ticket, lambda: self._gate.on_message(msg, looked_up=lookup)
            )
        return Admission.HANDLE, verdict
