"""The mute reconciler: intents left unfinished are confirmed, completed or dropped;
active records Telegram holds no restriction for are forgotten; one sweep at a time
across the fleet."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from gmbot.container import build_container
from gmbot.delivery.periodic import Periodic
from gmbot.domain.actions import CURRENT_PRIORITY, Priority
from gmbot.domain.models import AuditKind, GroupSettings, MuteState, Restriction
from gmbot.domain.telegram import (
    MUTED,
    PERMISSION_FIELDS,
    BotBlocked,
    ChatNotFound,
    MemberInfo,
    MemberStatus,
    NotEnoughRights,
    RetryLater,
    TelegramUnavailable,
)
from gmbot.services.mute_reconciler import LOCK, MuteReconciler
from tests.fakes.gateways import FakeGateways
from tests.fakes.job_lock import InMemoryJobLock
from tests.unit.services.support import (
    ADMIN,
    CHAT,
    USER,
    USER2,
    Env,
    message,
    unit_settings,
)

INTERVAL, AFTER, BATCH = 30.0, 60.0, 50
USER3 = 44


def reconciler(env: Env, lock: InMemoryJobLock | None = None, batch: int = BATCH) -> MuteReconciler:
    return MuteReconciler(
        env.uow,
        env.telegram,
        env.directory,
        env.muter,
        lock or InMemoryJobLock(env.clock),
        env.metrics,
        env.clock.utc,
        interval=INTERVAL,
        after=AFTER,
        batch=batch,
        wall=env.clock,
    )


async def record(env: Env, user_id: int, state: MuteState, **changes: object) -> Restriction:
    now = env.clock.utc()
    mute = Restriction(CHAT, user_id, now, None, state, checked_at=now)
    mute = replace(mute, **changes)  # type: ignore[arg-type]
    async with env.uow() as uow:
        await uow.restrictions.add(mute)
        await uow.commit()
    return mute


async def intent_left(env: Env, user_id: int = USER, *, applied: bool) -> Restriction:
    """A mute whose restrict call never answered; `applied`: Telegram did it all the same."""
    mute = await record(env, user_id, MuteState.INTENT)
    if applied:
        await env.telegram.restrict(CHAT, user_id, MUTED)
    env.clock.advance(AFTER + 1)
    return mute


async def repairs(env: Env) -> list[tuple[int | None, str]]:
    return [(e.user_id, e.detail) for e in await env.audit() if e.kind is AuditKind.MUTE_REPAIRED]


def reconciled(env: Env, outcome: str) -> float:
    return env.counter("bot_mutes_reconciled_total", outcome=outcome)


# --------------------------------------------------------------------------- intents


async def test_an_intent_telegram_applied_is_confirmed(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=True)
    env.reset_counters()

    report = await reconciler(env).sweep()

    assert report == {"confirmed": 1}
    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.state is MuteState.ACTIVE
    assert await repairs(env) == [(USER, "intent confirmed")]
    assert env.telegram.count("restrict") == 0
    assert reconciled(env, "confirmed") == 1


async def test_an_intent_telegram_never_got_is_completed(env: Env) -> None:
    await env.protect(settings=GroupSettings(mute_seconds=600))
    await intent_left(env, applied=False)

    assert await reconciler(env).sweep() == {"completed": 1}

    assert env.telegram.is_muted(CHAT, USER)
    until = env.clock.utc() + timedelta(seconds=600)  # the mute runs from its completion
    assert env.telegram.calls_of("restrict")[-1].args["until"] == until
    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert (mute.state, mute.until) == (MuteState.ACTIVE, until)
    assert await repairs(env) == [(USER, "intent completed")]


async def test_a_recent_intent_is_left_to_its_own_retry(env: Env) -> None:
    await env.protect()
    await record(env, USER, MuteState.INTENT)
    env.clock.advance(AFTER - 1)

    assert await reconciler(env).sweep() == {}

    assert env.telegram.calls == []
    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.state is MuteState.INTENT


@pytest.mark.parametrize(
    ("status", "detail"),
    [(MemberStatus.LEFT, "member left"), (MemberStatus.KICKED, "member kicked")],
)
async def test_an_intent_for_a_member_gone_is_dropped(
    env: Env, status: MemberStatus, detail: str
) -> None:
    await env.protect()
    await intent_left(env, applied=False)
    env.telegram.set_member(CHAT, USER, status)

    assert await reconciler(env).sweep() == {"dropped": 1}

    assert await env.restriction(CHAT, USER) is None
    assert await repairs(env) == [(USER, detail)]
    assert env.telegram.count("restrict") == 0


async def test_an_intent_for_an_admin_is_dropped(env: Env) -> None:
    await env.protect()
    await intent_left(env, ADMIN, applied=False)

    assert await reconciler(env).sweep() == {"dropped": 1}
    assert await env.restriction(CHAT, ADMIN) is None
    assert await repairs(env) == [(ADMIN, "member is an admin")]


async def test_an_intent_in_a_group_no_longer_protected_is_dropped(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=False)
    async with env.uow() as uow:
        await uow.groups.set_enabled(CHAT, False)
        await uow.commit()
    await env.directory.invalidate(CHAT)

    assert await reconciler(env).sweep() == {"dropped": 1}

    assert env.telegram.count("restrict") == 0
    assert not env.telegram.is_muted(CHAT, USER)
    assert await repairs(env) == [(USER, "group not protected")]


async def test_an_intent_telegram_refuses_to_complete_is_dropped(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=False)
    env.telegram.fail("restrict", NotEnoughRights("not enough rights to restrict/unrestrict"))

    assert await reconciler(env).sweep() == {"dropped": 1}

    assert await env.restriction(CHAT, USER) is None
    assert await repairs(env) == [(USER, "refused: not enough rights to restrict/unrestrict")]


async def test_an_intent_finished_meanwhile_is_not_done_again(env: Env) -> None:
    group = await env.protect()
    stale = await intent_left(env, applied=False)
    # The sweep read the intent; then the mute's own retry finished it.
    await env.muter.mute(group, USER)
    env.reset_counters()

    assert await reconciler(env)._intent(stale) == "skipped"

    assert env.telegram.count("restrict") == 0
    assert await repairs(env) == []


async def test_an_intent_lifted_meanwhile_is_not_muted_again(env: Env) -> None:
    await env.protect()
    stale = await intent_left(env, applied=False)
    # The sweep read the intent; then the member verified and the intent was lifted.
    assert await env.muter.lift(CHAT, USER, "joined")
    env.reset_counters()

    assert await reconciler(env)._intent(stale) == "skipped"

    assert env.telegram.count("restrict") == 0
    assert not env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is None


# --------------------------------------------------------------------------- active


async def test_an_active_record_telegram_agrees_with_is_checked(env: Env) -> None:
    group = await env.protect()
    await env.muter.mute(group, USER)
    env.clock.advance(5)

    assert await reconciler(env).sweep() == {"checked": 1}

    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.checked_at == env.clock.utc()
    assert await repairs(env) == []


async def test_an_active_record_without_a_restriction_is_forgotten(env: Env) -> None:
    await env.protect()
    await env.gate_message(message(env))
    assert env.telegram.is_muted(CHAT, USER)
    # An admin lifted it, and the chat_member update never reached GMBot.
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
    env.clock.advance(5)

    assert await reconciler(env).sweep() == {"released": 1}

    assert await env.restriction(CHAT, USER) is None
    assert await repairs(env) == [(USER, "no restriction in Telegram")]
    assert reconciled(env, "released") == 1
    # The mute's key was released: the member's next offence mutes again.
    env.reset_counters()
    await env.gate_message(message(env))
    assert env.telegram.count("restrict") == 1


async def test_an_admins_partial_restriction_is_not_taken_for_gmbots_mute(env: Env) -> None:
    """Restricted, but allowed to post (an admin took only media away): GMBot's mute is
    not there any more, so its record goes."""
    await env.protect()
    await env.gate_message(message(env))
    partial = {**dict.fromkeys(PERMISSION_FIELDS, True), "can_send_photos": False}
    await env.telegram.restrict(CHAT, USER, partial, None)
    assert not env.telegram.is_muted(CHAT, USER)
    env.clock.advance(5)

    assert await reconciler(env).sweep() == {"released": 1}

    assert await env.restriction(CHAT, USER) is None


async def test_a_timed_mute_that_ran_out_is_forgotten_without_asking(env: Env) -> None:
    group = await env.protect(settings=GroupSettings(mute_seconds=60))
    await env.muter.mute(group, USER)
    env.clock.advance(61)
    env.reset_counters()

    assert await reconciler(env).sweep() == {"released": 1}

    assert env.telegram.calls == []
    assert await repairs(env) == [(USER, "mute ran out")]


async def test_sweeps_cycle_through_every_active_record(env: Env) -> None:
    group = await env.protect()
    for user in (USER, USER2, USER3):
        env.telegram.set_member(CHAT, user)
        await env.muter.mute(group, user)
        env.clock.advance(1)
    lock = InMemoryJobLock(env.clock)
    job = reconciler(env, lock, batch=2)
    looked_at: list[int] = []

    for _ in range(3):
        env.reset_counters()
        assert await job.sweep() == {"checked": 2}
        looked_at += [c.args["user_id"] for c in env.telegram.calls_of("get_member")]
        env.clock.advance(INTERVAL)

    # Least recently checked first: two sweeps cover all three; USER and USER3, checked
    # at the same moment in the second sweep, come in id order after USER2.
    assert looked_at == [USER, USER2, USER3, USER, USER2, USER]


async def test_the_chat_or_user_gone_drops_an_active_record(env: Env) -> None:
    group = await env.protect()
    await env.muter.mute(group, USER)
    env.telegram.fail("get_member", ChatNotFound("Bad Request: user not found"))

    assert await reconciler(env).sweep() == {"released": 1}
    assert await repairs(env) == [(USER, "chat or user gone")]


async def test_a_bot_removed_from_the_group_keeps_the_record_for_later(env: Env) -> None:
    group = await env.protect()
    await env.muter.mute(group, USER)
    env.clock.advance(5)
    env.telegram.fail("get_member", BotBlocked("Forbidden: bot was kicked"))

    assert await reconciler(env).sweep() == {"skipped": 1}

    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.state is MuteState.ACTIVE
    assert mute.checked_at == env.clock.utc()  # to the back of the line


async def test_telegram_unreachable_skips_the_record_and_keeps_its_place(env: Env) -> None:
    group = await env.protect()
    await env.muter.mute(group, USER)
    checked = (await env.restriction(CHAT, USER)).checked_at  # type: ignore[union-attr]
    env.clock.advance(5)
    env.telegram.fail("get_member", TelegramUnavailable("Bad Gateway"))

    assert await reconciler(env).sweep() == {"skipped": 1}

    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.checked_at == checked
    assert reconciled(env, "skipped") == 1


async def test_telegram_failing_again_and_again_ends_the_sweep(env: Env) -> None:
    group = await env.protect()
    for user in (USER, USER2, USER3, ADMIN + 100):
        env.telegram.set_member(CHAT, user)
        await env.muter.mute(group, user)
    env.reset_counters()
    env.telegram.fail("get_member", TimeoutError("timed out"), times=10)

    assert await reconciler(env).sweep() == {"skipped": 3}
    assert env.telegram.count("get_member") == 3


async def test_a_retry_after_ends_the_sweep_at_once(env: Env) -> None:
    group = await env.protect()
    for user in (USER, USER2):
        await env.muter.mute(group, user)
    env.reset_counters()
    env.telegram.fail("get_member", RetryLater(120))

    assert await reconciler(env).sweep() == {"skipped": 1}
    assert env.telegram.count("get_member") == 1


async def test_each_call_waits_its_turn_at_the_lowest_priority(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = await env.protect()
    await env.muter.mute(group, USER)
    await intent_left(env, USER2, applied=False)
    priorities: list[tuple[str, Priority]] = []
    get_member, restrict = env.telegram.get_member, env.telegram.restrict

    async def spy_get_member(chat_id: int, user_id: int) -> MemberInfo:
        priorities.append(("get_member", CURRENT_PRIORITY.get()))
        return await get_member(chat_id, user_id)

    async def spy_restrict(
        chat_id: int, user_id: int, permissions: dict[str, bool], until: datetime | None = None
    ) -> None:
        priorities.append(("restrict", CURRENT_PRIORITY.get()))
        await restrict(chat_id, user_id, permissions, until)

    monkeypatch.setattr(env.telegram, "get_member", spy_get_member)
    monkeypatch.setattr(env.telegram, "restrict", spy_restrict)

    assert await reconciler(env).sweep() == {"completed": 1, "checked": 1}

    assert priorities == [
        ("get_member", Priority.LOG),
        ("restrict", Priority.LOG),
        ("get_member", Priority.LOG),
    ]


# --------------------------------------------------------------------------- the lock


async def test_no_sweep_while_another_instance_holds_the_lock(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=True)
    lock = InMemoryJobLock(env.clock)
    assert await lock.hold(LOCK, 300)
    env.reset_counters()

    assert await reconciler(env, lock).sweep() is None

    assert env.telegram.calls == []
    mute = await env.restriction(CHAT, USER)
    assert mute is not None
    assert mute.state is MuteState.INTENT


async def test_instances_sharing_the_lock_sweep_once_per_interval(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=True)
    lock = InMemoryJobLock(env.clock)
    here, there = reconciler(env, lock), reconciler(env, lock)

    assert await here.sweep() == {"confirmed": 1}
    assert await there.sweep() is None
    assert await here.sweep() is None  # the lock is kept: not again before the interval
    env.clock.advance(INTERVAL)
    assert await there.sweep() == {"checked": 1}


async def test_redis_down_skips_the_sweep(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=True)
    lock = InMemoryJobLock(env.clock)
    lock.available = False
    env.reset_counters()

    assert await reconciler(env, lock).sweep() is None
    assert env.telegram.calls == []


async def test_a_sweep_that_fails_frees_the_lock(env: Env) -> None:
    await env.protect()
    await intent_left(env, applied=True)
    lock = InMemoryJobLock(env.clock)
    env.uow.store.available = False

    with pytest.raises(ConnectionError):
        await reconciler(env, lock).sweep()

    assert lock.holder(LOCK) is None
    env.uow.store.available = True
    assert await reconciler(env, lock).sweep() == {"confirmed": 1}


# --------------------------------------------------------------------------- wiring


async def test_the_container_runs_the_reconciler_as_a_periodic_job() -> None:
    settings = unit_settings()
    container = build_container(settings)
    fakes = FakeGateways(settings=settings)
    container.gateways.override(fakes)

    job = container.delivery.mute_reconciler()
    assert isinstance(job, Periodic)
    assert job.name == "mute-reconciler"
    swept = container.services.reconciler()
    assert isinstance(swept, MuteReconciler)
    assert await swept.sweep() == {}
    assert fakes.job_lock().holder(LOCK) is not None
