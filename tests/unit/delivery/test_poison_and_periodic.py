"""PoisonMessages (an update given up on still has its message decided) and Periodic."""

from __future__ import annotations

import asyncio
from typing import Any, cast

from aiogram.types import Update
from structlog.testing import capture_logs

from gmbot.delivery.periodic import Periodic
from gmbot.delivery.poison import PoisonMessages
from gmbot.domain.ports import CacheUnavailable
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import GateService
from tests.unit.delivery.fast_path_shapes import update


class DeferringGate:
    def __init__(self, *, fail: bool = False) -> None:
        self.deferred: list[IncomingMessage] = []
        self._fail = fail

    async def defer(self, msg: IncomingMessage) -> None:
        if self._fail:
            raise CacheUnavailable("down")
        self.deferred.append(msg)


def poison(gate: DeferringGate) -> PoisonMessages:
    return PoisonMessages(cast(GateService, gate))


def as_update(data: dict[str, Any]) -> Update:
    return Update.model_validate(data)


async def test_a_members_message_given_up_on_goes_to_the_workers() -> None:
    gate = DeferringGate()
    await poison(gate)(as_update(update(message_id=70)))
    await poison(gate)(as_update(update("edited_message", message_id=71, edit_date=2)))
    assert [(m.chat_id, m.message_id, m.user_id, m.edited) for m in gate.deferred] == [
        (-1001, 70, 42, False),
        (-1001, 71, 42, True),
    ]


async def test_private_chats_service_messages_and_other_updates_are_left_alone() -> None:
    gate = DeferringGate()
    handler = poison(gate)
    await handler(as_update(update(chat={"id": 42, "type": "private", "first_name": "Ann"})))
    await handler(as_update(update(text=None, new_chat_title="renamed")))
    await handler(
        as_update(
            {
                "update_id": 3,
                "callback_query": {
                    "id": "q",
                    "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
                    "chat_instance": "c",
                    "data": "x",
                },
            }
        )
    )
    assert gate.deferred == []


async def test_an_unreachable_outbox_is_logged_not_raised() -> None:
    with capture_logs() as logs:
        await poison(DeferringGate(fail=True))(as_update(update()))
    assert [e["event"] for e in logs] == ["poison_message_not_deferred"]


async def test_periodic_runs_again_after_a_failure_and_stops_promptly() -> None:
    runs: list[int] = []

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 2:
            raise RuntimeError("a hiccup")

    job = Periodic("test", work, interval=0.01)
    task = asyncio.create_task(job.run())
    with capture_logs() as logs:
        for _ in range(200):
            if len(runs) >= 4:
                break
            await asyncio.sleep(0.01)
    job.stop()
    await asyncio.wait_for(task, 1)
    assert len(runs) >= 4
    assert "periodic_job_failed" in [e["event"] for e in logs]
