"""The actions the gate records for one message, with their idempotency keys.

Keys are what make a redelivered update or a replayed decision harmless:
- a message is deleted once (`del:<chat>:<message>`);
- a member is muted once until GMBot lifts the mute (`mute:<chat>:<user>`, forgotten
  when the mute is lifted or refused, so a later offence mutes again; a timed mute's
  key lasts one mute period); the mute then records the member's prompt, which so
  knows whether the mute worked;
- a member is kicked once per offence message (`kick:<chat>:<message>`: they may come
  back and offend again) and banned once (`ban:<chat>:<user>`); an offence is warned
  for once (`warn:<chat>:<message>`, and the warning store counts it by message);
- a dry run records what it would have done once per message (`dry:<chat>:<message>`);
- each message is checked and prompted for at most once (`check:`/`prompt:` by
  message), and the prompt store keeps it to one live prompt per member;
- a member gated in a group with a verification timeout gets one removal timer per
  gated episode (`expel:<chat>:<user>`, recorded with the timeout as its delay, so
  later offences add none); the key is forgotten once the timer has fired, so an
  offence after it starts a new one (services/verify_timeout.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gmbot.domain.actions import Action, ActionKind
from gmbot.domain.telegram import ChatType
from gmbot.services.events import IncomingMessage


def delete_key(chat_id: int, message_id: int) -> str:
    return f"del:{chat_id}:{message_id}"


def mute_key(chat_id: int, user_id: int) -> str:
    return f"mute:{chat_id}:{user_id}"


def delete(chat_id: int, message_id: int) -> Action:
    return Action(
        ActionKind.DELETE,
        chat_id,
        delete_key(chat_id, message_id),
        {"message": str(message_id)},
    )


def mute(
    msg: IncomingMessage, missing: Iterable[int], *, now: float, period: int | None = None
) -> Action:
    """Mute the sender, then prompt them (the prompt can then say whether it worked).

    `period`: a timed mute's length. Telegram lifts such a mute by itself, so its key
    lasts one period (the member may offend again after it), not until GMBot lifts it.
    """
    assert msg.user_id is not None
    key = mute_key(msg.chat_id, msg.user_id)
    if period:
        key += f":{int(now // period)}"
    fields = dict(message_fields(msg))
    fields["missing"] = ",".join(str(c) for c in missing)
    return Action(ActionKind.MUTE, msg.chat_id, key, fields)


def unmute(chat_id: int, user_id: int, muted_at: float, reason: str) -> Action:
    """Lift the mute GMBot applied at `muted_at` (a later mute needs its own unmute)."""
    return Action(
        ActionKind.UNMUTE,
        chat_id,
        f"unmute:{chat_id}:{user_id}:{int(muted_at)}",
        {"user": str(user_id), "reason": reason},
    )


def kick(msg: IncomingMessage, missing: Iterable[int]) -> Action:
    """Remove the sender from the group (they may rejoin), then prompt them."""
    return _by_message(ActionKind.KICK, "kick", msg, missing)


def ban(msg: IncomingMessage) -> Action:
    """Remove the sender from the group for good: once per member, no prompt."""
    assert msg.user_id is not None
    return Action(
        ActionKind.BAN, msg.chat_id, f"ban:{msg.chat_id}:{msg.user_id}", message_fields(msg)
    )


def warn(msg: IncomingMessage, missing: Iterable[int]) -> Action:
    """Count the offence; the worker prompts "warning k of N" or escalates at N."""
    return _by_message(ActionKind.WARN, "warn", msg, missing)


def dry_run(msg: IncomingMessage, would: str) -> Action:
    """What the gate would have done (`would`: the action's name), to audit only."""
    fields = dict(message_fields(msg))
    fields["would"] = would
    return Action(ActionKind.DRY_RUN, msg.chat_id, f"dry:{msg.chat_id}:{msg.message_id}", fields)


def _by_message(
    kind: ActionKind, prefix: str, msg: IncomingMessage, missing: Iterable[int]
) -> Action:
    fields = dict(message_fields(msg))
    fields["missing"] = ",".join(str(c) for c in missing)
    return Action(kind, msg.chat_id, f"{prefix}:{msg.chat_id}:{msg.message_id}", fields)


def expel_key(chat_id: int, user_id: int) -> str:
    return f"expel:{chat_id}:{user_id}"


def expel(msg: IncomingMessage, timeout: int) -> Action:
    """Remove the sender `timeout` seconds from now unless they verified by then."""
    assert msg.user_id is not None
    fields = dict(message_fields(msg))
    fields["timeout"] = str(timeout)
    key = expel_key(msg.chat_id, msg.user_id)
    return Action(ActionKind.EXPEL, msg.chat_id, key, fields, delay=float(timeout))


def check(msg: IncomingMessage) -> Action:
    """The sender's membership (and, if the admin list is unknown, rank) to look up."""
    return Action(
        ActionKind.CHECK, msg.chat_id, f"check:{msg.chat_id}:{msg.message_id}", message_fields(msg)
    )


def prompt(
    msg: IncomingMessage,
    missing: Iterable[int],
    *,
    muted: bool,
    warning: tuple[int, int] | None = None,
    removed: bool = False,
) -> Action:
    """`warning`: (k, N) for "warning k of N"; `removed`: they were kicked."""
    fields = dict(message_fields(msg))
    fields["missing"] = ",".join(str(c) for c in missing)
    fields["muted"] = "1" if muted else ""
    fields["warning"] = f"{warning[0]}/{warning[1]}" if warning else ""
    fields["removed"] = "1" if removed else ""
    return Action(ActionKind.PROMPT, msg.chat_id, f"prompt:{msg.chat_id}:{msg.message_id}", fields)


def message_fields(msg: IncomingMessage) -> Mapping[str, str]:
    """What a worker needs to decide on the message later, as strings."""
    return {
        "message": str(msg.message_id),
        "user": str(msg.user_id) if msg.user_id is not None else "",
        "name": msg.user_name,
        "chat_type": msg.chat_type.value,
        "thread": str(msg.thread_id) if msg.thread_id is not None else "",
        "edited": "1" if msg.edited else "",
    }


def message_of(action: Action) -> IncomingMessage:
    f = action.fields
    return IncomingMessage(
        chat_id=action.chat_id,
        chat_type=ChatType(f.get("chat_type") or ChatType.SUPERGROUP.value),
        message_id=int(f["message"]),
        user_id=action.int_field("user"),
        user_name=f.get("name", ""),
        thread_id=action.int_field("thread"),
        edited=bool(f.get("edited")),
    )


def warning_of(action: Action) -> tuple[int, int] | None:
    """A PROMPT's (k, N) warning, if it carries one."""
    value = action.fields.get("warning", "")
    if not value:
        return None
    k, _, n = value.partition("/")
    return int(k), int(n)


def channel_ids(action: Action) -> list[int]:
    return [int(c) for c in action.fields.get("missing", "").split(",") if c]
