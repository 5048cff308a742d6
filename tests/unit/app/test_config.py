"""Configuration: defaults, validation messages naming the variable, production rules."""

from __future__ import annotations

import pytest

from gmbot.config import ConfigError, Environment, LogFormat, load_settings, require_token

BASE = {"_env_file": None}


def test_defaults_are_the_documented_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "PORT", "FAIL_MODE"):
        monkeypatch.delenv(name, raising=False)
    s = load_settings(**BASE)
    assert s.database_url == "sqlite+aiosqlite:///./gmbot.db"
    assert s.redis_url is None
    assert s.port == 8443
    assert (s.db_pool_size, s.db_max_overflow) == (20, 10)
    assert (s.verify_cache_ttl, s.verify_cache_jitter) == (600, 0.15)
    assert s.fail_mode.value == "open"
    assert s.webhook_path == "/webhook"
    assert s.effective_log_format is LogFormat.CONSOLE
    assert s.webhook_mode is False


def test_environment_variables_and_owner_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWNER_IDS", "1, 2,3")
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("LOG_FORMAT", "")  # empty means default
    s = load_settings(**BASE)
    assert s.owner_ids == frozenset({1, 2, 3})
    assert s.port == 9000


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"port": "http"}, "PORT"),
        ({"owner_ids": "1,abc"}, "OWNER_IDS"),
        ({"fail_mode": "maybe"}, "FAIL_MODE"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"redis_url": "http://x"}, "REDIS_URL"),
        ({"verify_cache_jitter": 2}, "VERIFY_CACHE_JITTER"),
        ({"log_level": "LOUD"}, "LOG_LEVEL"),
        ({"webhook_path": "hook"}, "WEBHOOK_PATH"),
    ],
)
def test_invalid_values_name_the_variable(overrides: dict[str, object], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(**BASE, **overrides)


def test_production_requires_postgres_and_redis() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL DATABASE_URL"):
        load_settings(**BASE, environment="production")
    with pytest.raises(ConfigError, match="REDIS_URL"):
        load_settings(**BASE, environment="production", database_url="postgresql+asyncpg://h/db")


def test_webhook_mode_requires_a_valid_secret() -> None:
    prod = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://h/db",
        "redis_url": "redis://h:6379/0",
        "webhook_url": "https://bot.example.com",
    }
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(**BASE, **prod)
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET"):
        load_settings(**BASE, **prod, webhook_secret="has spaces!")
    s = load_settings(**BASE, **prod, webhook_secret="ok_secret-1")
    assert s.webhook_mode
    assert s.environment is Environment.PRODUCTION
    assert s.webhook_target == "https://bot.example.com/webhook"
    assert s.effective_log_format is LogFormat.JSON


def test_token_required_with_a_helpful_message() -> None:
    with pytest.raises(ConfigError, match="@BotFather"):
        require_token(load_settings(**BASE, bot_token=""))
    with pytest.raises(ConfigError, match="looks wrong"):
        require_token(load_settings(**BASE, bot_token="nonsense"))
    require_token(load_settings(**BASE, bot_token="123:abc"))


def test_every_setting_is_documented_in_env_example() -> None:
    from pathlib import Path

    from gmbot.config import Settings

    example = (Path(__file__).resolve().parents[3] / ".env.example").read_text()
    names = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    names = {n.strip() for n in names if not n.startswith("#")}
    missing = {f.upper() for f in Settings.model_fields} - names
    assert missing == set(), f"add to .env.example: {sorted(missing)}"
