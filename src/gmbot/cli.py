"""`gmbot` / `python -m gmbot`: run the bot and its operational commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence

from gmbot.config import ConfigError, Settings, load_settings, require_token


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gmbot", description="GMBot: gate a Telegram group on channel membership."
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (default): webhook in production, else polling")
    sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    sub.add_parser("check", help="validate configuration and reach database, Redis, Bot API")
    sub.add_parser("set-webhook", help="register WEBHOOK_URL + WEBHOOK_PATH with Telegram")
    sub.add_parser("delete-webhook", help="remove the webhook (pending updates are kept)")
    emu = sub.add_parser("emulator", help="serve the local Bot API emulator")
    emu.add_argument("rest", nargs=argparse.REMAINDER)
    demo = sub.add_parser(
        "demo", help="see GMBot work offline: the real bot against the local Bot API emulator"
    )
    demo.add_argument("rest", nargs=argparse.REMAINDER)
    return p


# Subcommands with options of their own get their arguments unparsed (argparse's
# REMAINDER does not take arguments that start with "-").
PASS_THROUGH = ("emulator", "demo")


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] and given[0] in PASS_THROUGH:
        args = argparse.Namespace(command=given[0], rest=given[1:])
    else:
        args = _parser().parse_args(given)
    command = args.command or "run"
    try:
        if command == "emulator":
            from gmbot.demo import emulator_main

            return emulator_main(list(args.rest))
        if command == "demo":
            from gmbot.demo import main as demo_main

            return demo_main(list(args.rest))
        settings = load_settings()
        if command == "migrate":
            return _run(_migrate(settings))
        if command == "check":
            return _run(_check(settings))
        require_token(settings)
        if command in ("set-webhook", "delete-webhook"):
            return _run(_webhook_admin(settings, command == "set-webhook"))
        return _run(_serve(settings))
    except ConfigError as err:
        print(f"gmbot: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(coro: Awaitable[int]) -> int:
    try:
        import uvloop

        return uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:  # pragma: no cover - uvloop is absent on some platforms
        return asyncio.run(coro)  # type: ignore[arg-type]


def _logging(settings: Settings) -> None:
    from gmbot.logging import configure_logging

    configure_logging(settings.log_level, settings.effective_log_format, settings.instance_id)


async def _serve(settings: Settings) -> int:
    from gmbot.container import build_container
    from gmbot.runtime import serve

    _logging(settings)
    await serve(settings, build_container(settings))
    return 0


async def _migrate(settings: Settings) -> int:
    from gmbot.db.engine import create_engine
    from gmbot.db.migrate import upgrade

    engine = create_engine(
        settings.database_url, pool_size=1, max_overflow=0, application_name="gmbot:migrate"
    )
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print(f"database at {_safe_url(settings.database_url)} is at the latest revision")
    return 0


async def _check(settings: Settings) -> int:
    from gmbot.cache.redis_client import create_redis
    from gmbot.db.engine import create_engine
    from gmbot.telegram.probe import probe_bot_api

    ok = True

    async def step(name: str, fn: Callable[[], Awaitable[str]]) -> None:
        nonlocal ok
        try:
            print(f"ok    {name}: {await fn()}")
        except Exception as exc:
            ok = False
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}")

    print(
        f"ok    configuration: environment={settings.environment.value}, mode="
        f"{'webhook' if settings.webhook_mode else 'polling'}, instance={settings.instance_id}"
    )

    async def database() -> str:
        from sqlalchemy import text

        engine = create_engine(
            settings.database_url, pool_size=1, max_overflow=0, application_name="gmbot:check"
        )
        try:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        finally:
            await engine.dispose()
        return _safe_url(settings.database_url)

    async def redis() -> str:
        client, embedded = create_redis(settings.redis_url, max_connections=2)
        try:
            await client.ping()
        finally:
            await client.aclose()
        return "embedded stand-in (single instance only)" if embedded else "reachable"

    async def bot_api() -> str:
        require_token(settings)
        return await probe_bot_api(settings.telegram_api_url, settings.token)

    await step("database", database)
    await step("redis", redis)
    await step("bot api", bot_api)
    return 0 if ok else 1


async def _webhook_admin(settings: Settings, register: bool) -> int:
    """Deploy steps. They keep the instances' shared record of what is registered
    (in Redis) true, so a later start neither skips nor repeats a registration."""
    from gmbot.bot.dispatcher import ALLOWED_UPDATES
    from gmbot.cache.redis_client import create_redis
    from gmbot.delivery.webhook_setup import WebhookRegistrar, webhook_config
    from gmbot.telegram.probe import bot_for

    if register and (not settings.webhook_url or not settings.secret):
        raise ConfigError("set-webhook needs WEBHOOK_URL and WEBHOOK_SECRET")
    bot = bot_for(settings.telegram_api_url, settings.token)
    redis, _embedded = create_redis(settings.redis_url, max_connections=2)
    config = webhook_config(
        settings.webhook_target if settings.webhook_url else "",
        settings.secret or "",
        ALLOWED_UPDATES,
        settings.webhook_max_connections,
    )
    registrar = WebhookRegistrar(bot, redis, config, namespace=settings.redis_namespace)
    try:
        if register:
            await registrar.ensure(force=True)
            print(f"webhook set to {settings.webhook_target} (pending updates kept)")
        else:
            await bot.delete_webhook(drop_pending_updates=False)
            await registrar.forget()
            print("webhook deleted (pending updates kept)")
    finally:
        await bot.session.close()
        await redis.aclose()
    return 0


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, cred = head.partition("://")
    user = cred.partition(":")[0]
    return f"{scheme}://{user}:***@{tail}"
