"""Records returned by the control-API client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class User:
    id: int
    first_name: str
    username: str | None = None
    is_bot: bool = False


@dataclass(frozen=True, slots=True)
class Bot:
    id: int
    username: str
    first_name: str
    token: str


@dataclass(frozen=True, slots=True)
class Chat:
    id: int
    type: str
    title: str | None
    username: str | None
    creator_id: int | None


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    query_id: str
    answered: bool
    text: str | None = None
    show_alert: bool = False
    url: str | None = None


@dataclass(frozen=True, slots=True)
class RequestRecord:
    seq: int
    bot_id: int
    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any]
    via: str
    at: float

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")


@dataclass(frozen=True, slots=True)
class Delivery:
    update_id: int
    attempt: int
    status: int | None
    ok: bool
    error: str | None
    url: str
    at: float
    duration: float
    queue: int
    bot_id: int
    waited: float = 0.0  # from the update's creation to the start of this attempt


@dataclass(frozen=True, slots=True)
class MessageLife:
    """When a message appeared and, if it was, when and by which bot it was deleted."""

    chat_id: int
    message_id: int
    sender_id: int | None
    sender_chat_id: int | None
    from_bot: bool
    posted_at: float
    deleted_at: float | None
    deleted_by: int | None
    peer: int = 0

    @property
    def exposure(self) -> float | None:
        """Seconds it was visible, None while it still is."""
        return None if self.deleted_at is None else self.deleted_at - self.posted_at


@dataclass(frozen=True, slots=True)
class ConformanceError:
    method: str
    parameter: str
    problem: str
    detail: str
    bot_id: int
