"""The gate's kick/ban/warn/dry-run actions: kinds, priorities, idempotency keys and the
prompt's warning/removed fields (what makes a redelivered update harmless)."""

from __future__ import annotations

from gmbot.domain.actions import ActionKind, Priority
from gmbot.domain.telegram import ChatType
from gmbot.services import gate_plan
from gmbot.services.events import IncomingMessage

CHAT, USER, CHANNEL = -1001, 42, -1002


def msg(message_id: int = 10, user_id: int = USER) -> IncomingMessage:
    return IncomingMessage(CHAT, ChatType.SUPERGROUP, message_id, user_id, "Ann")


def test_kick_is_once_per_offence_message() -> None:
    first, again, later = (
        gate_plan.kick(msg(10), [CHANNEL]),
        gate_plan.kick(msg(10), [CHANNEL]),
        gate_plan.kick(msg(11), [CHANNEL]),
    )
    assert first.kind is ActionKind.KICK
    assert first.priority is Priority.MUTE
    assert first.key == again.key == f"kick:{CHAT}:10"
    assert later.key != first.key  # they may rejoin and offend again
    assert gate_plan.channel_ids(first) == [CHANNEL]
    assert gate_plan.message_of(first) == msg(10)


def test_ban_is_once_per_member() -> None:
    first, other_message = gate_plan.ban(msg(10)), gate_plan.ban(msg(11))
    assert first.kind is ActionKind.BAN
    assert first.priority is Priority.MUTE
    assert first.key == other_message.key == f"ban:{CHAT}:{USER}"
    assert gate_plan.ban(msg(10, USER + 1)).key != first.key


def test_warn_is_once_per_offence_message() -> None:
    action = gate_plan.warn(msg(10), [CHANNEL])
    assert action.kind is ActionKind.WARN
    assert action.priority is Priority.MUTE
    assert action.key == f"warn:{CHAT}:10" != gate_plan.warn(msg(11), [CHANNEL]).key


def test_dry_run_records_what_it_would_do_once_per_message() -> None:
    action = gate_plan.dry_run(msg(10), "ban")
    assert action.kind is ActionKind.DRY_RUN
    assert action.priority is Priority.LOG
    assert action.key == f"dry:{CHAT}:10"
    assert action.fields["would"] == "ban"


def test_prompt_carries_warning_and_removed() -> None:
    plain = gate_plan.prompt(msg(), [CHANNEL], muted=True)
    assert gate_plan.warning_of(plain) is None
    assert not plain.fields["removed"]
    warned = gate_plan.prompt(msg(), [CHANNEL], muted=False, warning=(2, 3))
    assert gate_plan.warning_of(warned) == (2, 3)
    kicked = gate_plan.prompt(msg(), [CHANNEL], muted=False, removed=True)
    assert kicked.fields["removed"] == "1"
    assert plain.key == warned.key == kicked.key  # one prompt per message, whatever it says
