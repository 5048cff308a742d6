"""Carries out the actions taken from the outbox: the workers' half of the gate.

Deletions are sent per chat as one deleteMessages call of up to 100 ids, mutes and
look-ups run concurrently across chats, each at its priority (the rate limiter lets
deletions through first). An action is settled once Telegram did it or refused it
for good; a transient failure (Telegram unreachable, 5xx, a long 429) leaves it in
the outbox, and it comes back to whichever instance takes it next.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

import structlog

from gmbot.domain.actions import ActionKind, OutboxEntry, Priority, acting_as
from gmbot.domain.ports import CacheUnavailable, Outbox
from gmbot.domain.telegram import NotEnoughRights, RetryLater, TelegramError, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.services import gate_plan as plan
from gmbot.services.directory import GroupDirectory
from gmbot.services.gate import DELETE_RIGHT, GateService
from gmbot.services.muting import RESTRICT_RIGHT, MuteOutcome, MuteService
from gmbot.services.prompting import PromptService

log = structlog.get_logger(__name__)

BATCH = 100  # deleteMessages takes at most 100 ids
# Transient failures are retried; an action failing this often on unexpected errors
# (a bug, not Telegram) is given up on, loudly, rather than retried forever.
MAX_DELIVERIES = 25

TRANSIENT = (TelegramUnavailable, RetryLater, CacheUnavailable, ConnectionError, TimeoutError)


class ActionRunner:
    def __init__(
        self,
        gate: GateService,
        muter: MuteService,
        prompting: PromptService,
        directory: GroupDirectory,
        outbox: Outbox,
        metrics: Metrics,
        *,
        max_deliveries: int = MAX_DELIVERIES,
    ) -> None:
        self._gate = gate
        self._muter = muter
        self._prompting = prompting
        self._directory = directory
        self._outbox = outbox
        self._metrics = metrics
        self._max_deliveries = max_deliveries

    async def run(
        self,
        entries: Sequence[OutboxEntry],
        on_done: Callable[[list[OutboxEntry]], Awaitable[None]] | None = None,
    ) -> list[OutboxEntry]:
        """Carry the entries out; returns those to settle (done or refused for good).

        `on_done` is given each part (a chat's deletion batch, one other entry) as
        soon as it is done, so a fast chat's deletions are settled without waiting
        for a slow one's: an instance dying meanwhile leaves less to be done twice.
        """
        deletions: dict[int, list[OutboxEntry]] = defaultdict(list)
        others: list[OutboxEntry] = []
        for entry in entries:
            if entry.action.kind is ActionKind.DELETE:
                deletions[entry.action.chat_id].append(entry)
            else:
                others.append(entry)
        # Started in priority order (deletions first), then carried out concurrently.
        jobs: list[Awaitable[list[OutboxEntry]]] = [
            self._delete(chat_id, chat_entries[start : start + BATCH])
            for chat_id, chat_entries in deletions.items()
            for start in range(0, len(chat_entries), BATCH)
        ]
        jobs += [self._one(e) for e in sorted(others, key=lambda e: e.action.priority)]

        async def part(job: Awaitable[list[OutboxEntry]]) -> list[OutboxEntry]:
            done = await job
            if done and on_done is not None:
                await on_done(done)
            return done

        settled: list[OutboxEntry] = []
        for done in await asyncio.gather(*(part(job) for job in jobs)):
            settled.extend(done)
        return settled

    async def _delete(self, chat_id: int, entries: list[OutboxEntry]) -> list[OutboxEntry]:
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

        return await self._attempt(ActionKind.DELETE, entries, work, count=len(ids))

    async def _one(self, entry: OutboxEntry) -> list[OutboxEntry]:
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
                    )

        else:
            log.error("outbox_action_unknown", kind=kind, key=action.key)
            self._metrics.action_done(kind, "refused")
            return [entry]
        return await self._attempt(kind, [entry], work)

    async def _attempt(
        self,
        kind: ActionKind,
        entries: list[OutboxEntry],
        work: Callable[[], Awaitable[object]],
        *,
        count: int = 1,
    ) -> list[OutboxEntry]:
        chat_id = entries[0].action.chat_id
        try:
            await work()
        except TRANSIENT as exc:
            log.warning("outbox_action_retry", kind=kind, chat_id=chat_id, error=str(exc))
            self._metrics.action_done(kind, "retry", count)
            return []
        except TelegramError as err:
            # Refused for good (no right, user gone, bad request): retrying cannot help.
            log.warning("outbox_action_refused", kind=kind, chat_id=chat_id, error=err.description)
            self._metrics.action_done(kind, "refused", count)
            return entries
        except Exception:
            if max(e.deliveries for e in entries) < self._max_deliveries:
                log.exception("outbox_action_failed", kind=kind, chat_id=chat_id)
                self._metrics.action_done(kind, "retry", count)
                return []
            log.exception("outbox_action_given_up", kind=kind, chat_id=chat_id)
            self._metrics.action_done(kind, "given_up", count)
            return entries
        self._metrics.action_done(kind, "done", count)
        return entries
