"""An update given up on is not a message given up on.

After too many failed attempts an update is acknowledged without being handled
(UpdateGuard). For a member's message in a group that would leave a message the
gate never saw on screen for good, so it is handed to the outbox workers instead:
they decide on it with their own retries.
"""

from __future__ import annotations

import structlog
from aiogram.types import Update

from gmbot.bot import translate
from gmbot.domain.ports import CacheUnavailable
from gmbot.services.gate import GateService

log = structlog.get_logger(__name__)

_GROUPS = frozenset({"group", "supergroup"})


class PoisonMessages:
    def __init__(self, gate: GateService) -> None:
        self._gate = gate

    async def __call__(self, update: Update) -> None:
        message = update.message or update.edited_message
        if (
            message is None
            or message.chat.type not in _GROUPS
            or not translate.is_user_content(message)
        ):
            return
        try:
            await self._gate.defer(
                translate.incoming(message, edited=update.edited_message is not None)
            )
        except CacheUnavailable:
            log.error("poison_message_not_deferred", update_id=update.update_id)
