"""The rate limiter's contract on fakeredis, and what needs no Redis at all."""

from __future__ import annotations

import pytest

from gmbot.cache.rate_limiter import RESERVE, RateLimits
from gmbot.config import Settings
from gmbot.domain.actions import Priority
from gmbot.telegram.flood import MESSAGE_METHODS, READ_METHODS, WRITE_METHODS, limits_for
from tests.unit.cache.rate_limiter_contract import RateLimiterContract


@pytest.fixture
def namespace() -> str:
    return "t:"


class TestRateLimiter(RateLimiterContract):
    pass


def test_the_settings_defaults_are_the_limits_defaults() -> None:
    assert RateLimits.from_settings(Settings()) == RateLimits()
    limits = RateLimits.from_settings(Settings(rate_group_burst=5, rate_writes_per_second=30))
    assert (limits.group_burst, limits.writes_per_second) == (5, 30.0)


def test_a_group_gets_at_most_20_messages_in_a_minute_by_default() -> None:
    capacity, per_second = RateLimits().bucket("chat:-100123")
    assert capacity + per_second * 60 <= 20
    assert RateLimits().bucket("chat:@news_channel") == (capacity, per_second)
    assert RateLimits().bucket("chat:42") == (3, 1.0)


def test_every_limit_the_gateway_names_is_known() -> None:
    for method in WRITE_METHODS | READ_METHODS | MESSAGE_METHODS:
        for chat in (-1001, 42):
            for limit in limits_for(method, chat).limits:
                RateLimits().bucket(limit)
    with pytest.raises(ValueError, match="unknown rate limit"):
        RateLimits().bucket("everything")


def test_every_priority_has_a_reserve_and_deletions_none() -> None:
    assert set(RESERVE) == set(Priority)
    assert RESERVE[Priority.DELETE] == 0
    assert RESERVE[Priority.MUTE] > 0  # a raid's mutes never starve its deletions
    ordered = [RESERVE[p] for p in sorted(Priority)]
    assert ordered == sorted(ordered)
