"""`python -m gmbot.demo` (the future `gmbot demo`), run as a user would run it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from gmbot.demo.process import bot_env
from tests.e2e_emulator.helpers import spec_env

pytestmark = pytest.mark.subprocess


def run_demo(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gmbot.demo", *args],
        cwd=cwd,
        env=bot_env(spec_env()),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_demo_plays_the_story_and_exits_0(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_demo(tmp_path)
    elapsed = time.monotonic() - started
    out = result.stdout
    assert result.returncode == 0, f"demo failed:\n{out}\n{result.stderr}"
    assert elapsed < 60
    for expected in (
        "[Ada → Demo Group] /protect @demo_news",
        "[Ada sees] GMBot: 🛡 Protection on: members must be subscribed to @demo_news.",
        "[Nora → Demo Group] ",
        "[bot → Telegram] deleteMessage",
        "[bot → Telegram] restrictChatMember chat=“Demo Group” user=Nora can_send_messages=false",
        "[Nora sees] GMBot: Nora, to write in this group please join @demo_news",
        "[Join @demo_news → https://t.me/demo_news]",
        "[Nora tries to write again] Telegram refuses",
        "[Nora sees] alert: You have not joined @demo_news yet.",
        "[Nora → @demo_news] joins the channel",
        "restrictChatMember chat=“Demo Group” user=Nora can_send_messages=true",
        "[Max → Demo Group] Welcome, Nora!",
        "[Max sees] his message stays",
        "[Ada → Demo Group] /settings",
        "[Ada → GMBot] presses “Action:…”",
        "editMessageText",
        "Action: kick",
        "[Olek → Demo Group] Free crypto for everyone!!",
        "banChatMember chat=“Demo Group” user=Olek",
        "unbanChatMember chat=“Demo Group” user=Olek",
        "[Olek sees] his message is gone and he is out of the group (status left)",
        "[Olek → Demo Group] joins again",
        "GMBot exited with code 0",
        "✓ demo finished",
    ):
        assert expected in out, f"{expected!r} missing from the transcript:\n{out}"
    assert "[bot log]" not in out  # only with --verbose
    assert "demo FAILED" not in out
    assert list(tmp_path.iterdir()) == []  # the database lived in a temporary directory


def test_demo_verbose_shows_the_bot_log(tmp_path: Path) -> None:
    result = run_demo(tmp_path, "--verbose")
    assert result.returncode == 0, f"demo failed:\n{result.stdout}\n{result.stderr}"
    assert "[bot log]" in result.stdout
    assert "user_muted" in result.stdout
    assert "user_unmuted" in result.stdout
