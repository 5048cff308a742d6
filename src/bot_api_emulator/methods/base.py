"""The method registry and the context a method runs with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot_api_emulator.models import BotAccount
from bot_api_emulator.params import Params
from bot_api_emulator.state import State

if TYPE_CHECKING:
    from bot_api_emulator.core import Emulator


@dataclass(frozen=True, slots=True)
class Raw:
    """A result that is already JSON (getUpdates splices pre-serialized updates)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class WithDescription:
    """A successful answer that also carries Telegram's "description" (e.g. setWebhook)."""

    result: Any
    description: str


class Call:
    __slots__ = ("bot", "emu", "params")

    def __init__(self, emu: Emulator, bot: BotAccount, params: Params) -> None:
        self.emu = emu
        self.bot = bot
        self.params = params

    @property
    def state(self) -> State:
        return self.emu.state

    @property
    def bot_id(self) -> int:
        return self.bot.user.id

    def now(self) -> int:
        return self.emu.state.clock.now()


Handler = Callable[[Call], Any]
METHODS: dict[str, Handler] = {}


def method(name: str) -> Callable[[Handler], Handler]:
    """Register a Bot API method under its lower-case name (Telegram ignores case)."""

    def register(func: Handler) -> Handler:
        METHODS[name.lower()] = func
        return func

    return register
