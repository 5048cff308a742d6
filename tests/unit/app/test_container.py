"""The composition root: what the unit tests' fakes cover, how commands size their
pools, and a start that fails leaving nothing open."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from dependency_injector import providers

from gmbot.config import ConfigError, load_settings
from gmbot.container import build_container
from gmbot.container.resources import Pools
from gmbot.domain.telegram import TelegramUnavailable
from gmbot.runtime import start
from tests.fakes.gateways import FakeGateways
from tests.fakes.telegram_gateway import FakeTelegramGateway
from tests.unit.services.support import unit_settings

RESOURCES = ("engine", "redis", "bot", "identity")


def test_the_fake_gateways_cover_every_service() -> None:
    settings = unit_settings()
    container = build_container(settings)
    container.gateways.override(FakeGateways(settings=settings))
    for name, provider in container.services.providers.items():
        if name not in ("bundle", "gateways", "settings", "metrics"):
            provider()
    # No service reached PostgreSQL, Redis or the Bot API.
    assert [r for r in RESOURCES if getattr(container.gateways, r).initialized] == []


def test_one_off_commands_hold_a_connection_or_two_named_after_them() -> None:
    assert Pools.for_command("check") == Pools(1, 0, 2, "gmbot:check", "")
    settings = load_settings(_env_file=None, instance_id="x" * 80, db_pool_size=7)
    pools = Pools.for_instance(settings)
    assert pools.db_size == 7
    assert pools.db_name == ("gmbot:" + "x" * 80)[:63]
    assert pools.redis_name == "x" * 80


async def test_a_start_that_fails_closes_what_it_opened(tmp_path: Path) -> None:
    settings = load_settings(
        _env_file=None,
        bot_token="1:TEST",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'gmbot.db'}",
        redis_url=None,
    )
    container = build_container(settings)
    telegram = FakeTelegramGateway()
    telegram.fail("get_me", TelegramUnavailable("Bad Gateway"))
    container.gateways.telegram.override(providers.Object(telegram))
    container.gateways.redis.override(providers.Object(fakeredis.FakeAsyncRedis()))
    with pytest.raises(ConfigError, match="refused the token or did not answer"):
        await start(settings, container)
    assert (tmp_path / "gmbot.db").exists()  # the engine was opened, and migrated
    assert not container.gateways.engine.initialized
