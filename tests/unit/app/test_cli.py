"""The `gmbot` command: one-line errors instead of tracebacks, migrate, check."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from gmbot.cli import _safe_url, main


def run_cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_"))}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "gmbot", *args],
        cwd=tmp_path,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.subprocess
def test_run_without_token_explains_in_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", BOT_TOKEN="")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BOT_TOKEN is not set" in lines[0]
    assert "@BotFather" in lines[0]


@pytest.mark.subprocess
def test_invalid_configuration_is_one_line(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "run", BOT_TOKEN="1:x", PORT="abc")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("gmbot: invalid configuration: PORT")


def test_migrate_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "m.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    assert main(["migrate"]) == 0
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master")}
    assert {"protected_groups", "channel_links", "restrictions", "audit_log"} <= tables


def test_check_reports_each_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("TELEGRAM_API_URL", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert "ok    database" in out
    assert "ok    redis: embedded stand-in" in out
    assert "FAIL  bot api" in out


def test_safe_url_hides_the_password() -> None:
    assert _safe_url("postgresql+asyncpg://u:pw@h/db") == "postgresql+asyncpg://u:***@h/db"
    assert _safe_url("sqlite+aiosqlite:///x.db") == "sqlite+aiosqlite:///x.db"


@pytest.mark.subprocess
def test_emulator_and_demo_take_their_own_options(tmp_path: Path) -> None:
    emulator = run_cli(tmp_path, "emulator", "--help")
    assert emulator.returncode == 0, emulator.stderr
    assert "--port" in emulator.stdout
    demo = run_cli(tmp_path, "demo", "--help")
    assert demo.returncode == 0, demo.stderr
    assert "--verbose" in demo.stdout


@pytest.mark.subprocess
async def test_set_and_delete_webhook_deploy_steps(tmp_path: Path) -> None:
    from bot_api_emulator import EmulatorServer

    async with EmulatorServer(port=0) as emu:
        bot = await emu.client.create_bot("gm_cli_bot")
        env = {
            "BOT_TOKEN": bot.token,
            "TELEGRAM_API_URL": emu.base_url,
            "WEBHOOK_URL": "http://127.0.0.1:9",
            "WEBHOOK_SECRET": "cli_secret",
        }

        async def webhook_url() -> str:
            async with aiohttp.ClientSession() as http:
                url = f"{emu.base_url}/bot{bot.token}/getWebhookInfo"
                async with http.post(url) as response:
                    return str((await response.json())["result"]["url"])

        done = await asyncio.to_thread(run_cli, tmp_path, "set-webhook", **env)
        assert done.returncode == 0, done.stderr
        assert await webhook_url() == "http://127.0.0.1:9/webhook"
        done = await asyncio.to_thread(run_cli, tmp_path, "delete-webhook", **env)
        assert done.returncode == 0, done.stderr
        assert await webhook_url() == ""
        missing = await asyncio.to_thread(
            run_cli, tmp_path, "set-webhook", **{**env, "WEBHOOK_SECRET": ""}
        )
        assert missing.returncode == 2
        assert "needs WEBHOOK_URL and WEBHOOK_SECRET" in missing.stderr
