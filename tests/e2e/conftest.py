"""The `harness` fixture runs each end-to-end scenario through both doors.

Each scenario's own assertions hold for both doors; on top of that, once both
doors have run a scenario and passed, their transcripts must be equal: the same
HTTP answer, the same outcome and the same Bot API calls for every delivery (inside
the request, and by the workers draining the outbox after it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import (
    DOORS,
    SECRET,
    Delivery,
    Harness,
    make_settings,
    standard_world,
    start_harness,
)
from tests.fakes.telegram import TelegramWorld

# Scenario (node id without the door) -> (door, transcript) of the first door to pass.
_transcripts: dict[str, tuple[str, list[Delivery]]] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_passed] = report.passed
    return report


_passed = pytest.StashKey[bool]()


def scenario_of(node: pytest.Item, door: str) -> str:
    name, _, ids = node.nodeid.partition("[")
    rest = [part for part in ids.rstrip("]").split("-") if part != door]
    return f"{name}[{'-'.join(rest)}]" if rest else name


def compare_doors(node: pytest.Item, door: str, transcript: list[Delivery]) -> None:
    scenario = scenario_of(node, door)
    other = _transcripts.setdefault(scenario, (door, transcript))
    if other[0] == door:
        return
    other_door, theirs = other
    for ours, their in zip(transcript, theirs, strict=False):
        assert ours == their, (
            f"update {ours.update_id}: the {door} door and the {other_door} door differ:\n"
            f"  {door}: {ours}\n  {other_door}: {their}\n"
            f"  the workers' calls only through the {door} door: {_only(ours, their)}\n"
            f"  the workers' calls only through the {other_door} door: {_only(their, ours)}"
        )
    assert len(transcript) == len(theirs)


def _only(one: Delivery, other: Delivery) -> list[Any]:
    left = Counter(one.worked)
    left.subtract(Counter(other.worked))
    return [call for call, n in left.items() if n > 0]


@pytest.fixture(params=DOORS)
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    world = TelegramWorld()
    standard_world(world)
    h = await start_harness(make_settings(tmp_path, webhook_secret=SECRET), world)
    try:
        await h.open_door(request.param)
        yield h
    finally:
        await h.close()
    # Every request of every end-to-end test must exist in the real Bot API.
    assert h.session.conformance_errors == []
    if request.node.stash.get(_passed, False):
        compare_doors(request.node, request.param, h.transcript)
