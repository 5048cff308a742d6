"""The PendingInputs contract, run on the in-memory fake and on RedisPendingInputs over
fakeredis: one awaited answer per user, replaced, dropped once, gone after its ttl."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from gmbot.cache.pending_inputs import RedisPendingInputs, decode, encode
from gmbot.domain.ports import InputKind, PendingInput, PendingInputs
from tests.fakes.clock import FakeClock
from tests.fakes.pending_inputs import InMemoryPendingInputs

CHAT, OTHER_CHAT, USER, OTHER_USER = -1001234567890123, -1002, 42, 43
CHANNEL = PendingInput(CHAT, InputKind.CHANNEL)
TEXT = PendingInput(OTHER_CHAT, InputKind.SETTING, "text")


class PendingInputsContract:
    async def test_nothing_awaited_at_first(self, inputs: PendingInputs) -> None:
        assert await inputs.awaited(USER) is None
        assert await inputs.drop(USER) is None

    async def test_awaited_until_dropped_once(self, inputs: PendingInputs) -> None:
        await inputs.expect(USER, CHANNEL, 600)
        assert await inputs.awaited(USER) == CHANNEL
        assert await inputs.awaited(USER) == CHANNEL  # reading does not consume it
        assert await inputs.drop(USER) == CHANNEL
        assert await inputs.drop(USER) is None
        assert await inputs.awaited(USER) is None

    async def test_one_per_user_the_latest_wins(self, inputs: PendingInputs) -> None:
        await inputs.expect(USER, CHANNEL, 600)
        await inputs.expect(OTHER_USER, CHANNEL, 600)
        await inputs.expect(USER, TEXT, 600)
        assert await inputs.awaited(USER) == TEXT
        assert await inputs.awaited(OTHER_USER) == CHANNEL


class TestInMemoryPendingInputs(PendingInputsContract):
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    @pytest.fixture
    def inputs(self, clock: FakeClock) -> PendingInputs:
        return InMemoryPendingInputs(clock)

    async def test_gone_after_its_ttl(self, clock: FakeClock) -> None:
        inputs = InMemoryPendingInputs(clock)
        await inputs.expect(USER, CHANNEL, 600)
        clock.advance(599)
        assert await inputs.awaited(USER) == CHANNEL
        clock.advance(1)
        assert await inputs.awaited(USER) is None


class TestRedisPendingInputs(PendingInputsContract):
    @pytest.fixture
    def inputs(self, redis: Redis) -> PendingInputs:
        return RedisPendingInputs(redis, namespace="t")

    async def test_key_and_ttl(self, redis: Redis) -> None:
        await RedisPendingInputs(redis, namespace="t").expect(USER, TEXT, 600)
        assert 599 <= await redis.ttl(f"t:panel_input:{USER}") <= 600


@pytest.mark.parametrize(
    "raw", [None, b"", b"not json", b"[]", b'{"chat": 1}', b'{"chat": "1", "kind": "channel",'
    b' "key": ""}', b'{"chat": 1, "kind": "nope", "key": ""}', b'{"chat": true, "kind":'
    b' "channel", "key": ""}', b'{"chat": 1, "kind": "setting", "key": 5}'],
)  # fmt: skip
def test_decode_refuses_what_encode_did_not_write(raw: bytes | None) -> None:
    assert decode(raw) is None


def test_decode_reads_what_encode_wrote() -> None:
    for pending in (CHANNEL, TEXT, PendingInput(CHAT, InputKind.EXEMPT)):
        assert decode(encode(pending).encode()) == pending
