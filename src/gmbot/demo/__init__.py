"""`gmbot demo` / `python -m gmbot.demo`: see GMBot work, offline, in a few seconds.

Starts the Bot API emulator in this process on a free port, creates a bot, four people, a
supergroup and a channel, then runs the REAL bot as a child process (`python -m gmbot run`:
long polling, SQLite in a temporary directory, the embedded Redis stand-in) against it and
plays a story: the admin protects the group; a non-subscriber posts and is removed, muted and
prompted; she joins the channel and is unmuted; a subscriber posts freely; the admin switches
the action to kick in the inline settings panel, and the next non-subscriber is removed from
the group (and may come back). Every step waits for what can be observed in the emulator
(with a timeout) and prints what each party saw and the Bot API calls the bot made. Exit
status 0 when every step happened, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from gmbot.demo.process import BotProcess
from gmbot.demo.story import StepFailed, Story, build_world, play


def find_spec() -> Path:
    """api.json to check requests against: $GMBOT_API_SPEC, else the emulator's bundled one."""
    from bot_api_emulator import BUNDLED_SPEC

    return Path(os.environ.get("GMBOT_API_SPEC") or BUNDLED_SPEC)


def emulator_main(argv: list[str]) -> int:
    """`gmbot emulator`: the emulator's own command line (gmbot reaches it only from here)."""
    from bot_api_emulator import main as serve_emulator

    code: int = serve_emulator(argv)
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gmbot demo",
        description="Run GMBot against a local Telegram Bot API emulator and narrate a story.",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="also show the bot's log")
    p.add_argument(
        "--spec",
        type=Path,
        help="Bot API api.json, to check every request the bot makes "
        "(default: $GMBOT_API_SPEC or the emulator's bundled Bot API spec)",
    )
    return p


def _out(line: str) -> None:
    print(line, flush=True)


async def run_demo(verbose: bool = False, spec: Path | None = None) -> int:
    from bot_api_emulator import EmulatorServer

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gmbot-demo-") as tmp:
        workdir = Path(tmp)
        async with EmulatorServer(port=0, spec_path=spec) as emu:
            client = emu.client
            cast = await build_world(client)
            _out("GMBot demo: the real bot against a local Telegram Bot API emulator")
            _out("(no token, no network: Telegram is played by bot_api_emulator)")
            _out("")
            checks = f"every request checked against {spec.name}" if spec else "no spec checks"
            _out(f"  emulator  {emu.base_url}  ({checks})")
            _out("  chats     supergroup “Demo Group”, channel “Demo News” (@demo_news)")
            _out("  people    Ada (creator of both), Nora (group member, not subscribed),")
            _out("            Max (group member, subscribed to @demo_news)")
            _out("  bot       @gmbot_demo_bot, admin of the group (delete + restrict rights)")
            _out("            and of the channel")
            env = {
                "BOT_TOKEN": cast.bot.token,
                "TELEGRAM_API_URL": emu.base_url,
                "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'gmbot.db'}",
                "ENVIRONMENT": "development",
                "LOG_FORMAT": "console",
                "LOG_LEVEL": "INFO",
                "INSTANCE_ID": "demo",
            }

            def show_log(line: str) -> None:
                if verbose:
                    _out(f"    [bot log] {line}")

            bot = BotProcess(env, workdir, on_line=show_log)
            story = Story(client, cast, bot, _out)
            failure: str | None = None
            await bot.start()
            try:
                await play(story)
                if spec is not None:
                    problems = await client.conformance_errors()
                    if problems:
                        listed = "; ".join(
                            f"{p.method}.{p.parameter}: {p.problem} ({p.detail})" for p in problems
                        )
                        failure = f"the bot sent requests the Bot API does not accept: {listed}"
            except StepFailed as err:
                failure = f"step “{story.step_title}” did not happen: {err}"
            except Exception as err:  # an emulator refusal or a crash of the story itself
                failure = f"step “{story.step_title}” failed: {type(err).__name__}: {err}"
            finally:
                _out("")
                _out("▶ Stopping the bot (SIGTERM)")
                code = await bot.stop()
                _out(f"  GMBot exited with code {code}")
            if failure is None and code != 0:
                failure = f"the bot exited with code {code} on SIGTERM"
            if failure is not None:
                _out("")
                _out(f"✗ demo FAILED: {failure}")
                if not verbose:
                    _out("  the bot's last log lines:")
                    for line in bot.output(last=25).splitlines():
                        _out(f"    {line}")
                return 1
    _out("")
    _out(
        f"✓ demo finished in {time.monotonic() - started:.1f}s: "
        f"all {story.steps_done} steps happened as expected"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    spec: Path | None = args.spec
    if spec is not None and not spec.is_file():
        print(f"gmbot demo: no such file: {spec}", file=sys.stderr)
        return 2
    if spec is None:
        spec = find_spec()
    try:
        return asyncio.run(run_demo(verbose=args.verbose, spec=spec))
    except KeyboardInterrupt:
        return 130


__all__ = ["emulator_main", "main", "run_demo"]
