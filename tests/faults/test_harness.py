"""The suite's own judgement, on made-up call logs: what counts as the same piece of work,
and which calls a process that no longer owned the work made. No services needed; the
mark keeps them with the suite they belong to."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot_api_emulator import RequestRecord
from tests.faults.checks import calls_after_takeover, stale_owner_calls, work_items
from tests.faults.proxy import Call, decode_body

pytestmark = pytest.mark.faults

GROUP = -1001


def call(
    via: str,
    pid: int,
    method: str,
    at: float,
    *,
    ok: bool = True,
    took: float = 0.01,
    **params: Any,
) -> Call:
    record = RequestRecord(
        0, 0, method, {"chat_id": GROUP, **params}, 200 if ok else 400, {"ok": ok}, via, at
    )
    return Call(record, at + took, pid)


def mute(user: int) -> dict[str, Any]:
    return {"user_id": user, "permissions": {"can_send_messages": False}}


def test_work_items_name_each_deleted_message_and_the_kind_of_restriction() -> None:
    batch = call("a", 1, "deleteMessages", 0, message_ids=[5, 6])
    assert work_items(batch.record) == [("delete", GROUP, 5), ("delete", GROUP, 6)]
    muting = call("a", 1, "restrictChatMember", 0, **mute(7))
    lifting = call(
        "a", 1, "restrictChatMember", 0, user_id=7, permissions={"can_send_messages": True}
    )
    assert work_items(muting.record) == [("mute", GROUP, 7)]
    assert work_items(lifting.record) == [("unmute", GROUP, 7)]


def test_a_call_on_work_another_process_had_done_is_stale() -> None:
    done = call("b", 2, "deleteMessages", 1.0, message_ids=[5])
    late = call("a", 1, "deleteMessages", 2.0, message_ids=[5, 9])
    found = stale_owner_calls([done, late])
    assert len(found) == 1
    assert "('delete', -1001, 5)" in found[0]
    assert found[0].startswith("a (pid 1)")


def test_a_repeat_telegram_refused_is_reported_not_failed() -> None:
    """The retry of a call whose answer was lost, refused as already done: nothing
    happened twice."""
    done = call("b", 2, "deleteMessages", 1.0, message_ids=[5])
    late = call("a", 1, "deleteMessages", 2.0, ok=False, message_ids=[5, 9])
    refused: list[str] = []
    assert stale_owner_calls([done, late], refused=refused) == []
    assert len(refused) == 1
    assert refused[0].startswith("a (pid 1)")


def test_overlapping_retries_and_the_same_process_are_not_stale() -> None:
    # b's retry began before a's call (which succeeded) was answered: a race the
    # exactly-once counts judge, not ownership. a calling again after b's success is stale.
    first = call("a", 1, "restrictChatMember", 1.0, took=2.0, **mute(7))
    retry = call("b", 2, "restrictChatMember", 2.0, **mute(7))
    again = call("a", 1, "restrictChatMember", 4.0, **mute(7))
    assert stale_owner_calls([first, retry]) == []
    found = stale_owner_calls([first, retry, again])
    assert len(found) == 1
    assert found[0].startswith("a (pid 1) called restrictChatMember")
    assert "at 4.000" in found[0]
    # One process repeating itself is not an ownership question; a restarted instance
    # (a new process) redoing what its predecessor did is.
    twice = [call("a", 1, "deleteMessages", t, message_ids=[5]) for t in (1.0, 2.0)]
    assert stale_owner_calls(twice) == []
    restarted = [
        call("a", 1, "deleteMessages", 1.0, message_ids=[5]),
        call("a", 3, "deleteMessages", 5.0, message_ids=[5]),
    ]
    assert len(stale_owner_calls(restarted)) == 1


def test_the_frozen_instance_may_not_touch_what_another_took_up_after_the_freeze() -> None:
    before = call("a", 1, "deleteMessages", 0.5, message_ids=[5])  # its own, before
    taken = call("b", 2, "deleteMessages", 4.0, ok=False, message_ids=[6])
    resumed = call("a", 1, "deleteMessages", 8.0, message_ids=[6])
    own = call("a", 1, "deleteMessages", 8.1, message_ids=[7])  # nobody else touched it
    found = calls_after_takeover("a", [before, taken, resumed, own], stopped_at=1.0)
    assert len(found) == 1
    assert "('delete', -1001, 6)" in found[0]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"chat_id=-1001&message_ids=%5B5%2C6%5D"),
        ("application/json", json.dumps({"chat_id": -1001, "message_ids": [5, 6]}).encode()),
        (
            "multipart/form-data; boundary=xx",
            b'--xx\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n-1001\r\n'
            b'--xx\r\nContent-Disposition: form-data; name="message_ids"\r\n\r\n[5, 6]\r\n--xx--',
        ),
    ],
)
def test_bodies_decode_to_the_same_parameters(content_type: str, body: bytes) -> None:
    assert decode_body(body, content_type) == {"chat_id": -1001, "message_ids": [5, 6]}
