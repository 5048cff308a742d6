"""The prompt's "I've joined" button."""

from __future__ import annotations

from aiogram import Router
from aiogram.types import CallbackQuery

from gmbot.bot.filters import data_prefix
from gmbot.bot.services import Services
from gmbot.domain.models import ChannelMode
from gmbot.domain.telegram_html import MAX_CALLBACK_ANSWER
from gmbot.services.texts import CALLBACK_PREFIX, PREVIEW_PREFIX, channel_names
from gmbot.services.verification import ButtonOutcome, ButtonResult


def build() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(joined, data_prefix(CALLBACK_PREFIX + ":"))
    router.callback_query.register(preview, data_prefix(PREVIEW_PREFIX + ":"))
    return router


PREVIEW_ANSWER = "This is a preview: its button verifies nobody."


async def preview(query: CallbackQuery, services: Services) -> str:
    """The "I've joined" button of a /settings preview: it verifies nobody."""
    await services.telegram.answer_callback(query.id, PREVIEW_ANSWER, alert=True)
    return "preview"


ANSWERS = {
    ButtonOutcome.NOT_YOURS: ("This button is for the member it mentions.", True),
    ButtonOutcome.NOT_PROTECTED: ("This group no longer requires a subscription.", False),
    ButtonOutcome.VERIFIED: ("Thanks! You can write in the group now.", False),
    ButtonOutcome.UNKNOWN: ("Telegram could not confirm it right now; try again shortly.", True),
}


def not_joined_text(result: ButtonResult) -> str:
    """The "not yet" alert. It says the look-up is fresh: the service never answers
    "not yet" from a cached answer older than the press."""
    names = channel_names(result.missing)
    if result.mode is ChannelMode.ANY and len(result.missing) > 1:
        head, tail = "You have not joined any of ", " yet; one of them is enough. Checked just now."
    else:
        head, tail = "You have not joined ", " yet. Checked just now."
    # answerCallbackQuery takes at most 200 characters: long channel titles are cut.
    room = MAX_CALLBACK_ANSWER - len(head) - len(tail)
    if len(names) > room:
        names = names[: room - 1] + "…"
    return head + names + tail


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
        await services.telegram.answer_callback(query.id, not_joined_text(result), alert=True)
    else:
        text, alert = ANSWERS[result.outcome]
        await services.telegram.answer_callback(query.id, text, alert=alert)
    return result.outcome.value
