"""Running the emulator: in-process for tests (EmulatorServer) or as a program (main)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from .client import EmulatorClient
from .control import control_errors, world_routes
from .core import BotSpec, Emulator
from .observe import observe_routes
from .server import bot_routes
from .settings import Settings
from .spec import BUNDLED_SPEC, Spec
from .state import TOKEN_RE, State


def build_app(emu: Emulator) -> web.Application:
    # Large client_max_size: bots may upload files; the emulator only notes their presence.
    app = web.Application(middlewares=[control_errors], client_max_size=64 * 1024 * 1024)
    app.add_routes(world_routes(emu))
    app.add_routes(observe_routes(emu))
    app.add_routes(bot_routes(emu))

    async def on_shutdown(_: web.Application) -> None:
        await emu.close()

    # on_shutdown runs before aiohttp waits for open requests, so long polls end at once.
    app.on_shutdown.append(on_shutdown)
    return app


def parse_bot(value: str) -> BotSpec:
    """``TOKEN`` or ``TOKEN,username``."""
    token, _, username = value.partition(",")
    match = TOKEN_RE.match(token)
    if not match:
        raise argparse.ArgumentTypeError(f"not a bot token: {token!r}")
    return BotSpec(token, username or f"emulated_{match.group(1)}_bot")


class EmulatorServer:
    """The emulator on a local port, with a ready control client::

    async with EmulatorServer(spec_path=SPEC) as emu:
        bot = Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        spec_path: str | Path | None = None,
        tokens: list[str] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.host = host
        self.port = port
        spec = Spec.load(spec_path) if spec_path else None
        bots = [parse_bot(token) for token in tokens or []]
        self.emulator = Emulator(settings, spec, bots)
        self._runner: web.AppRunner | None = None
        self.client = EmulatorClient(self.base_url)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state(self) -> State:
        return self.emulator.state

    @property
    def settings(self) -> Settings:
        return self.emulator.settings

    async def start(self) -> None:
        self._runner = web.AppRunner(
            build_app(self.emulator), access_log=None, shutdown_timeout=2.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=2048)
        await site.start()
        if self.port == 0:
            self.port = self._runner.addresses[0][1]
        self.client = EmulatorClient(self.base_url)

    async def stop(self) -> None:
        await self.client.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot-api-emulator", description="Local Telegram Bot API emulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--spec",
        default=str(BUNDLED_SPEC),
        help="api.json to check every request against (default: the bundled Bot API spec)",
    )
    parser.add_argument(
        "--no-spec", action="store_true", help="accept requests without parameter checking"
    )
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        help="bot token to accept, as TOKEN or TOKEN,username (repeatable)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="initial setting, e.g. --set webhook_timeout=5 (repeatable)",
    )
    return parser


async def _serve(args: argparse.Namespace) -> None:
    settings = Settings()
    values: dict[str, Any] = {}
    for item in args.set:
        name, _, value = item.partition("=")
        values[name] = value.lower() == "true" if value.lower() in ("true", "false") else value
    settings.update(values)
    server = EmulatorServer(
        args.host,
        args.port,
        spec_path=None if args.no_spec else args.spec,
        tokens=args.token,
        settings=settings,
    )
    await server.start()
    print(f"Telegram Bot API emulator listening on {server.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    for token in args.token:
        try:
            parse_bot(token)
        except argparse.ArgumentTypeError as error:
            parser.error(str(error))
    run: Any = asyncio.run
    with contextlib.suppress(ImportError):
        import uvloop

        run = uvloop.run
    try:
        run(_serve(args))
    except KeyError as error:
        print(f"unknown setting {error}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"bad setting value: {error}", file=sys.stderr)
        return 2
    return 0
