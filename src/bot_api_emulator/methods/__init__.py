"""Bot API methods, registered by name; importing this package registers them all."""

from . import chats, members, messages, misc, updates
from .base import METHODS, Call, Raw, WithDescription

__all__ = [
    "METHODS",
    "Call",
    "Raw",
    "WithDescription",
    "chats",
    "members",
    "messages",
    "misc",
    "updates",
]
