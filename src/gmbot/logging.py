"""structlog set-up: JSON lines in production, a readable console in development.

Context (update_id, chat_id, user_id, instance) is bound per update through
contextvars by the dispatcher's outer middleware, so every line carries it.
"""

from __future__ import annotations

import logging
import sys

import structlog

from gmbot.config import LogFormat


def configure_logging(level: str, fmt: LogFormat, instance_id: str) -> None:
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor
    if fmt is LogFormat.JSON:
        renderer = structlog.processors.JSONRenderer()
        shared.append(structlog.processors.dict_tracebacks)
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    numeric = logging.getLevelNamesMapping()[level]
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(instance=instance_id)
    # Libraries log through the standard library: keep them quiet and on stderr.
    logging.basicConfig(
        level=max(numeric, logging.WARNING), stream=sys.stderr, format="%(message)s"
    )
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)
