"""`gmbot` / `python -m gmbot`: run the bot and its operational commands."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from gmbot.config import ConfigError, Settings, load_settings, require_token

if TYPE_CHECKING:
    from gmbot.container import Application


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
    from gmbot.container import build_container
    from gmbot.db.migrate import upgrade
    from gmbot.runtime import resolve

    container = build_container(settings, command="migrate")
    try:
        await upgrade(await resolve(container.gateways.engine))
    finally:
        await _shutdown(container)
    print(f"database at {_safe_url(settings.database_url)} is at the latest revision")
    return 0


async def _check(settings: Settings) -> int:
    from gmbot.container import build_container
    from gmbot.runtime import resolve
    from gmbot.telegram.probe import describe_bot_api

    container = build_container(settings, command="check")
    gateways = container.gateways
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

        engine = await resolve(gateways.engine)
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return _safe_url(settings.database_url)

    async def redis() -> str:
        client = await resolve(gateways.redis)
        await client.ping()
        # Without REDIS_URL the client is an in-process stand-in (create_redis).
        return "embedded stand-in (single instance only)" if not settings.redis_url else "reachable"

    async def bot_api() -> str:
        require_token(settings)
        return await describe_bot_api(await resolve(gateways.bot), settings.telegram_api_url)

    try:
        await step("database", database)
        await step("redis", redis)
        await step("bot api", bot_api)
    finally:
        await _shutdown(container)
    return 0 if ok else 1


async def _webhook_admin(settings: Settings, register: bool) -> int:
    """Deploy steps. They keep the instances' shared record of what is registered
    (in Redis) true, so a later start neither skips nor repeats a registration."""
    from gmbot.container import build_container
    from gmbot.runtime import resolve

    if register and (not settings.webhook_url or not settings.secret):
        raise ConfigError("set-webhook needs WEBHOOK_URL and WEBHOOK_SECRET")
    container = build_container(settings, command="set-webhook" if register else "delete-webhook")
    try:
        registrar = await resolve(container.delivery.registrar)
        if register:
            await registrar.ensure(force=True)
            print(f"webhook set to {settings.webhook_target} (pending updates kept)")
        else:
            bot = await resolve(container.gateways.bot)
            await bot.delete_webhook(drop_pending_updates=False)
            await registrar.forget()
            print("webhook deleted (pending updates kept)")
    finally:
        await _shutdown(container)
    return 0


async def _shutdown(container: Application) -> None:
    closing = container.shutdown_resources()
    if inspect.isawaitable(closing):  # only once an async resource was opened
        await closing


def _safe_url(url: str) -> str:
    """The URL without its password, for printing."""
    head, sep, tail = url.partition("@")
    if not sep:
        return url
    scheme, _, cred = head.partition("://")
    user = cred.partition(":")[0]
    return f"{scheme}://{user}:***@{tail}"
