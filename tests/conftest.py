"""Settings for every test suite."""

from __future__ import annotations

import structlog

# structlog's default console renderer prints each traceback with every frame's locals
# through rich: seconds per logged error (a whole service graph is in scope), long
# enough to let Redis TTLs lapse in tests that log errors on purpose. Plain tracebacks.
_default = structlog.get_config()["processors"]
structlog.configure(
    processors=[
        *_default[:-1],
        structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback),
    ]
)
