"""The emulator: world state plus everything that turns bot calls into answers and updates."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, not_found
from .events import Events
from .faults import Faults
from .journal import Journal
from .methods import METHODS, Call, Raw, WithDescription
from .models import BotAccount
from .params import Params
from .ratelimit import RateLimiter
from .settings import Settings
from .spec import Spec
from .state import State
from .updates import BotUpdates, WebhookConfig
from .webhook import WebhookDelivery

logger = logging.getLogger(__name__)
_OK_PREFIX = b'{"ok":true,"result":'


@dataclass(slots=True)
class CallbackQuery:
    id: str
    bot_id: int
    user_id: int
    created: float
    answer: asyncio.Future[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class BotSpec:
    """A bot that exists from start-up and survives reset (from --token)."""

    token: str
    username: str


class Emulator:
    def __init__(
        self,
        settings: Settings | None = None,
        spec: Spec | None = None,
        bots: Iterable[BotSpec] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.spec = spec
        self.configured_bots = list(bots)
        self.faults = Faults()
        self.limiter = RateLimiter(self.settings)
        self.journal = Journal(
            self.settings.journal_limit,
            self.settings.delivery_log_limit,
            self.settings.message_log_limit,
        )
        self.events = Events(self)
        self._init_world()

    def _init_world(self) -> None:
        self.state = State(message_log=self.journal.messages)
        self.updates: dict[int, BotUpdates] = {}
        self.deliveries: dict[int, WebhookDelivery] = {}
        self.callbacks: dict[str, CallbackQuery] = {}
        self.paused = False
        for bot in self.configured_bots:
            self.add_bot(bot.username, token=bot.token)

    async def reset(self) -> None:
        await self.close()
        self.faults.clear()
        self.limiter.reset()
        self.journal.clear()
        self._init_world()

    async def close(self) -> None:
        # Waiting long polls end now (empty) so shutdown and reset never wait for them.
        for runtime in self.updates.values():
            runtime.wake()
        for delivery in list(self.deliveries.values()):
            await delivery.stop()
        self.deliveries.clear()

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    # ----- bots -----------------------------------------------------------------------------

    def add_bot(self, username: str, **kwargs: Any) -> BotAccount:
        bot = self.state.add_bot(username, **kwargs)
        runtime = BotUpdates(bot.user.id)
        runtime.paused = self.paused
        self.updates[bot.user.id] = runtime
        return bot

    async def set_webhook(self, bot_id: int, config: WebhookConfig | None) -> None:
        """Replace the bot's webhook (None removes it); pending updates carry over."""
        old = self.deliveries.pop(bot_id, None)
        if old is not None:
            await old.stop()
        runtime = self.updates[bot_id]
        runtime.webhook = config
        if config is None:
            return
        delivery = WebhookDelivery(
            runtime,
            config,
            self.settings,
            self.journal,
            self.faults,
            lambda method, params: self._answer_in_webhook(bot_id, method, params),
        )
        if self.paused:
            delivery.pause()
        self.deliveries[bot_id] = delivery
        delivery.start()

    async def _answer_in_webhook(self, bot_id: int, method: str, params: dict[str, Any]) -> None:
        bot = self.state.bots.get(bot_id)
        if bot is not None:
            await self.call(bot, method, params, via="webhook_response")

    def set_paused(self, paused: bool) -> None:
        self.paused = paused
        for runtime in self.updates.values():
            runtime.paused = paused
            if not paused:
                runtime.wake()
        for delivery in self.deliveries.values():
            if paused:
                delivery.pause()
            else:
                delivery.resume()

    # ----- Bot API calls --------------------------------------------------------------------

    async def call(
        self, bot: BotAccount, method: str, raw: dict[str, Any], via: str = "http"
    ) -> tuple[int, bytes]:
        """Run one Bot API method for `bot`: checks, faults, the method itself, the journal."""
        key = method.lower()
        handler = METHODS.get(key)
        try:
            if self.spec is not None:
                issues, missing = self.spec.check(key, raw)
                for issue in issues:
                    self.journal.nonconformance(
                        bot.user.id, method, issue.parameter, issue.problem, issue.detail
                    )
                if handler is not None and missing is not None:
                    raise missing
            if handler is None:
                if self.spec is not None and key in self.spec.methods:
                    self.journal.nonconformance(
                        bot.user.id,
                        method,
                        "",
                        "unsupported_method",
                        f"{method} is a Bot API method the emulator does not implement",
                    )
                raise not_found()
            if self.faults.methods:
                latency, error = self.faults.for_call(key, raw.get("chat_id"))
                if latency:
                    await asyncio.sleep(latency)
                if error is not None:
                    raise error
            self.limiter.check_call(bot.user.id, key)
            result = handler(Call(self, bot, Params(raw)))
            if inspect.isawaitable(result):
                result = await result
            status, answer = 200, _encode_ok(result)
        except ApiError as error:
            status = error.code
            answer = json.dumps(error.payload(), ensure_ascii=False).encode()
        except Exception:
            # An emulator bug: answer like Telegram's own failures and keep the traceback.
            logger.exception("emulator failure in %s", method)
            status = 500
            answer = json.dumps(ApiError(500, "Internal Server Error").payload()).encode()
        self.journal.request(bot.user.id, method, dict(raw), status, answer, via)
        return status, answer


def _encode_ok(result: Any) -> bytes:
    if isinstance(result, Raw):
        return _OK_PREFIX + result.data + b"}"
    if isinstance(result, WithDescription):
        body = {"ok": True, "result": result.result, "description": result.description}
        return json.dumps(body, ensure_ascii=False).encode()
    return _OK_PREFIX + json.dumps(result, ensure_ascii=False).encode() + b"}"
