"""The prompt's "I've joined" button."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from gmbot.bot.filters import data_prefix
from gmbot.bot.services import Services
from gmbot.services.texts import CALLBACK_PREFIX, channel_names
from gmbot.services.verification import ButtonOutcome


def build() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(joined, data_prefix(CALLBACK_PREFIX + ":"))
    return router


ANSWERS = {
    ButtonOutcome.NOT_YOURS: ("This button is for the member it mentions.", True),
    ButtonOutcome.NOT_PROTECTED: ("This group no longer requires a subscription.", False),
    ButtonOutcome.VERIFIED: ("Thanks! You can write in the group now.", False),
    ButtonOutcome.UNKNOWN: ("Telegram could not confirm it right now; try again shortly.", True),
}


async def joined(query: CallbackQuery, services: Services) -> str:
    message = query.message
    subject = (query.data or "").partition(":")[2]
    if message is None or not subject.lstrip("-").isdigit():
        await services.telegram.answer_callback(query.id, "This button has expired.")
        return "expired"
    result = await services.verification.joined_button(
        message.chat.id, query.from_user.id, int(subject), message.message_id
    )
    if result.outcome is ButtonOutcome.STILL_MISSING:
        text = "You have not joined " + channel_names(result.missing) + " yet."
        await services.telegram.answer_callback(query.id, text, alert=True)
    else:
        text, alert = ANSWERS[result.outcome]
        await services.telegram.answer_callback(query.id, text, alert=alert)
    return result.outcome.value
