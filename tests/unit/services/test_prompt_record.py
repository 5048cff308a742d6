"""A prompt sent is sent once, even when the store fails right after: its record (the
slot's message id, its deletion) waits for the store, and the outbox entry is not
retried, which would post a second prompt (the retry's claim takes again: the slot is
re-entrant for the same message, and a Redis restarted empty has lost it anyway)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gmbot.services import prompting
from tests.unit.services.support import CHAT, USER, Env, message


def prompts(env: Env) -> list[int]:
    return [m.message_id for m in env.telegram.sent(CHAT) if "please" in m.text]


def failing(
    write: Callable[..., Awaitable[Any]], times: int, *, then: Callable[[], None] | None = None
) -> Callable[..., Awaitable[Any]]:
    """`write`, raising as an unreachable Redis does for its first `times` calls;
    `then` runs at the first failure (the store losing its data meanwhile)."""
    calls = {"n": 0}

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= times:
            if calls["n"] == 1 and then is not None:
                then()
            raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        return await write(*args, **kwargs)

    return wrapper


async def test_a_store_failing_after_the_prompt_was_sent_does_not_send_it_again(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.protect()
    monkeypatch.setattr(env.prompts, "attach", failing(env.prompts.attach, 2))
    monkeypatch.setattr(env.prompts, "schedule_deletion", failing(env.prompts.schedule_deletion, 1))

    await env.gate_message(message(env))
    await env.retry_due()  # anything left unsettled would be carried out again here

    sent = prompts(env)
    assert len(sent) == 1
    assert await env.prompts.current(CHAT, USER) == sent[0]
    assert [d.message_id for d in await env.prompts.claim_due(env.clock() + 10**6)] == sent


async def test_a_slot_lost_while_the_prompt_was_on_its_way_is_recreated(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Redis restarted empty between the claim and the record: the record recreates the
    slot, so the member's next prompt is refused while this one is on screen."""
    await env.protect()
    wipe = env.prompts._slots.clear
    monkeypatch.setattr(env.prompts, "attach", failing(env.prompts.attach, 3, then=wipe))

    await env.gate_message(message(env))
    await env.retry_due()

    sent = prompts(env)
    assert len(sent) == 1
    assert await env.prompts.current(CHAT, USER) == sent[0]
    assert not await env.prompts.claim(CHAT, USER, 60, owner=999)


async def test_a_store_that_never_answers_is_let_go_without_a_second_prompt(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    await env.protect()
    monkeypatch.setattr(prompting, "RECORD_WAIT", 0.3)
    monkeypatch.setattr(env.prompts, "attach", failing(env.prompts.attach, 10**6))

    await env.gate_message(message(env))
    await env.retry_due()

    assert len(prompts(env)) == 1
