"""A mute's record comes first: the intent is committed before restrictChatMember, then
made active; a mute GMBot applied is never without a record saying it is its own."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from gmbot.domain.models import AuditKind, GroupSettings, MuteState, Restriction
from gmbot.domain.telegram import (
    MUTED,
    BadRequest,
    MemberStatus,
    NotEnoughRights,
    Permissions,
    RetryLater,
    TelegramUnavailable,
)
from gmbot.services import gate_plan as plan
from gmbot.services.muting import MuteOutcome
from tests.unit.services.support import CH_A, CHAT, USER, Env, message

Restrict = Callable[[int, int, Permissions, datetime | None], Any]


def observe_restrict(
    env: Env, monkeypatch: pytest.MonkeyPatch, after: Callable[[], None] | None = None
) -> list[Restriction | None]:
    """The committed record of each restricted member, as it stood when Telegram got the
    call; `after` runs once Telegram applied it (to fail what follows)."""
    seen: list[Restriction | None] = []
    original = env.telegram.restrict

    async def restrict(
        chat_id: int, user_id: int, permissions: Permissions, until: datetime | None = None
    ) -> None:
        seen.append(env.uow.store.tables.restrictions.get((chat_id, user_id)))
        await original(chat_id, user_id, permissions, until)
        if after is not None:
            after()

    monkeypatch.setattr(env.telegram, "restrict", restrict)
    return seen


def lost_answer() -> None:
    """Telegram applied the restriction, and its answer never came back."""
    raise TimeoutError("restrictChatMember timed out")


async def test_the_intent_is_committed_before_telegram_is_asked(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = await env.protect()
    seen = observe_restrict(env, monkeypatch)

    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED

    [before] = seen
    assert before is not None
    assert before.state is MuteState.INTENT
    assert before.checked_at == env.clock.utc()
    after = await env.restriction(CHAT, USER)
    assert after == Restriction(
        CHAT, USER, env.clock.utc(), None, MuteState.ACTIVE, env.clock.utc()
    )
    assert env.telegram.is_muted(CHAT, USER)
    assert await env.audit_kinds() == [AuditKind.MUTE]
    assert env.counter("bot_gate_actions_total", action="mute") == 1


@pytest.mark.parametrize(
    "failure",
    [
        TimeoutError("timed out"),
        TelegramUnavailable("Bad Gateway", "restrictChatMember"),
        RetryLater(30),
        ConnectionError("reset"),
    ],
    ids=type,
)
async def test_a_transient_failure_leaves_the_intent_and_the_retry_finishes_it_once(
    env: Env, failure: BaseException
) -> None:
    group = await env.protect()
    env.telegram.fail("restrict", failure)

    with pytest.raises(type(failure)):
        await env.muter.mute(group, USER)

    record = await env.restriction(CHAT, USER)
    assert record is not None
    assert record.state is MuteState.INTENT
    assert await env.audit_kinds() == []

    env.clock.advance(5)
    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED
    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED
    assert env.telegram.count("restrict") == 2  # the failed call and its retry, no more
    done = await env.restriction(CHAT, USER)
    assert done is not None
    assert done.state is MuteState.ACTIVE
    assert done.created_at == record.created_at  # the same mute, finished
    assert await env.audit_kinds() == [AuditKind.MUTE]
    assert env.counter("bot_gate_actions_total", action="mute") == 1


async def test_a_timed_mute_retried_later_runs_from_the_retry(env: Env) -> None:
    group = await env.protect(settings=GroupSettings(mute_seconds=60))
    env.telegram.fail("restrict", TimeoutError("timed out"))
    with pytest.raises(TimeoutError):
        await env.muter.mute(group, USER)

    env.clock.advance(600)  # a first until long gone: Telegram would read it as forever
    await env.muter.mute(group, USER)

    until = env.clock.utc() + timedelta(seconds=60)
    assert env.telegram.calls_of("restrict")[-1].args["until"] == until
    record = await env.restriction(CHAT, USER)
    assert record is not None
    assert (record.state, record.until) == (MuteState.ACTIVE, until)


async def test_an_answer_lost_after_telegram_muted_still_leaves_the_mute_known(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's case: the restrict applied, its answer timed out, the redelivery never
    came (keys lost, given up). The member later joins the channel and is unmuted."""
    group = await env.protect()
    observe_restrict(env, monkeypatch, after=lost_answer)
    with pytest.raises(TimeoutError):
        await env.muter.mute(group, USER)
    assert env.telegram.is_muted(CHAT, USER)
    monkeypatch.undo()

    env.telegram.set_member(CH_A, USER)
    assert await env.verification.channel_joined(CH_A, USER) == [CHAT]

    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None


async def test_the_database_failing_after_the_restrict_leaves_the_intent(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = await env.protect()

    def database_down() -> None:
        env.uow.store.available = False

    observe_restrict(env, monkeypatch, after=database_down)
    with pytest.raises(ConnectionError):
        await env.muter.mute(group, USER)
    env.uow.store.available = True

    record = await env.restriction(CHAT, USER)
    assert record is not None
    assert record.state is MuteState.INTENT
    assert env.telegram.is_muted(CHAT, USER)


async def test_the_database_failing_first_means_no_restrict(env: Env) -> None:
    group = await env.protect()
    env.uow.store.available = False

    with pytest.raises(ConnectionError):
        await env.muter.mute(group, USER)

    assert env.telegram.count("restrict") == 0
    env.uow.store.available = True
    assert await env.restriction(CHAT, USER) is None


async def test_a_repeated_mute_of_a_member_muted_by_gmbot_asks_telegram_nothing(
    env: Env,
) -> None:
    """Redis lost the mute's key: the outbox carries a second MUTE out; the record dedupes."""
    group = await env.protect()
    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED
    env.reset_counters()

    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED

    assert env.telegram.count("restrict") == 0
    assert await env.audit_kinds() == [AuditKind.MUTE]


async def test_a_mute_key_lost_in_redis_makes_no_second_restrict(env: Env) -> None:
    await env.protect()
    await env.gate_message(message(env))
    assert env.telegram.count("restrict") == 1
    await env.outbox.forget([plan.mute_key(CHAT, USER)])  # as a Redis that lost its data

    await env.gate_message(message(env))

    assert env.telegram.count("restrict") == 1
    assert env.telegram.is_muted(CHAT, USER)


async def test_no_right_to_restrict_removes_the_intent_and_frees_the_key(env: Env) -> None:
    group = await env.protect()
    action = plan.mute(message(env), [CH_A], now=env.clock())
    assert await env.outbox.record([action]) == 1  # the gate decided the mute
    assert await env.outbox.record([action]) == 0
    env.telegram.fail("restrict", NotEnoughRights("not enough rights to restrict"))

    assert await env.muter.mute(group, USER) is MuteOutcome.REFUSED

    assert await env.restriction(CHAT, USER) is None
    assert await env.audit_kinds() == []
    assert await env.outbox.record([action]) == 1  # a later offence mutes again


@pytest.mark.parametrize(
    "refusal",
    [BadRequest("Bad Request: PARTICIPANT_ID_INVALID"), NotEnoughRights("user is an admin")],
    ids=type,
)
async def test_a_refusal_for_good_leaves_no_record(env: Env, refusal: Exception) -> None:
    group = await env.protect()
    env.telegram.fail("restrict", refusal)

    if isinstance(refusal, NotEnoughRights):
        assert await env.muter.mute(group, USER) is MuteOutcome.REFUSED
    else:
        with pytest.raises(BadRequest):  # refused for good, as before: the outbox settles it
            await env.muter.mute(group, USER)

    assert await env.restriction(CHAT, USER) is None


async def test_lifting_an_intent_restores_the_defaults(env: Env) -> None:
    group = await env.protect(settings=GroupSettings(mute_seconds=60))
    env.telegram.fail("restrict", TimeoutError("timed out"))
    with pytest.raises(TimeoutError):
        await env.muter.mute(group, USER)
    await env.telegram.restrict(CHAT, USER, MUTED)  # Telegram may have applied it after all
    env.clock.advance(3600)  # its until long past: an intent is lifted all the same

    assert await env.muter.lift(CHAT, USER, "joined")

    lift = env.telegram.calls_of("restrict")[-1].args
    assert lift["permissions"] == env.telegram.chats[CHAT].permissions
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    assert await env.restriction(CHAT, USER) is None
    assert (await env.audit_kinds())[-1] is AuditKind.UNMUTE


async def test_lifting_an_expired_confirmed_mute_calls_nothing(env: Env) -> None:
    group = await env.protect(settings=GroupSettings(mute_seconds=60))
    await env.muter.mute(group, USER)
    env.clock.advance(3600)
    env.reset_counters()

    assert await env.muter.lift(CHAT, USER, "joined")

    assert env.telegram.count("restrict") == 0
    assert await env.restriction(CHAT, USER) is None


async def test_lift_all_lifts_intents_too(env: Env) -> None:
    group = await env.protect()
    env.telegram.fail("restrict", TelegramUnavailable("Bad Gateway"), user_id=USER)
    with pytest.raises(TelegramUnavailable):
        await env.muter.mute(group, USER)
    env.reset_counters()

    assert await env.muter.lift_all(CHAT, "unprotected") == 1

    assert [c.args["user_id"] for c in env.telegram.calls_of("restrict")] == [USER]
    assert await env.restriction(CHAT, USER) is None


async def test_a_restriction_lifted_in_telegram_drops_an_intent(env: Env) -> None:
    group = await env.protect()
    env.telegram.fail("restrict", TimeoutError("timed out"))
    with pytest.raises(TimeoutError):
        await env.muter.mute(group, USER)

    assert await env.muter.released(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None


async def test_a_retry_after_a_timeout_telegram_carried_out_mutes_no_second_time(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first restrict timed out but was applied: the retry looks before acting."""
    group = await env.protect()
    seen = observe_restrict(env, monkeypatch, after=lost_answer)
    with pytest.raises(TimeoutError):
        await env.muter.mute(group, USER)
    monkeypatch.undo()
    env.clock.advance(10)

    assert await env.muter.mute(group, USER) is MuteOutcome.MUTED

    assert len(seen) == 1  # one restrict in all
    assert env.telegram.count("get_member") == 1  # the look before the retry
    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.state is MuteState.ACTIVE
    assert env.telegram.is_muted(CHAT, USER)
