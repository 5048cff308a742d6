"""structlog set-up: JSON lines in production, a readable console in development.

Both structlog's events and the standard library's records (aiogram, aiohttp,
SQLAlchemy, Alembic, asyncio) end in one stdout handler whose
`structlog.stdlib.ProcessorFormatter` renders them alike, so in JSON mode every
line is one JSON object with level, logger, timestamp and the bound context.

Context (update_id, chat_id, user_id, instance) is bound per update through
contextvars by the dispatcher's outer middleware, so every line carries it.
"""

from __future__ import annotations

import logging
import sys

import structlog

from gmbot.config import LogFormat

# Our handler on the root logger, found by name so configuring again replaces it
# and leaves handlers installed by anyone else alone.
HANDLER_NAME = "gmbot"


def configure_logging(level: str, fmt: LogFormat, instance_id: str) -> None:
    numeric = logging.getLevelNamesMapping()[level]
    shared = _shared_processors(fmt)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Filtering here turns calls below the level into no-ops before any
        # processor or stdlib record is made: debug lines cost nothing on hot paths.
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(instance=instance_id)
    _install_handler(_formatter(fmt, shared))
    # Libraries stay quiet (warnings and up) unless the level asks for less.
    logging.getLogger().setLevel(max(numeric, logging.WARNING))
    logging.getLogger("gmbot").setLevel(numeric)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)


def _shared_processors(fmt: LogFormat) -> list[structlog.types.Processor]:
    """What every line gets, whether it came through structlog or the stdlib."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if fmt is LogFormat.JSON:
        # The console renderer prints tracebacks itself; JSON needs them as data.
        shared.append(structlog.processors.dict_tracebacks)
    return shared


def _formatter(
    fmt: LogFormat, shared: list[structlog.types.Processor]
) -> structlog.stdlib.ProcessorFormatter:
    renderer: structlog.types.Processor
    if fmt is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
    else:
        # Tracebacks without the frames' locals: rendering those (an update, a whole
        # service graph) took seconds per error, holding up the event loop meanwhile.
        renderer = structlog.dev.ConsoleRenderer(
            colors=sys.stdout.isatty(),
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False),
        )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def _install_handler(formatter: logging.Formatter) -> None:
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.name == HANDLER_NAME]:
        root.removeHandler(old)
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter)
    root.addHandler(handler)
