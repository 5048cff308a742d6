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


@dataclass(frozen=True, slots=True)
class ConformanceError:
    method: str
    parameter: str
    problem: str
    detail: str
    bot_id: int
