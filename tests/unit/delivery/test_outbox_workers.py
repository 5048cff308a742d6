"""The outbox's consumers: lanes by priority, rounds and gathering for deletions,
stopping, surviving an unreachable outbox, keeping claims, and drain()."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from gmbot.delivery.outbox_worker import LANES, Lane, OutboxWorkers
from gmbot.domain.actions import Action, ActionKind, OutboxEntry, Priority
from gmbot.domain.fencing import Fence
from tests.fakes.clock import FakeClock
from tests.fakes.outbox import InMemoryOutbox

CHAT = -100123
_keys = itertools.count(1)


def act(kind: ActionKind, chat_id: int = CHAT) -> Action:
    n = next(_keys)
    return Action(kind, chat_id, f"{kind.value}:{chat_id}:{n}", {"message": str(n)})


class StubRunner:
    """Stands in for ActionRunner: notes each batch, settles everything it is given.

    `block(kind)` makes batches holding that kind wait until `release(kind)`;
    `fail_next(kind)` makes the next batch holding it raise; `then` records follow-up
    actions when a kind is carried out (as a CHECK records its DELETE)."""

    def __init__(self, outbox: InMemoryOutbox) -> None:
        self._outbox = outbox
        self.batches: list[list[Action]] = []
        self.done: list[Action] = []
        self.started: defaultdict[ActionKind, asyncio.Event] = defaultdict(asyncio.Event)
        self._gates: dict[ActionKind, asyncio.Event] = {}
        self._failing: set[ActionKind] = set()
        self.then: dict[ActionKind, Callable[[], Sequence[Action]]] = {}
        self.settle = True
        self.fences: dict[str, Fence] = {}

    def block(self, kind: ActionKind) -> None:
        self._gates[kind] = asyncio.Event()

    def release(self, kind: ActionKind) -> None:
        self._gates.pop(kind).set()

    def fail_next(self, kind: ActionKind) -> None:
        self._failing.add(kind)

    def done_kinds(self) -> list[ActionKind]:
        return [a.kind for a in self.done]

    async def run(
        self,
        entries: Sequence[OutboxEntry],
        on_done: Callable[[list[OutboxEntry]], Awaitable[object]] | None = None,
        fences: Mapping[str, Fence] | None = None,
        on_stranded: Callable[[list[OutboxEntry]], Awaitable[object]] | None = None,
    ) -> list[OutboxEntry]:
        self.fences.update(fences or {})
        actions = [e.action for e in entries]
        self.batches.append(actions)
        kinds = {a.kind for a in actions}
        for kind in kinds:
            self.started[kind].set()
        if failing := kinds & self._failing:
            self._failing -= failing
            raise RuntimeError("a bug in carrying it out")
        for kind in kinds:
            gate = self._gates.get(kind)
            if gate is not None:
                await gate.wait()
        self.done.extend(actions)
        for action in actions:
            follow = self.then.get(action.kind)
            if follow is not None:
                await self._outbox.record(follow())
        done = list(entries) if self.settle else []
        if done and on_done is not None:
            await on_done(done)
        return done


async def until(predicate: Callable[[], bool], timeout: float = 2.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


class Running:
    """Workers started with run() for the test, stopped (within a bound) after."""

    def __init__(self, outbox: InMemoryOutbox, runner: StubRunner, **kwargs: Any) -> None:
        kwargs.setdefault("block_ms", 50)
        kwargs.setdefault("error_pause", 0.02)
        self.workers = OutboxWorkers(outbox, runner, "here", **kwargs)  # type: ignore[arg-type]
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.workers.run())
        await asyncio.sleep(0)  # run() has begun before the test records anything
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def stop(self, bound: float = 1.0) -> float:
        """Stop; how long run() took to end (fails past `bound` seconds)."""
        assert self.task is not None
        if self.task.done():
            return 0.0
        started = time.monotonic()
        self.workers.stop()
        await asyncio.wait_for(self.task, bound)
        return time.monotonic() - started


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def outbox(clock: FakeClock) -> InMemoryOutbox:
    return InMemoryOutbox(clock, claim_after=1.0)


@pytest.fixture
def runner(outbox: InMemoryOutbox) -> StubRunner:
    return StubRunner(outbox)


def every_kind() -> list[Action]:
    return [act(kind) for kind in ActionKind if kind is not ActionKind.NOTICE]


# ---------------------------------------------------------------------------- lanes


async def test_a_lane_takes_only_its_priorities(outbox: InMemoryOutbox, runner: StubRunner) -> None:
    await outbox.record(every_kind())
    only_deletions = (Lane("delete", (Priority.DELETE,), batch=10, rounds=True),)
    async with Running(outbox, runner, lanes=only_deletions):
        await until(lambda: runner.done_kinds() == [ActionKind.DELETE])
        await asyncio.sleep(0.1)  # a few more takes: still nothing else
    assert runner.done_kinds() == [ActionKind.DELETE]
    left = {a.kind for a in outbox.entries()}
    assert left == {a.kind for a in every_kind()} - {ActionKind.DELETE}


async def test_each_batch_holds_one_lanes_priorities(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    # Recorded before the workers start, so one take could have had them all.
    await outbox.record([a for _ in range(3) for a in every_kind()])
    async with Running(outbox, runner):
        await until(lambda: len(runner.done) == 3 * len(every_kind()))
    lanes = [set(lane.priorities) for lane in LANES]
    for batch in runner.batches:
        priorities = {a.priority for a in batch}
        assert any(priorities <= lane for lane in lanes), batch
    assert outbox.entries() == []


async def test_a_slow_prompt_does_not_hold_back_deletions(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    runner.block(ActionKind.PROMPT)
    async with Running(outbox, runner):
        await outbox.record([act(ActionKind.PROMPT)])
        await asyncio.wait_for(runner.started[ActionKind.PROMPT].wait(), 1.0)
        await outbox.record([act(ActionKind.DELETE)])
        await until(lambda: ActionKind.DELETE in runner.done_kinds(), timeout=1.0)
        assert ActionKind.PROMPT not in runner.done_kinds()  # still waiting for its turn
        # Other prompts are not held up by it either: the prompt lane keeps several
        # entries in flight.
        runner.started[ActionKind.PROMPT].clear()
        await outbox.record([act(ActionKind.REPORT)])
        await until(lambda: ActionKind.REPORT in runner.done_kinds(), timeout=1.0)
        runner.release(ActionKind.PROMPT)
        await until(lambda: ActionKind.PROMPT in runner.done_kinds())


@pytest.mark.parametrize(("gather", "batches"), [(0.1, [1, 2]), (0.0, [1, 1, 1])])
async def test_the_delete_lane_gathers_while_rounds_follow_each_other(
    outbox: InMemoryOutbox, runner: StubRunner, gather: float, batches: list[int]
) -> None:
    lane = Lane("delete", (Priority.DELETE,), batch=500, gather=gather, rounds=True)
    async with Running(outbox, runner, lanes=(lane,)):
        # A calm group's one deletion goes at once, without gathering.
        await outbox.record([act(ActionKind.DELETE)])
        await until(lambda: len(runner.done) == 1)
        # Right after a round, deletions arriving 20 ms apart are gathered into one.
        await outbox.record([act(ActionKind.DELETE)])
        await asyncio.sleep(0.02)
        await outbox.record([act(ActionKind.DELETE)])
        await until(lambda: len(runner.done) == 3)
    assert [len(b) for b in runner.batches] == batches


def test_the_production_delete_lane_gathers_in_rounds() -> None:
    [delete] = [lane for lane in LANES if Priority.DELETE in lane.priorities]
    assert delete.priorities == (Priority.DELETE,)
    assert delete.rounds
    assert 0 < delete.gather <= 0.25
    assert delete.batch >= 100  # at least one full deleteMessages call per round


# ----------------------------------------------------------------- stop and failures


async def test_stop_ends_run_promptly(outbox: InMemoryOutbox, runner: StubRunner) -> None:
    running = Running(outbox, runner, block_ms=200)
    async with running:
        await asyncio.sleep(0.05)  # every lane is blocked waiting for entries
        took = await running.stop(bound=1.0)
    assert took < 0.5  # at most one blocking take's wait, not a lane's timeout


async def test_stop_leaves_work_in_flight_for_another_consumer(
    clock: FakeClock, outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    runner.block(ActionKind.PROMPT)
    running = Running(outbox, runner)
    async with running:
        [prompt] = [act(ActionKind.PROMPT)]
        await outbox.record([prompt])
        await asyncio.wait_for(runner.started[ActionKind.PROMPT].wait(), 1.0)
        await running.stop(bound=1.0)  # the blocked prompt does not keep run() alive
    assert outbox.settled == []
    clock.advance(1.1)  # past the claim timeout
    [again] = await outbox.take("other", 10)
    assert again.action.key == prompt.key


async def test_entries_at_work_are_not_handed_to_another_consumer(
    clock: FakeClock, outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    runner.block(ActionKind.PROMPT)
    async with Running(outbox, runner, heartbeat=0.02):
        await outbox.record([act(ActionKind.PROMPT)])
        await asyncio.wait_for(runner.started[ActionKind.PROMPT].wait(), 1.0)
        for _ in range(3):  # three claim timeouts in all, each bridged by a heartbeat
            clock.advance(0.9)
            await asyncio.sleep(0.08)
            assert await outbox.take("other", 10) == []
        runner.release(ActionKind.PROMPT)
        await until(lambda: len(outbox.settled) == 1)


async def test_an_entry_taken_over_meanwhile_has_its_fence_lost_at_the_next_beat(
    clock: FakeClock, outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    """The worker was presumed dead (no extension reached Redis in time): once a beat
    finds the entry another consumer's, work on it stops (the gateway checks the fence)."""
    runner.block(ActionKind.PROMPT)
    async with Running(outbox, runner, heartbeat=0.02):
        await outbox.record([act(ActionKind.PROMPT)])
        await asyncio.wait_for(runner.started[ActionKind.PROMPT].wait(), 1.0)
        [fence] = runner.fences.values()
        assert fence.valid
        clock.advance(1.1)  # no beat in between: the claim lapsed
        [taken] = await outbox.take("other", 10)
        await until(lambda: not fence.valid)
        runner.release(ActionKind.PROMPT)
        await until(lambda: runner.done != [])
    assert await outbox.settle([taken]) == 1  # the live consumer's settle stands


async def test_a_fence_lapses_on_its_own_when_no_beat_confirms_the_claim(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    """A frozen process has no beats: its fences run out by the clock alone."""
    runner.block(ActionKind.PROMPT)
    async with Running(outbox, runner, heartbeat=60, claim_after=0.15):
        await outbox.record([act(ActionKind.PROMPT)])
        await asyncio.wait_for(runner.started[ActionKind.PROMPT].wait(), 1.0)
        [fence] = runner.fences.values()
        assert fence.valid
        await asyncio.sleep(0.15)
        assert not fence.valid
        runner.release(ActionKind.PROMPT)


async def test_an_unreachable_outbox_does_not_end_a_lane(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    outbox.available = False
    with capture_logs() as logs:
        async with Running(outbox, runner) as running:
            await asyncio.sleep(0.1)
            assert running.task is not None
            assert not running.task.done()
            outbox.available = True
            await outbox.record([act(ActionKind.DELETE), act(ActionKind.PROMPT)])
            await until(lambda: len(runner.done) == 2)
    unreachable = [e for e in logs if e["event"] == "outbox_unreachable"]
    assert {e["lane"] for e in unreachable} == {lane.name for lane in LANES}
    assert all(e["log_level"] == "warning" for e in unreachable)  # an outage, not a bug
    assert not [e for e in logs if e["event"] == "outbox_lane_failed"]


async def test_a_failing_batch_does_not_end_a_lane(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    runner.fail_next(ActionKind.DELETE)
    runner.fail_next(ActionKind.PROMPT)
    async with Running(outbox, runner):
        await outbox.record([act(ActionKind.DELETE), act(ActionKind.PROMPT)])
        await until(lambda: len(runner.batches) == 2)
        await outbox.record([act(ActionKind.DELETE), act(ActionKind.PROMPT)])
        await until(lambda: len(runner.done) == 2)
    assert sorted(runner.done_kinds()) == [ActionKind.DELETE, ActionKind.PROMPT]


# ---------------------------------------------------------------------------- drain


async def test_drain_carries_out_follow_ups_and_returns_the_settled_count(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    workers = OutboxWorkers(outbox, runner, "here")  # type: ignore[arg-type]
    runner.then[ActionKind.CHECK] = lambda: [act(ActionKind.DELETE)]
    await outbox.record([act(ActionKind.PROMPT), act(ActionKind.CHECK)])
    assert await workers.drain() == 3
    # Highest priority first, the CHECK's DELETE in a second round, then an empty take.
    assert [[a.kind for a in b] for b in runner.batches] == [
        [ActionKind.CHECK, ActionKind.PROMPT],
        [ActionKind.DELETE],
    ]
    assert outbox.entries() == []
    assert await workers.drain() == 0
    assert len(runner.batches) == 2  # nothing to take: the runner is not even called


async def test_drain_stops_when_nothing_is_handed_out(
    outbox: InMemoryOutbox, runner: StubRunner
) -> None:
    runner.settle = False  # a transient failure: left in the outbox for later
    workers = OutboxWorkers(outbox, runner, "here")  # type: ignore[arg-type]
    await outbox.record([act(ActionKind.DELETE)])
    assert await asyncio.wait_for(workers.drain(), 1.0) == 0
    assert len(runner.batches) == 1  # not handed out again within the claim timeout
    assert len(outbox.entries()) == 1


async def test_drain_is_bounded_by_its_rounds(outbox: InMemoryOutbox, runner: StubRunner) -> None:
    workers = OutboxWorkers(outbox, runner, "here")  # type: ignore[arg-type]
    runner.then[ActionKind.CHECK] = lambda: [act(ActionKind.CHECK)]  # never ends by itself
    await outbox.record([act(ActionKind.CHECK)])
    assert await workers.drain(rounds=4) == 4
    assert len(outbox.entries()) == 1


@pytest.fixture
async def _no_leftover_tasks() -> AsyncIterator[None]:
    yield
    current = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    assert left == []


@pytest.mark.usefixtures("_no_leftover_tasks")
async def test_run_leaves_no_task_behind(outbox: InMemoryOutbox, runner: StubRunner) -> None:
    runner.block(ActionKind.CHECK)
    async with Running(outbox, runner, heartbeat=0.01):
        await outbox.record([act(ActionKind.CHECK)])
        await asyncio.wait_for(runner.started[ActionKind.CHECK].wait(), 1.0)
