"""Claim an update before handling it, so a redelivery is never acted on twice.

Telegram re-sends an update whose webhook answer was not 2xx in time, and it may
land on another instance. The guard takes a short lease on the update_id, renews
it while the handler runs, and turns it into a "done" mark when the handler
finishes. A failed handler releases the lease so the next delivery retries; an
instance that dies simply lets its lease expire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from gmbot.cache.update_claims import ClaimState, RedisUpdateClaims
from gmbot.domain.fencing import Fence, fenced
from gmbot.metrics import Metrics

log = structlog.get_logger(__name__)


class Admission(StrEnum):
    HANDLE = "handle"
    DUPLICATE_DONE = "duplicate_done"  # acknowledge without acting
    DUPLICATE_IN_FLIGHT = "duplicate_in_flight"  # ask to come back later
    POISON = "poison"  # failed too often: acknowledge, audit, move on


@dataclass(slots=True)
class Ticket:
    update_id: int
    admission: Admission
    token: str = ""
    attempt: int = 0
    asked_at: float = 0.0  # monotonic time the claim was asked for (its lease runs from it)


# (update_id, attempts, chat_id or None)
PoisonHook = Callable[[int, int, int | None], Awaitable[None]]


class UpdateGuard:
    def __init__(
        self,
        claims: RedisUpdateClaims,
        metrics: Metrics,
        *,
        max_attempts: int,
        on_poison: PoisonHook | None = None,
    ) -> None:
        self._claims = claims
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._on_poison = on_poison
        self._dup = metrics.duplicates.labels(metrics.instance_id)

    async def admit(self, update_id: int, chat_id: int | None = None) -> Ticket:
        asked_at = time.monotonic()
        claim = await self._claims.claim(update_id)
        if claim.state is ClaimState.DONE:
            self._dup.inc()
            return Ticket(update_id, Admission.DUPLICATE_DONE)
        if claim.state is ClaimState.LEASED:
            self._dup.inc()
            return Ticket(update_id, Admission.DUPLICATE_IN_FLIGHT)
        ticket = Ticket(update_id, Admission.HANDLE, claim.token, claim.attempt, asked_at)
        if await self.too_many_attempts(ticket, chat_id):
            return Ticket(update_id, Admission.POISON, attempt=claim.attempt)
        return ticket

    async def too_many_attempts(self, ticket: Ticket, chat_id: int | None) -> bool:
        """A claimed update that failed on every earlier attempt is acknowledged
        (marked done), audited and counted instead of being tried again."""
        if ticket.attempt <= self._max_attempts:
            return False
        update_id = ticket.update_id
        await self._claims.finish(update_id, ticket.token)
        self._metrics.poison.labels(self._metrics.instance_id).inc()
        log.error("poison_update_dropped", update_id=update_id, attempts=ticket.attempt - 1)
        if self._on_poison is not None:
            try:
                await self._on_poison(update_id, ticket.attempt - 1, chat_id)
            except Exception:
                log.exception("poison_audit_failed", update_id=update_id)
        return True

    def fence(self, ticket: Ticket) -> Fence:
        """The fence of the work done under the ticket's lease."""
        lease = self._claims.lease_seconds
        return Fence.starting(
            f"update {ticket.update_id}",
            lease,
            margin=lease / 5,
            redis_key=self._claims.lease_key(ticket.update_id),
            token=ticket.token,
            asked_at=ticket.asked_at or None,
        )

    async def run(self, ticket: Ticket, work: Callable[[], Awaitable[Any]]) -> Any:
        """Run the handler under the ticket's lease, fenced by it; mark done or release
        after. A holder that lost the lease makes no further call (LeaseLost), and Redis
        refuses its done mark if another holder has the update by then."""
        loop = asyncio.get_running_loop()
        renewal: asyncio.Task[None] | None = None
        fence = self.fence(ticket)

        def start_renewing() -> None:
            nonlocal renewal
            renewal = loop.create_task(self._keep_alive(ticket, fence))

        # Most updates finish long before a third of the lease: only those that
        # do not pay for a renewal task.
        timer = loop.call_later(self._claims.lease_seconds / 3, start_renewing)
        try:
            with fenced(fence):
                result = await work()
        except BaseException:
            timer.cancel()
            if renewal is not None:
                renewal.cancel()
            await asyncio.shield(self._claims.release(ticket.update_id, ticket.token))
            raise
        timer.cancel()
        if renewal is not None:
            renewal.cancel()
        if not await self._claims.finish(ticket.update_id, ticket.token):
            log.warning("update_done_mark_refused", update_id=ticket.update_id)
        fence.close()
        return result

    async def _keep_alive(self, ticket: Ticket, fence: Fence) -> None:
        lease = self._claims.lease_seconds
        period = lease / 3
        while True:
            asked_at = time.monotonic()
            if not await self._claims.renew(ticket.update_id, ticket.token):
                fence.lose()
                log.warning("update_lease_lost", update_id=ticket.update_id)
                return
            fence.renewed(asked_at, lease, lease / 5)
            await asyncio.sleep(period)
