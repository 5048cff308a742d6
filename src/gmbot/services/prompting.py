"""Prompts for gated members, and the shared notice that replaces them in a raid.

Outside a raid each gated member gets one prompt of their own. Once enough members
are gated within a minute (the group's raid threshold), the prompts on screen are
removed and one shared notice takes their place, edited in place as the count grows
(at most every few seconds), so the bot never floods the group it protects: at most
two of its messages are on screen. The notice goes when the raid has been calm for a
while. Start and end are audited, counted and reported to the admins once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from gmbot.domain.actions import Priority, acting_as
from gmbot.domain.models import AuditEntry, AuditKind, LinkedChannel, ProtectedGroup
from gmbot.domain.ports import (
    DueDeletion,
    PromptStore,
    RaidPhase,
    RaidSignal,
    RaidWatch,
    TelegramGateway,
    UnitOfWorkFactory,
)
from gmbot.domain.telegram import TelegramError, TelegramUnavailable
from gmbot.metrics import Metrics
from gmbot.services import prompt_template, texts
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.notifier import AdminNotifier

log = structlog.get_logger(__name__)

REPORT_PERIOD = 300.0
PROMPT_POLL = 0.05  # one start and one end report per raid, even if it flickers
# How long the record of a prompt just sent waits for a store that does not answer
# (Redis restarting), trying again after RECORD_PAUSE seconds, doubling to the cap.
RECORD_WAIT = 30.0
RECORD_PAUSE = 0.1
RECORD_PAUSE_CAP = 1.0


@dataclass(frozen=True, slots=True)
class RaidPolicy:
    window: float = 60.0  # the threshold counts members gated within this many seconds
    calm: float = 60.0  # a raid ends after this long with nobody gated
    edit_every: float = 3.0  # the notice's count is refreshed at most this often
    notice_claim: float = 10.0  # an instance posting the notice holds it this long
    prompt_wait: float = 5.0  # the most a raid's start waits for prompts on their way


class PromptService:
    def __init__(
        self,
        directory: GroupDirectory,
        prompts: PromptStore,
        raids: RaidWatch,
        telegram: TelegramGateway,
        notifier: AdminNotifier,
        uow: UnitOfWorkFactory,
        metrics: Metrics,
        policy: RaidPolicy,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._prompts = prompts
        self._raids = raids
        self._telegram = telegram
        self._notifier = notifier
        self._uow = uow
        self._metrics = metrics
        self._policy = policy
        self._clock = clock

    async def gated(
        self,
        msg: IncomingMessage,
        missing_ids: list[int],
        *,
        muted: bool,
        warning: tuple[int, int] | None = None,
        removed: bool = False,
    ) -> None:
        """A member was gated: prompt them, or let the raid notice speak for them.

        `muted`: restricted until verified; `warning` (k, N): this was warning k of N
        (the Nth gets the group's escalation action); `removed`: removed from the
        group (they may come back after joining). The prompt says so.

        Raises TelegramUnavailable / RetryLater when Telegram could not be reached:
        the outbox tries again later.
        """
        assert msg.user_id is not None
        group = await self._directory.group(msg.chat_id)
        if group is None or not group.active:
            return
        context = texts.PromptContext(muted=muted, warning=warning, removed=removed)
        if group.settings.raid_start_at == 0:
            # Raid mode off (also when switched off during a raid): per-member prompts,
            # and the raid state is not consulted.
            await self._prompt(group, msg, self._missing(group, missing_ids), context, watch=False)
            return
        p = self._policy
        signal = await self._raids.gated(
            msg.chat_id,
            msg.user_id,
            self._clock(),
            threshold=group.settings.raid_start_at,
            window=p.window,
            edit_every=p.edit_every,
        )
        if signal.phase is RaidPhase.CALM:
            await self._prompt(group, msg, self._missing(group, missing_ids), context)
            return
        if signal.phase is RaidPhase.STARTED:
            await self._raid_started(group, signal)
        elif signal.notice_id is None:
            if await self._raids.claim_notice(msg.chat_id, p.notice_claim):
                await self._post_notice(group, signal.gated)
        elif signal.edit_due:
            await self._refresh(group, signal.notice_id, signal.gated)

    async def preview(
        self, chat_id: int, user_id: int, name: str, thread_id: int | None = None
    ) -> str | None:
        """/settings preview: the prompt as a member would see it, sent to the group with
        the admin (`user_id`) as its subject; its "I've joined" button verifies nobody
        (texts.PREVIEW_PREFIX). Deleted after the prompt's lifetime, as a prompt is.
        None when sent, else why not (plain text). Raises TelegramUnavailable."""
        group = await self._directory.group(chat_id)
        if group is None or not group.active:
            return "This group is not protected yet: use /protect @channel first."
        text, keyboard = prompt_template.preview(group, user_id, name)
        try:
            message_id = await self._telegram.send_message(
                chat_id, text, keyboard=keyboard, thread_id=thread_id
            )
        except TelegramUnavailable:
            raise
        except TelegramError as err:
            return f"Telegram refused the preview: {err.description}"
        # No subject: the admin's own prompt slot (if any) is not touched.
        await self._prompts.schedule_deletion(
            DueDeletion(chat_id, message_id), self._clock() + group.settings.prompt_ttl
        )
        return None

    @staticmethod
    def _missing(group: ProtectedGroup, missing_ids: list[int]) -> list[LinkedChannel]:
        return [c for c in group.channels if c.channel_id in missing_ids] or list(group.channels)

    async def _prompt(
        self,
        group: ProtectedGroup,
        msg: IncomingMessage,
        missing: list[LinkedChannel],
        context: texts.PromptContext,
        *,
        watch: bool = True,
    ) -> None:
        """One member's prompt; `watch`: registered with the raid state (raid mode)."""
        assert msg.user_id is not None
        chat_id, user_id = msg.chat_id, msg.user_id
        ttl = group.settings.prompt_ttl
        if not await self._prompts.claim(chat_id, user_id, ttl, owner=msg.message_id):
            return  # one prompt per member per group, not one per message
        # Reserved before it is sent, so a raid starting meanwhile waits for it to be
        # gone before posting the notice: never three bot messages on screen.
        if watch and not await self._raids.prompt_reserve(chat_id, user_id, ttl):
            await self._prompts.clear(chat_id, user_id)
            return  # a raid began: the notice speaks for this member
        text = prompt_template.render_prompt(group, user_id, msg.user_name, missing, context)
        try:
            message_id = await self._telegram.send_message(
                chat_id,
                text,
                keyboard=prompt_template.render_keyboard(group, user_id, missing, context),
                thread_id=msg.thread_id,
            )
        except BaseException as exc:
            # Best effort: a Redis down now must not hide why the send failed (a lost
            # lease, Telegram's refusal); the retry's claim is re-entrant for this message.
            with contextlib.suppress(Exception):
                if watch:
                    await self._raids.prompt_dropped(chat_id, user_id)
                await self._prompts.clear(chat_id, user_id)
            if isinstance(exc, TelegramError) and not isinstance(exc, TelegramUnavailable):
                log.warning("prompt_failed", chat_id=chat_id, error=exc.description)
                return
            raise
        # Sent: from here on nothing may fail the work. The outbox would send the prompt
        # again, and a Redis that came back empty meanwhile would have lost the slot
        # too, so the retry's claim would take: a second prompt. A store that does not
        # answer is waited for (attach recreates the slot it lost), then let go.
        deadline = asyncio.get_running_loop().time() + RECORD_WAIT
        await self._stored(
            "attach", lambda: self._prompts.attach(chat_id, user_id, message_id, ttl), deadline
        )
        due = DueDeletion(chat_id, message_id, user_id)
        await self._stored(
            "schedule_deletion",
            lambda: self._prompts.schedule_deletion(due, self._clock() + ttl),
            deadline,
        )
        if not watch:
            return
        shown = await self._stored(
            "prompt_shown",
            lambda: self._raids.prompt_shown(chat_id, user_id, message_id, ttl),
            deadline,
        )
        if shown is False:
            # A raid began while this prompt was on its way: the notice replaces it.
            await self._delete(chat_id, [message_id])
            await self._stored("clear", lambda: self._prompts.clear(chat_id, user_id), deadline)

    async def _stored(
        self, step: str, write: Callable[[], Awaitable[object]], deadline: float
    ) -> object:
        """`write` (a store write about a prompt already sent), tried again while the
        store does not answer, until `deadline` (loop time); None when it never did.
        Never raises: the prompt is on screen, and an error would have it sent again."""
        loop = asyncio.get_running_loop()
        pause = RECORD_PAUSE
        while True:
            try:
                return await write()
            except Exception as exc:
                if loop.time() + pause >= deadline:
                    log.error("prompt_record_failed", step=step, error=str(exc)[:200])
                    return None
                if pause == RECORD_PAUSE:
                    log.warning("prompt_record_retry", step=step, error=str(exc)[:200])
                await asyncio.sleep(pause)
                pause = min(RECORD_PAUSE_CAP, pause * 2)

    async def _raid_started(self, group: ProtectedGroup, signal: RaidSignal) -> None:
        chat_id = group.chat_id
        log.warning("raid_started", chat_id=chat_id, gated=signal.gated)
        self._metrics.raid_started()
        # The starter holds the notice's claim from the start, so nobody posts it
        # while the prompts on screen are still being removed: never three at once.
        claimed = await self._raids.claim_notice(chat_id, self._policy.notice_claim)
        await self._remove_prompts(chat_id)
        if claimed:
            await self._post_notice(group, signal.gated)
        async with self._uow() as uow:
            await uow.audit.add(
                AuditEntry(AuditKind.RAID_START, chat_id, detail=f"gated={signal.gated}")
            )
            await uow.commit()
        with acting_as(Priority.LOG):
            await self._notifier.notify(
                chat_id,
                "raid_start",
                texts.raid_started_report(group.title, signal.gated),
                period=REPORT_PERIOD,
                fallback_to_group=False,
            )

    async def _remove_prompts(self, chat_id: int) -> None:
        """Remove the per-member prompts on screen, waiting (a bounded while) for those
        still on their way: they remove themselves once sent, seeing the raid."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._policy.prompt_wait
        while True:
            shown, pending = await self._raids.take_prompts(chat_id)
            await self._delete(chat_id, [message_id for _, message_id in shown])
            for user_id, _ in shown:
                # Free the slot: after the raid the member gets a prompt again.
                await self._prompts.clear(chat_id, user_id)
            if not pending or loop.time() >= deadline:
                return
            await asyncio.sleep(PROMPT_POLL)

    async def _post_notice(self, group: ProtectedGroup, gated: int) -> None:
        """Post the shared notice; the caller holds the notice's claim."""
        chat_id = group.chat_id
        try:
            message_id = await self._telegram.send_message(
                chat_id,
                prompt_template.raid_notice(group, gated),
                keyboard=prompt_template.raid_keyboard(group),
            )
        except BaseException:
            await self._raids.release_notice(chat_id)  # the retry may post it at once
            raise
        if not await self._raids.notice_posted(chat_id, message_id, gated):
            await self._delete(chat_id, [message_id])  # the raid ended meanwhile

    async def _refresh(self, group: ProtectedGroup, notice_id: int, gated: int) -> None:
        try:
            await self._telegram.edit_message(
                group.chat_id,
                notice_id,
                prompt_template.raid_notice(group, gated),
                keyboard=prompt_template.raid_keyboard(group),
            )
        except TelegramUnavailable:
            return  # the next refresh (or the sweep) carries the newer count
        except TelegramError as err:
            log.info("raid_notice_edit_failed", chat_id=group.chat_id, error=err.description)
            return
        await self._raids.notice_shown(group.chat_id, gated)

    async def sweep(self) -> int:
        """Refresh notices showing an old count and end calm raids; returns how many
        raids ended. Runs on every instance; each item is handed to one of them."""
        now = self._clock()
        for chat_id, notice_id, gated in await self._raids.stale_notices(
            now, self._policy.edit_every
        ):
            group = await self._directory.group(chat_id)
            if group is not None and group.active:
                await self._refresh(group, notice_id, gated)
        for chat_id, gated in await self._raids.without_notice():
            # Its starter died before posting it: the muted members still need it.
            group = await self._directory.group(chat_id)
            if (
                group is not None
                and group.active
                and await self._raids.claim_notice(chat_id, self._policy.notice_claim)
            ):
                await self._post_notice(group, gated)
        ended = await self._raids.end_calm(now, self._policy.calm)
        for raid in ended:
            self._metrics.raid_ended()
            log.info("raid_ended", chat_id=raid.chat_id, gated=raid.gated)
            if raid.notice_id is not None:
                await self._delete(raid.chat_id, [raid.notice_id])
            async with self._uow() as uow:
                await uow.audit.add(
                    AuditEntry(AuditKind.RAID_END, raid.chat_id, detail=f"gated={raid.gated}")
                )
                await uow.commit()
            group = await self._directory.group(raid.chat_id)
            title = group.title if group is not None else str(raid.chat_id)
            with acting_as(Priority.LOG):
                await self._notifier.notify(
                    raid.chat_id,
                    "raid_end",
                    texts.raid_ended_report(title, raid.gated, now - raid.started_at),
                    period=REPORT_PERIOD,
                    fallback_to_group=False,
                )
        return len(ended)

    async def _delete(self, chat_id: int, message_ids: list[int]) -> None:
        if not message_ids:
            return
        try:
            with acting_as(Priority.DELETE):
                await self._telegram.delete_messages(chat_id, message_ids[:100])
        except TelegramError as err:
            log.info("bot_message_delete_failed", chat_id=chat_id, error=err.description)
