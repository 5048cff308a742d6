"""Telegram misbehaving for a window: answering 500, answering 429, and hanging past the
gateway's call timeout. Each fault hits the state-changing methods only (deletions, mutes,
messages): the bot can still look members up, so every stranger is found not subscribed and
gated, and what the window holds up is the acting on it.
"""

from __future__ import annotations

from gmbot.telegram.flood import WRITE_METHODS
from tests.faults.cluster import FaultCluster
from tests.faults.marks import FAULTS
from tests.faults.scenario import begin
from tests.faults.settings import CALL_TIMEOUT

pytestmark = FAULTS

WINDOW = 4.0  # seconds the fault lasts
RETRY_AFTER = 2  # the 429's retry_after
HANG = CALL_TIMEOUT + 2.0  # each call in the window hangs this long before it is answered


async def _fault_writes(c: FaultCluster, **fault: object) -> None:
    for method in sorted(WRITE_METHODS):
        await c.emu.add_fault(method, **fault)  # type: ignore[arg-type]


async def _writes_fail_for_a_window(
    cluster: FaultCluster, name: str, fault: str, **rule: object
) -> None:
    """Traffic before, during and after a window in which every write meets `rule`."""
    s = await begin(cluster, name, fault)
    await s.round("before", s.early)
    async with s.fault():
        await _fault_writes(cluster, **rule)
        await s.rounds("during", 3, WINDOW / 3)
        await cluster.emu.clear_faults()
    await s.round("after")
    await s.finish()


async def test_telegram_500(cluster: FaultCluster) -> None:
    await _writes_fail_for_a_window(
        cluster,
        "telegram_500",
        f"every state-changing Bot API call answered 500 for {WINDOW:.0f}s",
        error_code=500,
        description="Internal Server Error",
    )


async def test_telegram_429(cluster: FaultCluster) -> None:
    await _writes_fail_for_a_window(
        cluster,
        "telegram_429",
        f"every state-changing Bot API call answered 429 (retry_after {RETRY_AFTER}) "
        f"for {WINDOW:.0f}s",
        retry_after=RETRY_AFTER,
    )


async def test_telegram_hang(cluster: FaultCluster) -> None:
    await _writes_fail_for_a_window(
        cluster,
        "telegram_hang",
        f"every state-changing Bot API call made in a {WINDOW:.0f}s window hangs {HANG:.0f}s "
        f"(the gateway gives up after {CALL_TIMEOUT:.0f}s); Telegram still carries it out",
        latency=HANG,
    )
