"""Small helpers shared by the suites that start real processes."""

from __future__ import annotations

import socket

from tests.fakes.telegram import DEFAULT_PERMISSIONS

# A group's default permissions in the multi-process suites: polls (and, as in the
# fake, pinning) are off, so a test can tell "defaults restored" from "everything
# allowed" after an unmute.
GROUP_PERMISSIONS = {**DEFAULT_PERMISSIONS, "can_send_polls": False}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
