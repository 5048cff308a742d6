"""The bot side: ``/bot{token}/{method}``, accepting every encoding Telegram accepts.

Kept lean because it is the hot path of load tests: no per-request logging, one JSON encode.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .errors import ApiError, bad_request, not_found, unauthorized
from .state import TOKEN_RE

if TYPE_CHECKING:
    from .core import Emulator

_JSON = "application/json"


def _error(error: ApiError) -> web.Response:
    return web.Response(
        status=error.code, body=json.dumps(error.payload()).encode(), content_type=_JSON
    )


async def read_params(request: web.Request) -> dict[str, Any]:
    """Query string plus body (JSON, urlencoded or multipart), as one flat dict."""
    params: dict[str, Any] = dict(request.query) if request.query_string else {}
    if not request.body_exists:
        return params
    content_type = request.content_type
    if content_type == _JSON:
        raw = await request.read()
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            params.update(body)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                # Uploaded files are not stored; the method sees that a file was attached.
                params[key] = f"attach://{value.filename}"
            else:
                params[key] = value
    return params


def bot_routes(emu: Emulator) -> list[web.RouteDef]:
    async def handle(request: web.Request) -> web.StreamResponse:
        token = request.match_info["token"]
        bot = emu.state.tokens.get(token)
        if bot is None:
            # Telegram: a well-formed unknown token is Unauthorized, anything else Not Found.
            return _error(unauthorized() if TOKEN_RE.match(token) else not_found())
        try:
            params = await read_params(request)
        except ApiError as error:
            return _error(error)
        status, body = await emu.call(bot, request.match_info["method"], params)
        return web.Response(status=status, body=body, content_type=_JSON)

    return [web.route("*", "/bot{token}/{method}", handle)]
