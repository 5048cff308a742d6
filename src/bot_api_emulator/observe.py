"""Control API, observation and switches: journal, deliveries, faults, settings, clock,
pause/resume, stats, reset."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .control import PREFIX, body, reply
from .errors import ControlError
from .spec import decode_value

if TYPE_CHECKING:
    from .core import Emulator


def _decode_params(emu: Emulator, method: str, params: dict[str, Any]) -> dict[str, Any]:
    if emu.spec is not None:
        return emu.spec.decode(method.lower(), params)
    return {key: decode_value(None, value) for key, value in params.items()}


def _opt_int(request: web.Request, name: str) -> int | None:
    value = request.query.get(name)
    return int(value) if value not in (None, "") else None


def observe_routes(emu: Emulator) -> list[web.RouteDef]:
    async def health(request: web.Request) -> web.Response:
        spec = emu.spec.version if emu.spec else None
        return reply({"ok": True, "bots": len(emu.state.bots), "spec": spec})

    async def reset(request: web.Request) -> web.Response:
        await emu.reset()
        return reply({"ok": True})

    async def get_settings(request: web.Request) -> web.Response:
        return reply(emu.settings.as_dict())

    async def patch_settings(request: web.Request) -> web.Response:
        try:
            emu.settings.update(await body(request))
        except KeyError as error:
            raise ControlError(400, f"unknown setting {error}") from None
        return reply(emu.settings.as_dict())

    async def clock(request: web.Request) -> web.Response:
        data = await body(request)
        emu.state.clock.advance(float(data.get("advance", 0)))
        return reply({"now": emu.state.clock.now()})

    async def requests(request: web.Request) -> web.Response:
        method = (request.query.get("method") or "").lower()
        bot_id = _opt_int(request, "bot_id")
        since = _opt_int(request, "since") or 0
        result = []
        for record in list(emu.journal.requests):
            if record.seq <= since or (method and record.method.lower() != method):
                continue
            if bot_id is not None and record.bot_id != bot_id:
                continue
            result.append(
                {
                    "seq": record.seq,
                    "at": record.at,
                    "bot_id": record.bot_id,
                    "method": record.method,
                    "params": _decode_params(emu, record.method, record.params),
                    "status": record.status,
                    "response": json.loads(record.answer),
                    "via": record.via,
                }
            )
        return reply(result)

    async def conformance(request: web.Request) -> web.Response:
        return reply(
            [
                {
                    "at": c.at,
                    "bot_id": c.bot_id,
                    "method": c.method,
                    "parameter": c.parameter,
                    "problem": c.problem,
                    "detail": c.detail,
                }
                for c in emu.journal.conformance
            ]
        )

    async def clear_conformance(request: web.Request) -> web.Response:
        emu.journal.conformance.clear()
        return reply({"ok": True})

    async def deliveries(request: web.Request) -> web.Response:
        bot_id = _opt_int(request, "bot_id")
        update_id = _opt_int(request, "update_id")
        result = [
            {
                "seq": d.seq,
                "at": d.at,
                "bot_id": d.bot_id,
                "update_id": d.update_id,
                "url": d.url,
                "attempt": d.attempt,
                "status": d.status,
                "ok": d.ok,
                "error": d.error,
                "duration": d.duration,
                "queue": d.queue,
                "waited": d.waited,
            }
            for d in list(emu.journal.deliveries)
            if (bot_id is None or d.bot_id == bot_id)
            and (update_id is None or d.update_id == update_id)
        ]
        return reply(result)

    async def message_log(request: web.Request) -> web.Response:
        chat_id = _opt_int(request, "chat_id")
        return reply(
            [
                {
                    "seq": m.seq,
                    "chat_id": m.chat_id,
                    "peer": m.peer,
                    "message_id": m.message_id,
                    "sender_id": m.sender_id,
                    "sender_chat_id": m.sender_chat_id,
                    "from_bot": m.from_bot,
                    "posted_at": m.posted_at,
                    "deleted_at": m.deleted_at,
                    "deleted_by": m.deleted_by,
                }
                for m in list(emu.journal.messages.records.values())
                if chat_id is None or m.chat_id == chat_id
            ]
        )

    async def updates(request: web.Request) -> web.Response:
        bot_id = emu.state.sole_bot(_opt_int(request, "bot_id")).user.id
        runtime = emu.updates[bot_id]
        return reply(
            [
                {
                    "update_id": u.update_id,
                    "kind": u.kind,
                    "queue": u.queue,
                    "pending": not u.done,
                    "attempts": u.attempts,
                    "update": json.loads(u.body),
                }
                for u in list(runtime.history)
            ]
        )

    async def pause(request: web.Request) -> web.Response:
        emu.set_paused(True)
        return reply({"paused": True})

    async def resume(request: web.Request) -> web.Response:
        emu.set_paused(False)
        return reply({"paused": False})

    async def stats(request: web.Request) -> web.Response:
        bots = {}
        for bot_id, runtime in emu.updates.items():
            delivery = emu.deliveries.get(bot_id)
            bots[str(bot_id)] = {
                "pending": runtime.pending_count,
                "last_update_id": runtime.next_id - 1,
                "webhook": runtime.webhook.url if runtime.webhook else None,
                "in_flight": delivery.in_flight if delivery else 0,
                "queues": len(delivery.queues) if delivery else 0,
            }
        last = emu.journal.requests[-1] if emu.journal.requests else None
        return reply(
            {
                "paused": emu.paused,
                "requests": len(emu.journal.requests),
                "last_request_at": last.at if last else None,
                "deliveries": len(emu.journal.deliveries),
                "bots": bots,
            }
        )

    async def add_fault(request: web.Request) -> web.Response:
        try:
            rule = emu.faults.add_method_fault(**await body(request))
        except (TypeError, ValueError) as error:
            raise ControlError(400, str(error)) from None
        return reply({"id": rule.id})

    async def add_webhook_fault(request: web.Request) -> web.Response:
        try:
            rule = emu.faults.add_webhook_fault(**await body(request))
        except (TypeError, ValueError) as error:
            raise ControlError(400, str(error)) from None
        return reply({"id": rule.id})

    async def list_faults(request: web.Request) -> web.Response:
        return reply(emu.faults.describe())

    async def clear_faults(request: web.Request) -> web.Response:
        emu.faults.clear()
        return reply({"ok": True})

    async def rate_limits(request: web.Request) -> web.Response:
        data = await body(request)
        emu.settings.rate_limits = bool(data.get("enabled", True))
        emu.limiter.reset()
        return reply({"enabled": emu.settings.rate_limits})

    return [
        web.get(PREFIX + "/health", health),
        web.post(PREFIX + "/reset", reset),
        web.get(PREFIX + "/settings", get_settings),
        web.patch(PREFIX + "/settings", patch_settings),
        web.post(PREFIX + "/clock", clock),
        web.get(PREFIX + "/requests", requests),
        web.get(PREFIX + "/conformance", conformance),
        web.delete(PREFIX + "/conformance", clear_conformance),
        web.get(PREFIX + "/deliveries", deliveries),
        web.get(PREFIX + "/message_log", message_log),
        web.get(PREFIX + "/updates", updates),
        web.post(PREFIX + "/delivery/pause", pause),
        web.post(PREFIX + "/delivery/resume", resume),
        web.get(PREFIX + "/stats", stats),
        web.post(PREFIX + "/faults", add_fault),
        web.post(PREFIX + "/faults/webhook", add_webhook_fault),
        web.get(PREFIX + "/faults", list_faults),
        web.delete(PREFIX + "/faults", clear_faults),
        web.put(PREFIX + "/rate_limits", rate_limits),
    ]
