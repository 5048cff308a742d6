"""Carries out the actions taken from the outbox: the workers' half of the gate.

Deletions are sent per chat as one deleteMessages call of up to 100 ids, mutes and
look-ups run concurrently across chats, each at its priority (the rate limiter lets
deletions through first). An action is settled once Telegram did it or refused it
for good; a transient failure (Telegram unreachable, 5xx, a timeout, a long 429, Redis
or the database away) postpones it, with a backoff that doubles per attempt, and
whichever instance takes it next tries again. Every permanent refusal is audited and
counted with its reason; an action still failing after `max_attempts` is given up on,
audited and counted too, never silently dropped.

Each entry is worked on under its claim's fence (domain/fencing.py): once the claim
may have passed to another consumer, no further call is made for it, and it is left
to that consumer, neither settled nor postponed.
"""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import structlog

from gmbot.domain.actions import ActionKind, OutboxEntry, Priority, acting_as
from gmbot.domain.fencing import Fence, FenceGroup, LeaseLost, fenced
from gmbot.domain.models import AuditEntry, AuditKind
from gmbot.domain.ports import CacheUnavailable, Outbox, StoreUnavailable, UnitOfWorkFactory
from gmbot.domain.telegram import (
    NotEnoughRights,
    RetryLater,
    TelegramError,
    TelegramUnavailable,
    refusal_reason,
)
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services.action_handlers import GateActionHandlers
from gmbot.services.directory import GroupDirectory
from gmbot.services.gate import DELETE_RIGHT, GateService
from gmbot.services.muting import RESTRICT_RIGHT, MuteOutcome, MuteService
from gmbot.services.prompting import PromptService
from gmbot.services.verify_timeout import VerifyTimeouts

log = structlog.get_logger(__name__)

BATCH = 100  # deleteMessages takes at most 100 ids

TRANSIENT = (
    TelegramUnavailable,
    RetryLater,
    CacheUnavailable,
    StoreUnavailable,
    ConnectionError,
    TimeoutError,
)


Stranded = Callable[[list[OutboxEntry]], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class _Run:
    """What one run() call's work shares: the claims' fences, the stranded hook."""

    fences: Mapping[str, Fence]
    stranded: Stranded | None


class RetryPolicy:
    """When a postponed action comes back: `base` seconds after the first failure,
    doubling up to `cap`, with ±25 % jitter so a fleet does not retry in step; never
    sooner than Telegram's retry_after, and, after a call that timed out (Telegram may
    still carry it out), not before `unknown_wait` (a call's timeout) has passed, so
    the retry sees what the lost call did."""

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 60.0,
        max_attempts: int = 60,
        *,
        unknown_wait: float = 10.0,
    ) -> None:
        self.base = base
        self.cap = cap
        self.max_attempts = max_attempts
        self.unknown_wait = unknown_wait

    def delay(self, attempts: int, exc: BaseException | None = None) -> float:
        backoff = min(self.cap, self.base * 2 ** max(0, attempts - 1))
        wait = float(backoff * random.uniform(0.75, 1.25))
        asked = getattr(exc, "retry_after", None)
        if asked:
            wait = max(wait, float(asked))
        if getattr(exc, "outcome_unknown", False):
            wait = max(wait, self.unknown_wait)
        return wait


class ActionRunner:
    def __init__(
        self,
        gate: GateService,
        muter: MuteService,
        prompting: PromptService,
        directory: GroupDirectory,
        outbox: Outbox,
        uow: UnitOfWorkFactory,
        metrics: Metrics,
        handlers: GateActionHandlers,
        timeouts: VerifyTimeouts,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._timeouts = timeouts  # EXPEL: verification timeouts (services/verify_timeout.py)
        self._handlers = handlers  # kick, ban, warn, dry run (services/action_handlers.py)
        self._gate = gate
        self._muter = muter
        self._prompting = prompting
        self._directory = directory
        self._outbox = outbox
        self._uow = uow
        self._metrics = metrics
        self._retry = retry or RetryPolicy()

    async def run(
        self,
        entries: Sequence[OutboxEntry],
        on_done: Callable[[list[OutboxEntry]], Awaitable[object]] | None = None,
        fences: Mapping[str, Fence] | None = None,
        on_stranded: Stranded | None = None,
    ) -> list[OutboxEntry]:
        """Carry the entries out; returns those to settle (done or refused for good).

        `on_done` is given each part (a chat's deletion batch, one other entry) as
        soon as it is done, so a fast chat's deletions are settled without waiting
        for a slow one's: an instance dying meanwhile leaves less to be done twice.
        `fences` (by entry id): the claims the work is done under. `on_stranded` is
        given the entries left neither settled nor postponed although they may be no
        one's (the outbox was unreachable, or their claim ran out unconfirmed): the
        workers record them again once the outbox answers (a no-op where it still
        knows them), so a Redis that came back empty loses none of them.
        """
        claims = _Run(fences or {}, on_stranded)
        deletions: dict[int, list[OutboxEntry]] = defaultdict(list)
        others: list[OutboxEntry] = []
        for entry in entries:
            if entry.action.kind is ActionKind.DELETE:
                deletions[entry.action.chat_id].append(entry)
            else:
                others.append(entry)
        # Started in priority order (deletions first), then carried out concurrently.
        jobs: list[Awaitable[list[OutboxEntry]]] = [
            self._delete(chat_id, chat_entries[start : start + BATCH], claims)
            for chat_id, chat_entries in deletions.items()
            for start in range(0, len(chat_entries), BATCH)
        ]
        ordered = sorted(others, key=lambda e: e.action.priority)
        jobs += [self._one(e, claims) for e in ordered]

        async def part(job: Awaitable[list[OutboxEntry]]) -> list[OutboxEntry]:
            done = await job
            if done and on_done is not None:
                await on_done(done)
            return done

        settled: list[OutboxEntry] = []
        for done in await asyncio.gather(*(part(job) for job in jobs)):
            settled.extend(done)
        return settled

    async def _delete(
        self, chat_id: int, entries: list[OutboxEntry], claims: _Run
    ) -> list[OutboxEntry]:
        ids = sorted({int(e.action.fields["message"]) for e in entries})

        async def work() -> None:
            try:
                with acting_as(Priority.DELETE):
                    await self._gate.delete_batch(chat_id, ids)
            except NotEnoughRights:
                group = await self._directory.group(chat_id)
                if group is not None:
                    await self._gate.rights_lost(group, [DELETE_RIGHT])
                raise

        return await self._attempt(ActionKind.DELETE, entries, work, claims, count=len(ids))

    async def _one(self, entry: OutboxEntry, claims: _Run) -> list[OutboxEntry]:
        action = entry.action
        kind = action.kind
        work: Callable[[], Awaitable[object]]
        if kind is ActionKind.MUTE:
            user_id = action.int_field("user")
            assert user_id is not None

            async def work() -> None:
                group = await self._directory.group(action.chat_id)
                if group is None or not group.active:
                    return
                with acting_as(Priority.MUTE):
                    outcome = await self._muter.mute(group, user_id)
                muted = outcome is MuteOutcome.MUTED
                msg = plan.message_of(action)
                await self._outbox.record([plan.prompt(msg, plan.channel_ids(action), muted=muted)])
                if not muted:
                    await self._gate.rights_lost(group, [RESTRICT_RIGHT])
                    raise NotEnoughRights("the bot may not restrict members", "restrictChatMember")

        elif kind is ActionKind.UNMUTE:
            unmuted = action.int_field("user")
            assert unmuted is not None

            async def work() -> None:
                with acting_as(Priority.MUTE):
                    # False: lifted meanwhile (the button, an admin): nothing left to do.
                    await self._muter.lift(action.chat_id, unmuted, action.fields["reason"])

        elif kind is ActionKind.CHECK:

            async def work() -> None:
                with acting_as(Priority.CHECK):
                    await self._gate.check(plan.message_of(action))

        elif kind is ActionKind.PROMPT:

            async def work() -> None:
                with acting_as(Priority.PROMPT):
                    await self._prompting.gated(
                        plan.message_of(action),
                        plan.channel_ids(action),
                        muted=bool(action.fields.get("muted")),
                        warning=plan.warning_of(action),
                        removed=bool(action.fields.get("removed")),
                    )

        elif kind is ActionKind.EXPEL:

            async def work() -> None:
                try:
                    with acting_as(Priority.MUTE):
                        await self._timeouts.expire(action)
                except NotEnoughRights:
                    group = await self._directory.group(action.chat_id)
                    if group is not None:
                        await self._gate.rights_lost(group, [RESTRICT_RIGHT])
                    raise

        elif (handler := self._handlers.by_kind.get(kind)) is not None:
            work = partial(handler, action)

        else:
            log.error("outbox_action_unknown", kind=kind, key=action.key)
            self._metrics.action_done(kind, "refused")
            self._metrics.action_refused(kind, "unknown_kind")
            return [entry]
        return await self._attempt(kind, [entry], work, claims)

    async def _attempt(
        self,
        kind: ActionKind,
        entries: list[OutboxEntry],
        work: Callable[[], Awaitable[object]],
        claims: _Run,
        *,
        count: int = 1,
    ) -> list[OutboxEntry]:
        chat_id = entries[0].action.chat_id
        fence = _fence_of(entries, claims.fences)
        try:
            if fence is None:
                await work()
            else:
                fence.check()  # claimed long ago (a frozen instance): not ours to do
                with fenced(fence):
                    await work()
        except LeaseLost:
            log.info("outbox_claim_lost", kind=kind, chat_id=chat_id, entries=len(entries))
            self._metrics.action_done(kind, "fenced", count)
            if fence is not None and not fence.lost and claims.stranded is not None:
                await claims.stranded(entries)  # ran out, not taken over: maybe no one's
            return []  # another consumer has it, or will
        except TRANSIENT as exc:
            return await self._postpone(kind, entries, exc, count, claims)
        except TelegramError as err:
            await self._refused(kind, entries, err, count)
            return entries
        except Exception as exc:  # a bug, not Telegram: retried with backoff, then given up
            if max(e.deliveries for e in entries) < self._retry.max_attempts:
                log.exception("outbox_action_failed", kind=kind, chat_id=chat_id)
            return await self._postpone(kind, entries, exc, count, claims)
        self._metrics.action_done(kind, "done", count)
        return entries

    async def _postpone(
        self,
        kind: ActionKind,
        entries: list[OutboxEntry],
        exc: BaseException,
        count: int,
        claims: _Run,
    ) -> list[OutboxEntry]:
        """Put the entries back for a later attempt, or give up after the last one."""
        chat_id = entries[0].action.chat_id
        attempts = max(e.deliveries for e in entries)
        if attempts >= self._retry.max_attempts:
            log.error(
                "outbox_action_given_up", kind=kind, chat_id=chat_id, attempts=attempts,
                error=str(exc)[:200],
            )  # fmt: skip
            self._metrics.action_done(kind, "given_up", count)
            await self._audit(AuditKind.ACTION_GIVEN_UP, entries, f"after {attempts}: {exc}")
            return entries
        delay = self._retry.delay(attempts, exc)
        log.warning(
            "outbox_action_retry", kind=kind, chat_id=chat_id, attempts=attempts,
            retry_in=round(delay, 2), error=str(exc)[:200],
        )  # fmt: skip
        self._metrics.action_done(kind, "retry", count)
        try:
            await self._outbox.postpone(entries, delay)
        except CacheUnavailable as err:  # pending still, unless Redis lost it meanwhile
            log.warning("outbox_postpone_failed", kind=kind, error=str(err))
            if claims.stranded is not None:
                await claims.stranded(entries)
        return []

    async def _refused(
        self, kind: ActionKind, entries: list[OutboxEntry], err: TelegramError, count: int
    ) -> None:
        reason = refusal_reason(err)
        log.warning(
            "outbox_action_refused", kind=kind, chat_id=entries[0].action.chat_id,
            reason=reason, error=err.description,
        )  # fmt: skip
        self._metrics.action_done(kind, "refused", count)
        self._metrics.action_refused(kind, reason, count)
        await self._audit(AuditKind.ACTION_REFUSED, entries, f"{reason}: {err.description}")

    async def _audit(self, kind: AuditKind, entries: list[OutboxEntry], why: str) -> None:
        """One audit entry per action (a deletion batch's messages each get theirs)."""
        try:
            async with self._uow() as uow:
                for e in entries:
                    action = e.action
                    detail = f"{action.kind.value} {action.key}: {why}"[:500]
                    await uow.audit.add(
                        AuditEntry(kind, action.chat_id, action.int_field("user"), detail=detail)
                    )
                await uow.commit()
        except Exception as exc:  # the outcome stands; the log line above keeps it
            log.warning("outbox_audit_failed", kind=kind, error=str(exc))


def _fence_of(entries: list[OutboxEntry], claims: Mapping[str, Fence]) -> Fence | None:
    fences = [f for e in entries if (f := claims.get(e.entry_id)) is not None]
    if not fences:
        return None
    if len(fences) == 1:
        return fences[0]
    return FenceGroup(f"{len(fences)} entries", fences)
