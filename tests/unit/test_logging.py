"""The real logging configuration: one format for structlog and the stdlib's loggers."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from gmbot.config import LogFormat
from gmbot.logging import HANDLER_NAME, configure_logging

# The libraries whose loggers an instance actually hears from.
LIBRARY_LOGGERS = ("aiogram", "aiohttp.access", "sqlalchemy.engine", "alembic", "asyncio")

# More library loggers the level test emits through.
OTHER_LIBRARY_LOGGERS = ("alembic.runtime.migration", "aiohttp.client", "aiohttp.server")
# The loggers configure_logging sets a level on.
CONFIGURED = ("", "gmbot", "aiogram.event")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    libraries = (*LIBRARY_LOGGERS, *OTHER_LIBRARY_LOGGERS)
    levels = {name: logging.getLogger(name).level for name in (*libraries, *CONFIGURED)}
    # A level left on a library logger by an earlier test would override the root's.
    for name in libraries:
        logging.getLogger(name).setLevel(logging.NOTSET)
    root = logging.getLogger()
    before = list(root.handlers)
    yield
    for handler in root.handlers[:]:
        if handler not in before:
            root.removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


def json_lines(text: str) -> list[dict[str, Any]]:
    """Each line parsed on its own; fails on any line that is not one JSON object."""
    records = []
    for line in text.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    return records


def test_json_mode_renders_every_logger_as_one_json_object_per_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", LogFormat.JSON, "i-1")
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).warning("from %s\nsecond line", name)
    logging.getLogger("sqlalchemy.engine").info("below the libraries' level")
    log = structlog.get_logger("gmbot.services.muting")
    log.info("user_muted", chat_id=-100, user_id=7)
    log.debug("below the configured level")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")
        structlog.get_logger("gmbot.web.webhook").exception("update_failed", update_id=9)

    out, err = capsys.readouterr()
    assert err == ""
    records = json_lines(out)
    assert [(r["logger"], r["level"]) for r in records] == [
        *[(name, "warning") for name in LIBRARY_LOGGERS],
        ("gmbot.services.muting", "info"),
        ("asyncio", "error"),
        ("gmbot.web.webhook", "error"),
    ]
    assert records[0]["event"] == "from aiogram\nsecond line"
    assert records[5]["event"] == "user_muted"
    assert (records[5]["chat_id"], records[5]["user_id"]) == (-100, 7)
    for record in records:
        assert record["instance"] == "i-1"
        assert record["timestamp"].endswith("Z")
        assert not any(key.startswith("_") for key in record)
    for record in records[6:]:
        (exc,) = record["exception"]
        assert (exc["exc_type"], exc["exc_value"]) == ("ValueError", "boom")


def test_bound_context_reaches_library_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", LogFormat.JSON, "i-2")
    with structlog.contextvars.bound_contextvars(update_id=5, chat_id=-1):
        logging.getLogger("aiogram").warning("handler raised")
    (record,) = json_lines(capsys.readouterr().out)
    assert (record["update_id"], record["chat_id"], record["instance"]) == (5, -1, "i-2")


def test_levels_filter_our_lines_and_keep_libraries_at_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG", LogFormat.JSON, "i-3")
    structlog.get_logger("gmbot.delivery.guard").debug("claim_renewed")
    logging.getLogger("aiogram.event").info("Update id=1 is handled")
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    configure_logging("ERROR", LogFormat.JSON, "i-3")
    structlog.get_logger("gmbot.x").warning("dropped_warning")
    logging.getLogger("aiohttp.client").warning("dropped too")
    logging.getLogger("aiohttp.server").error("kept")
    assert [r["event"] for r in json_lines(capsys.readouterr().out)] == ["claim_renewed", "kept"]


def test_configuring_again_replaces_only_its_own_handler(
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)
    configure_logging("INFO", LogFormat.JSON, "a")
    configure_logging("INFO", LogFormat.JSON, "b")
    handlers = logging.getLogger().handlers
    assert [h.name for h in handlers].count(HANDLER_NAME) == 1
    assert other in handlers
    logging.getLogger("alembic").warning("once")
    assert [r["instance"] for r in json_lines(capsys.readouterr().out)] == ["b"]


def test_console_mode_renders_library_lines_like_ours(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", LogFormat.CONSOLE, "c")
    logging.getLogger("sqlalchemy.engine").warning("pool exhausted")
    structlog.get_logger("gmbot.services.gate").info("gate_fail_open", chat_id=-3)
    first, second = capsys.readouterr().out.splitlines()
    assert "pool exhausted" in first
    assert "[sqlalchemy.engine]" in first
    assert "gate_fail_open" in second
    assert "chat_id=-3" in second


@pytest.mark.subprocess
def test_gmbot_run_in_json_mode_prints_only_json_lines(tmp_path: Path) -> None:
    """The real entry point: a start that fails on an unreachable Bot API logs its
    retries as JSON on stdout and keeps the one-line explanation on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SETTINGS_PREFIXES)}
    env.update(
        BOT_TOKEN="1:x",
        TELEGRAM_API_URL="http://127.0.0.1:9",  # nothing listens there
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'l.db'}",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
        INSTANCE_ID="json-check",
    )
    result = subprocess.run(
        [sys.executable, "-m", "gmbot", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2, result.stderr
    records = json_lines(result.stdout)
    assert records, result.stderr
    assert all(r["instance"] == "json-check" for r in records)
    unavailable = [r for r in records if r["event"] == "telegram_unavailable"]
    assert unavailable, records
    assert unavailable[0]["logger"] == "gmbot.telegram.gateway"
    assert unavailable[0]["level"] == "warning"
    assert unavailable[0]["method"] == "getMe"
    assert result.stderr.startswith("gmbot: the Bot API at http://127.0.0.1:9")


_SETTINGS_PREFIXES = (
    "BOT_",
    "DATABASE_",
    "REDIS_",
    "TELEGRAM_",
    "WEBHOOK_",
    "LOG_",
    "ENVIRONMENT",
    "INSTANCE_",
)
