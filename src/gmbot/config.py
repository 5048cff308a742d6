"""Configuration from the environment and `.env`, validated once at start-up."""

from __future__ import annotations

import socket
from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

OFFICIAL_API_URL = "https://api.telegram.org"
REQUIRED_UPDATES = ("chat_member", "my_chat_member", "callback_query")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class FailMode(StrEnum):
    OPEN = "open"  # let the message through when membership cannot be determined
    CLOSED = "closed"  # treat the user as not subscribed


class LogFormat(StrEnum):
    JSON = "json"
    CONSOLE = "console"


class ConfigError(Exception):
    """A configuration problem worth one line to the operator, not a traceback."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `NAME=` in .env means "use the default"
        extra="ignore",
        case_sensitive=False,
    )

    bot_token: SecretStr = SecretStr("")
    telegram_api_url: str = OFFICIAL_API_URL
    telegram_timeout: float = Field(default=10.0, gt=0)  # seconds one Bot API call may take
    database_url: str = "sqlite+aiosqlite:///./gmbot.db"
    redis_url: str | None = None
    environment: Environment = Environment.DEVELOPMENT
    webhook_url: str | None = None
    webhook_path: str = "/webhook"
    webhook_secret: SecretStr | None = None
    webhook_secret_previous: SecretStr | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=8443, ge=1, le=65535)
    instance_id: str = Field(default_factory=socket.gethostname)
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    redis_max_connections: int = Field(default=50, ge=1)
    redis_namespace: str = "gmbot:"
    verify_cache_ttl: int = Field(default=600, ge=1)
    verify_cache_jitter: float = Field(default=0.15, ge=0, lt=1)
    negative_cache_ttl: int = Field(default=30, ge=1)
    group_cache_ttl: int = Field(default=3600, ge=1)
    admin_cache_ttl: int = Field(default=600, ge=1)
    owner_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    fail_mode: FailMode = FailMode.OPEN
    # "I've joined": Telegram is asked once per user per interval; a press within it
    # waits for the rest, so it is capped well under a callback query's answer time.
    recheck_interval: float = Field(default=5.0, ge=0, le=10)
    request_budget: float = Field(default=25.0, gt=0)  # seconds of work in one webhook request
    # Multi-instance delivery (see README "Running at scale").
    update_lease: float = Field(default=30.0, gt=0)  # claim on an update, renewed while handled
    update_done_ttl: int = Field(default=86400, ge=60)  # how long a handled update is remembered
    update_max_attempts: int = Field(default=5, ge=1)  # then it is a poison update
    duplicate_retry_after: int = Field(default=5, ge=1)  # Retry-After while another holds it
    leader_lease: float = Field(default=10.0, gt=0)  # polling leadership lease
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    # The outbox: decided actions, carried out by every instance's workers.
    # false: this instance only answers webhooks and leaves the outbox to the others.
    outbox_workers: bool = True
    outbox_claim_after: float = Field(default=3.0, gt=0)  # a silent consumer's entries move
    outbox_key_ttl: int = Field(default=86400, ge=60)  # how long an action key is remembered
    delete_gather: float = Field(default=0.1, ge=0, le=2)  # seconds to gather deletions
    # A transient failure (5xx, timeout, 429) puts the action back after a backoff that
    # doubles from OUTBOX_RETRY_BASE up to OUTBOX_RETRY_CAP seconds, any instance retrying.
    outbox_retry_base: float = Field(default=0.5, gt=0)
    outbox_retry_cap: float = Field(default=60.0, gt=0)
    outbox_max_attempts: int = Field(default=60, ge=1)  # then given up on, audited, counted
    # GMBot's mutes against Telegram: intents left unconfirmed, records without a restriction.
    reconcile_interval: float = Field(default=30.0, gt=0)  # seconds between sweeps (one fleet-wide)
    reconcile_after: float = Field(default=60.0, gt=0)  # an intent older than this is repaired
    reconcile_batch: int = Field(default=50, ge=1)  # records looked at per sweep
    # Dependencies: after a Redis or database failure, updates are answered 503 until a
    # readiness check passes again (asked at most every DEPENDENCY_RECHECK seconds).
    dependency_recheck: float = Field(default=1.0, gt=0)
    body_timeout: float = Field(default=10.0, gt=0)  # seconds to read a webhook body (slow senders)
    # Raid mode (per group: /settings raid auto|on|off and the auto threshold).
    raid_window: float = Field(default=60.0, gt=0)  # threshold counts members gated in it
    raid_calm: float = Field(default=60.0, gt=0)  # a raid ends after this long with nobody gated
    raid_edit_every: float = Field(default=3.0, gt=0)  # the shared notice's refresh interval
    # Telegram's flood limits, shared by every instance (token buckets: burst + refill).
    rate_writes_per_second: float = Field(default=25.0, gt=0)  # Telegram: ~30/s per bot
    rate_writes_burst: int = Field(default=5, ge=1)
    rate_reads_per_second: float = Field(default=80.0, gt=0)
    rate_reads_burst: int = Field(default=20, ge=1)
    # Burst + a minute's refill is the most one group gets in any minute (Telegram: 20).
    rate_group_messages_per_minute: float = Field(default=10.0, gt=0)
    rate_group_burst: int = Field(default=10, ge=1)
    rate_private_per_second: float = Field(default=1.0, gt=0)
    rate_private_burst: int = Field(default=3, ge=1)
    log_level: str = "INFO"
    log_format: LogFormat | None = None  # default: json in production, console otherwise
    auto_migrate: bool = True

    @field_validator("owner_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError:
                raise ValueError("must be numeric Telegram user ids, comma separated") from None
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("telegram_api_url", "webhook_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _db(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be sqlite+aiosqlite:///path.db or postgresql+asyncpg://user:pass@host/db"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @model_validator(mode="after")
    def _production_needs_shared_state(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            if not self.database_url.startswith("postgresql"):
                raise ValueError(
                    "ENVIRONMENT=production needs a PostgreSQL DATABASE_URL "
                    "(SQLite is for a single development machine)"
                )
            if not self.redis_url:
                raise ValueError(
                    "ENVIRONMENT=production needs REDIS_URL "
                    "(the embedded Redis stand-in is not shared between instances)"
                )
        if self.webhook_mode and not self.secret:
            raise ValueError("webhook mode needs WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -)")
        secret = self.secret
        if secret and not _valid_secret(secret):
            raise ValueError("WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        return self

    # ------------------------------------------------------------------ derived

    @property
    def token(self) -> str:
        return self.bot_token.get_secret_value()

    @property
    def secret(self) -> str | None:
        return self.webhook_secret.get_secret_value() if self.webhook_secret else None

    @property
    def previous_secret(self) -> str | None:
        prev = self.webhook_secret_previous
        return prev.get_secret_value() if prev else None

    @property
    def webhook_mode(self) -> bool:
        return self.environment is Environment.PRODUCTION and bool(self.webhook_url)

    @property
    def webhook_target(self) -> str:
        return f"{self.webhook_url}{self.webhook_path}"

    @property
    def effective_log_format(self) -> LogFormat:
        if self.log_format is not None:
            return self.log_format
        if self.environment is Environment.PRODUCTION:
            return LogFormat.JSON
        return LogFormat.CONSOLE


def _valid_secret(secret: str) -> bool:
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return 1 <= len(secret) <= 256 and set(secret) <= allowed


def load_settings(**overrides: object) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "configuration"
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"{name}: {msg}" if err["loc"] else msg)
        raise ConfigError("invalid configuration: " + "; ".join(lines)) from None


def require_token(settings: Settings) -> None:
    if not settings.token:
        raise ConfigError(
            "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot), "
            "then put BOT_TOKEN=<token> in .env (or run `make demo` to see GMBot work "
            "without a token)."
        )
    head, _, tail = settings.token.partition(":")
    if not head.isdigit() or not tail:
        raise ConfigError(
            "BOT_TOKEN looks wrong: expected <digits>:<secret> as @BotFather gives it"
        )
