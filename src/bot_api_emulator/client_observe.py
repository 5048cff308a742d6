"""Control-API client, observation side: journal, deliveries, faults, limits, waiting."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .client_base import ClientBase, wait_for
from .client_types import ConformanceError, Delivery, MessageLife, RequestRecord

T = TypeVar("T")


class ObserveMixin(ClientBase):
    # ----- observation ----------------------------------------------------------------------

    async def messages(self, chat_id: int, *, bot_id: int | None = None) -> list[dict[str, Any]]:
        query = f"?bot_id={bot_id}" if bot_id is not None else ""
        return await self._get(f"/chats/{chat_id}/messages{query}")  # type: ignore[no-any-return]

    async def requests(
        self, method: str | None = None, *, bot_id: int | None = None, since: int = 0
    ) -> list[RequestRecord]:
        query = {"method": method or "", "since": str(since)}
        if bot_id is not None:
            query["bot_id"] = str(bot_id)
        rows = await self._get("/requests", query)
        return [
            RequestRecord(
                r["seq"],
                r["bot_id"],
                r["method"],
                r["params"],
                r["status"],
                r["response"],
                r["via"],
                r["at"],
            )
            for r in rows
        ]

    async def conformance_errors(self) -> list[ConformanceError]:
        rows = await self._get("/conformance")
        return [
            ConformanceError(r["method"], r["parameter"], r["problem"], r["detail"], r["bot_id"])
            for r in rows
        ]

    async def clear_conformance_errors(self) -> None:
        await self._call("DELETE", "/conformance")

    async def webhook_deliveries(
        self, *, bot_id: int | None = None, update_id: int | None = None
    ) -> list[Delivery]:
        query = {k: str(v) for k, v in (("bot_id", bot_id), ("update_id", update_id)) if v}
        rows = await self._get("/deliveries", query)
        return [
            Delivery(
                r["update_id"],
                r["attempt"],
                r["status"],
                r["ok"],
                r["error"],
                r["url"],
                r["at"],
                r["duration"],
                r["queue"],
                r["bot_id"],
                r["waited"],
            )
            for r in rows
        ]

    async def message_log(self, chat_id: int | None = None) -> list[MessageLife]:
        """Every message the emulator saw (in `chat_id`), deleted ones included."""
        query = {"chat_id": str(chat_id)} if chat_id is not None else None
        rows = await self._get("/message_log", query)
        return [
            MessageLife(
                r["chat_id"],
                r["message_id"],
                r["sender_id"],
                r["sender_chat_id"],
                r["from_bot"],
                r["posted_at"],
                r["deleted_at"],
                r["deleted_by"],
                r["peer"],
            )
            for r in rows
        ]

    async def updates(self, *, bot_id: int | None = None) -> list[dict[str, Any]]:
        query = {"bot_id": str(bot_id)} if bot_id is not None else None
        return await self._get("/updates", query)  # type: ignore[no-any-return]

    async def stats(self) -> dict[str, Any]:
        return await self._get("/stats")  # type: ignore[no-any-return]

    async def pause_delivery(self) -> None:
        await self._call("POST", "/delivery/pause")

    async def resume_delivery(self) -> None:
        await self._call("POST", "/delivery/resume")

    # ----- faults and limits ----------------------------------------------------------------

    async def add_fault(
        self,
        method: str | None = None,
        *,
        chat_id: int | str | None = None,
        error_code: int | None = None,
        description: str | None = None,
        retry_after: int | None = None,
        latency: float = 0.0,
        probability: float = 1.0,
        times: int | None = None,
        seed: int | None = None,
    ) -> int:
        """Fail (error_code/description, or 429 with retry_after) and/or delay a method."""
        data = await self._call(
            "POST",
            "/faults",
            {
                "method": method,
                "chat_id": chat_id,
                "error_code": error_code,
                "description": description,
                "retry_after": retry_after,
                "latency": latency,
                "probability": probability,
                "times": times,
                "seed": seed,
            },
        )
        return int(data["id"])

    async def add_webhook_fault(
        self,
        kind: str = "drop",
        *,
        probability: float = 1.0,
        times: int | None = None,
        seed: int | None = None,
        latency: float = 0.0,
        bot_id: int | None = None,
        chat_id: int | None = None,
    ) -> int:
        """kind: "drop" (not sent, retried), "lose_response" (sent, answer ignored, so the
        update comes again) or "delay" (sent after `latency` seconds)."""
        data = await self._call(
            "POST",
            "/faults/webhook",
            {
                "kind": kind,
                "probability": probability,
                "times": times,
                "seed": seed,
                "latency": latency,
                "bot_id": bot_id,
                "chat_id": chat_id,
            },
        )
        return int(data["id"])

    async def faults(self) -> dict[str, Any]:
        return await self._get("/faults")  # type: ignore[no-any-return]

    async def clear_faults(self) -> None:
        await self._call("DELETE", "/faults")

    async def set_rate_limits(self, enabled: bool) -> None:
        await self._call("PUT", "/rate_limits", {"enabled": enabled})

    # ----- waiting --------------------------------------------------------------------------

    async def wait_for_request(
        self,
        method: str,
        predicate: Callable[[RequestRecord], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
        since: int = 0,
    ) -> RequestRecord:
        async def probe() -> RequestRecord | None:
            for record in await self.requests(method, since=since):
                if predicate is None or predicate(record):
                    return record
            return None

        return await wait_for(probe, timeout=timeout, message=f"no matching {method} request")

    async def wait_for_message(
        self,
        chat_id: int,
        predicate: Callable[[dict[str, Any]], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
        bot_id: int | None = None,
    ) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            for message in await self.messages(chat_id, bot_id=bot_id):
                if predicate(message):
                    return message
            return None

        return await wait_for(probe, timeout=timeout, message=f"no matching message in {chat_id}")

    async def wait_until_delivered(
        self,
        *,
        bot_id: int | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - a deadline for the emulator
    ) -> None:
        """Until the bot (or every bot) has no pending update and no delivery in flight."""

        async def probe() -> bool:
            bots = (await self.stats())["bots"]
            chosen = [bots[str(bot_id)]] if bot_id is not None else list(bots.values())
            return all(b["pending"] == 0 and b["in_flight"] == 0 for b in chosen)

        await wait_for(probe, timeout=timeout, message="updates still pending")

    async def wait(
        self,
        probe: Callable[[], Awaitable[T | None]],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - a deadline for the emulator
        message: str = "condition not met",
    ) -> T:
        return await wait_for(probe, timeout=timeout, message=message)
