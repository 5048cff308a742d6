"""The emulator as a program: ``python -m bot_api_emulator`` serves until SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import aiohttp
import pytest

pytestmark = pytest.mark.subprocess


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_serves_until_sigterm() -> None:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot_api_emulator",
        "--port",
        str(port),
        "--token",
        "4242:SECRET,cli_test_bot",
        "--set",
        "webhook_timeout=3",
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 20)
        assert f"127.0.0.1:{port}" in line.decode()
        async with aiohttp.ClientSession() as session:
            base = f"http://127.0.0.1:{port}"
            async with session.get(f"{base}/bot4242:SECRET/getMe") as response:
                me = await response.json()
            assert me["result"]["username"] == "cli_test_bot"
            async with session.get(f"{base}/_emulator/settings") as response:
                assert (await response.json())["webhook_timeout"] == 3.0
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
