"""Fault injection: failing or slowing Bot API methods, and failing webhook deliveries.

Random faults use their own seeded generator, so a test that seeds them sees the same sequence
of failures on every run.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, too_many_requests

WEBHOOK_FAULT_KINDS = ("drop", "lose_response", "delay")


@dataclass(slots=True)
class _Rule:
    id: int
    probability: float
    times: int | None
    seed: int | None
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def fires(self) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        self.hits += 1
        return True


@dataclass(slots=True)
class MethodFault(_Rule):
    method: str | None = None  # lower-case name; None matches every method
    chat_id: str | None = None  # matched against the call's chat_id as text
    error_code: int | None = None
    description: str | None = None
    retry_after: int | None = None
    latency: float = 0.0

    def error(self) -> ApiError | None:
        if self.retry_after is not None:
            return too_many_requests(self.retry_after)
        if self.error_code is not None:
            return ApiError(self.error_code, self.description or "Internal Server Error")
        return None


@dataclass(slots=True)
class WebhookFault(_Rule):
    kind: str = "drop"
    latency: float = 0.0
    bot_id: int | None = None
    chat_id: int | None = None  # the delivery queue (chat) it applies to


def _as_json(rule: _Rule) -> dict[str, Any]:
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name != "rng"}


class Faults:
    def __init__(self) -> None:
        self.methods: list[MethodFault] = []
        self.webhooks: list[WebhookFault] = []
        self._ids = 0

    def _id(self) -> int:
        self._ids += 1
        return self._ids

    def add_method_fault(self, **spec: Any) -> MethodFault:
        method = spec.pop("method", None)
        chat_id = spec.pop("chat_id", None)
        seed = spec.pop("seed", None)
        rule = MethodFault(
            self._id(),
            float(spec.pop("probability", 1.0)),
            spec.pop("times", None),
            seed,
            rng=random.Random(seed),
            method=method.lower() if method else None,
            chat_id=None if chat_id is None else str(chat_id),
            **spec,
        )
        if rule.error() is None and not rule.latency:
            raise ValueError("a fault needs error_code, retry_after or latency")
        self.methods.append(rule)
        return rule

    def add_webhook_fault(self, **spec: Any) -> WebhookFault:
        kind = spec.pop("kind", "drop")
        if kind not in WEBHOOK_FAULT_KINDS:
            raise ValueError(f"kind must be one of {WEBHOOK_FAULT_KINDS}")
        seed = spec.pop("seed", None)
        rule = WebhookFault(
            self._id(),
            float(spec.pop("probability", 1.0)),
            spec.pop("times", None),
            seed,
            rng=random.Random(seed),
            kind=kind,
            **spec,
        )
        self.webhooks.append(rule)
        return rule

    def clear(self) -> None:
        self.methods.clear()
        self.webhooks.clear()

    def for_call(self, method: str, chat_id: Any) -> tuple[float, ApiError | None]:
        """Added latency and the error (if any) for one Bot API call."""
        latency = 0.0
        error: ApiError | None = None
        chat = None if chat_id is None else str(chat_id)
        for rule in self.methods:
            if rule.method is not None and rule.method != method:
                continue
            if rule.chat_id is not None and rule.chat_id != chat:
                continue
            if not rule.fires():
                continue
            latency += rule.latency
            if error is None:
                error = rule.error()
        return latency, error

    def for_delivery(self, bot_id: int, queue: int) -> tuple[bool, bool, float]:
        """(drop, lose_response, added latency) for one webhook delivery attempt."""
        lose = False
        latency = 0.0
        for rule in self.webhooks:
            if rule.bot_id is not None and rule.bot_id != bot_id:
                continue
            if rule.chat_id is not None and rule.chat_id != queue:
                continue
            if not rule.fires():
                continue
            if rule.kind == "drop":
                # A dropped attempt never reaches the bot: later rules keep their turn.
                return True, False, latency + rule.latency
            if rule.kind == "lose_response":
                lose = True
            latency += rule.latency
        return False, lose, latency

    def describe(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "methods": [_as_json(r) for r in self.methods],
            "webhooks": [_as_json(r) for r in self.webhooks],
        }
