"""GMBot's classification of Bot API methods into flood limits is the one the emulator
models (both follow Telegram's bots FAQ; GMBot may not import the emulator, so each
keeps its own table, and this keeps them the same)."""

from __future__ import annotations

from bot_api_emulator import ratelimit
from gmbot.telegram.flood import READ_METHODS, WRITE_METHODS


def test_writes_and_reads_are_the_emulators() -> None:
    assert {m.lower() for m in WRITE_METHODS} == ratelimit.WRITE_METHODS
    assert {m.lower() for m in READ_METHODS} == ratelimit.READ_METHODS
