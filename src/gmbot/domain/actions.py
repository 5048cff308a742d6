"""What the gate decides to do, recorded before the webhook acknowledges the update.

The webhook only decides; the actions it decides are written to a fleet-wide outbox
and carried out by workers on every instance, within Telegram's limits. Each action
carries an idempotency key: recording the same key twice records it once, and an
action whose key is already carried out is not carried out again.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum


class Priority(IntEnum):
    """Who gets Telegram's budget first when there is not enough for everyone."""

    DELETE = 0  # a raid message on screen is the harm: remove it first
    MUTE = 1  # then stop its sender posting more
    CHECK = 2  # membership look-ups that decide the above
    PROMPT = 3  # prompts and notices
    LOG = 4  # reports to admins


class ActionKind(StrEnum):
    DELETE = "delete"  # remove a member's message (batched per chat: deleteMessages)
    MUTE = "mute"  # restrict the sender until verified
    UNMUTE = "unmute"  # lift GMBot's mute: Telegram confirmed the membership
    CHECK = "check"  # membership unknown: look it up, then decide like the gate
    PROMPT = "prompt"  # the per-member prompt (or, in a raid, the shared notice)
    NOTICE = "notice"  # refresh or remove a group's shared raid notice
    REPORT = "report"  # tell the group's admins something, once
    KICK = "kick"  # remove the sender from the group (ban + unban): they may rejoin
    BAN = "ban"  # remove the sender from the group for good
    WARN = "warn"  # count the offence; prompt "warning k of N", or escalate at N
    DRY_RUN = "dry_run"  # audit what the gate would have done; do nothing
    EXPEL = "expel"  # not verified in time: remove the member (kick), after re-checking


PRIORITY: Mapping[ActionKind, Priority] = {
    ActionKind.DELETE: Priority.DELETE,
    ActionKind.MUTE: Priority.MUTE,
    ActionKind.UNMUTE: Priority.MUTE,
    ActionKind.CHECK: Priority.CHECK,
    ActionKind.PROMPT: Priority.PROMPT,
    ActionKind.NOTICE: Priority.PROMPT,
    ActionKind.REPORT: Priority.LOG,
    ActionKind.KICK: Priority.MUTE,
    ActionKind.BAN: Priority.MUTE,
    ActionKind.WARN: Priority.MUTE,
    ActionKind.DRY_RUN: Priority.LOG,
    ActionKind.EXPEL: Priority.MUTE,
}


@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    chat_id: int
    key: str  # idempotency key: the same key is recorded and carried out once
    # Kind-specific details, as flat strings (they are stored as stream fields).
    fields: Mapping[str, str] = field(default_factory=dict)
    # Seconds after recording before the action is handed out (a verification timeout);
    # its key is remembered that much longer. Not stored: a taken action is due.
    delay: float = 0.0

    @property
    def priority(self) -> Priority:
        return PRIORITY[self.kind]

    def int_field(self, name: str) -> int | None:
        value = self.fields.get(name)
        return int(value) if value not in (None, "") else None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """An action handed to one consumer; settle it once carried out (or refused)."""

    entry_id: str  # the outbox's own id of the entry
    action: Action
    deliveries: int = 1  # how many times it was handed out (>1: taken over or retried)
    # The fence: who took it and the outbox's delivery count then. Settling, postponing
    # or extending is refused once another consumer (or a later take) has it.
    consumer: str = ""
    claim: int = 1


# Whose turn it is at Telegram's limits: set by whoever carries an action out, read by
# the gateway when it asks the rate limiter (calls made outside any action are prompts).
CURRENT_PRIORITY: ContextVar[Priority] = ContextVar("gmbot_priority", default=Priority.PROMPT)


@contextmanager
def acting_as(priority: Priority) -> Iterator[None]:
    """Bot API calls made inside the block wait their turn with this priority."""
    token = CURRENT_PRIORITY.set(priority)
    try:
        yield
    finally:
        CURRENT_PRIORITY.reset(token)
