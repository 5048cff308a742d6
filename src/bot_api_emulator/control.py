"""Control API, world side: bots, users, chats, memberships and what users do.

JSON in, JSON out; failures are ``{"error": "..."}`` with a 4xx status. The routes are listed
in the package docstring.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import actions, membership
from .errors import ControlError
from .serialize import chat_full_json, member_json, message_json, user_json

if TYPE_CHECKING:
    from .core import Emulator
    from .state import State

PREFIX = "/_emulator"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


async def body(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise ControlError(400, "a JSON object is expected")
    return data


def int_arg(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ControlError(400, f"{name} must be an integer") from None


@web.middleware
async def control_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(PREFIX):
        return await handler(request)
    try:
        return await handler(request)
    except ControlError as error:
        return reply({"error": error.message}, error.status)
    except (KeyError, ValueError, TypeError) as error:
        return reply({"error": f"bad request: {error!r}"}, 400)


def chat_info(emu: Emulator, chat_id: int) -> dict[str, Any]:
    chat = emu.state.chat(chat_id)
    data = chat_full_json(emu.state, chat, None)
    data["creator_id"] = chat.creator_id
    data["topics"] = {str(k): v for k, v in chat.topics.items()}
    data["migrated_to"] = chat.migrated_to
    return data


def world_routes(emu: Emulator) -> list[web.RouteDef]:
    def state_() -> State:
        return emu.state  # looked up per request: reset replaces the world

    async def create_bot(request: web.Request) -> web.Response:
        data = await body(request)
        bot = emu.add_bot(
            data["username"],
            first_name=data.get("first_name"),
            token=data.get("token"),
            can_read_all_group_messages=bool(data.get("can_read_all_group_messages", False)),
        )
        return reply(user_json(bot.user) | {"token": bot.token})

    async def list_bots(request: web.Request) -> web.Response:
        return reply([user_json(b.user) | {"token": b.token} for b in state_().bots.values()])

    async def create_user(request: web.Request) -> web.Response:
        data = await body(request)
        user = state_().add_user(
            data["first_name"],
            username=data.get("username"),
            last_name=data.get("last_name"),
            is_bot=bool(data.get("is_bot", False)),
            language_code=data.get("language_code"),
            is_premium=bool(data.get("is_premium", False)),
        )
        return reply(user_json(user))

    async def start(request: web.Request) -> web.Response:
        data = await body(request)
        message = actions.start_bot(
            emu, int_arg(request, "user_id"), data.get("bot_id"), data.get("payload", "")
        )
        return reply(message_json(state_(), message))

    async def block(request: web.Request) -> web.Response:
        data = await body(request)
        actions.set_blocked(
            emu, int_arg(request, "user_id"), data.get("bot_id"), bool(data.get("blocked", True))
        )
        return reply({"ok": True})

    async def create_chat(request: web.Request) -> web.Response:
        data = await body(request)
        permissions = data.pop("permissions", None)
        linked = data.pop("linked_chat_id", None)
        chat = state_().add_chat(
            data.pop("type"),
            data.pop("title"),
            username=data.pop("username", None),
            creator_id=data.pop("creator_id", None),
            chat_id=data.pop("id", None),
            **data,
        )
        if permissions is not None:
            membership.update_chat(emu, chat.id, {"permissions": permissions})
        if linked is not None:
            membership.link_chats(emu, chat, int(linked))
        return reply(chat_info(emu, chat.id))

    async def get_chat(request: web.Request) -> web.Response:
        return reply(chat_info(emu, int_arg(request, "chat_id")))

    async def patch_chat(request: web.Request) -> web.Response:
        chat_id = int_arg(request, "chat_id")
        membership.update_chat(emu, chat_id, await body(request))
        return reply(chat_info(emu, chat_id))

    async def migrate(request: web.Request) -> web.Response:
        return reply(chat_info(emu, membership.migrate(emu, int_arg(request, "chat_id")).id))

    async def topic(request: web.Request) -> web.Response:
        data = await body(request)
        thread = membership.create_topic(
            emu, int_arg(request, "chat_id"), data["name"], data.get("actor_id")
        )
        return reply({"message_thread_id": thread})

    async def members(request: web.Request) -> web.Response:
        chat = state_().chat(int_arg(request, "chat_id"))
        result = []
        for user_id in list(state_().members.get(chat.id, {})):
            member = state_().member(chat.id, user_id)
            result.append(member_json(chat, state_().users[user_id], member, viewer_id=0))
        return reply(result)

    async def get_member(request: web.Request) -> web.Response:
        chat = state_().chat(int_arg(request, "chat_id"))
        user = state_().user(int_arg(request, "user_id"))
        return reply(member_json(chat, user, state_().member(chat.id, user.id), viewer_id=0))

    async def put_member(request: web.Request) -> web.Response:
        data = await body(request)
        result = membership.set_member(
            emu,
            int_arg(request, "chat_id"),
            int_arg(request, "user_id"),
            data.pop("status"),
            **data,
        )
        return reply(result)

    async def join(request: web.Request) -> web.Response:
        data = await body(request)
        chat_id = int_arg(request, "chat_id")
        return reply(membership.join(emu, chat_id, int(data["user_id"]), data.get("invite_link")))

    async def leave(request: web.Request) -> web.Response:
        data = await body(request)
        return reply(membership.leave(emu, int_arg(request, "chat_id"), int(data["user_id"])))

    async def join_request(request: web.Request) -> web.Response:
        data = await body(request)
        return reply(
            membership.request_join(
                emu,
                int_arg(request, "chat_id"),
                int(data["user_id"]),
                bio=data.get("bio"),
                invite_link=data.get("invite_link"),
            )
        )

    async def messages(request: web.Request) -> web.Response:
        chat = state_().chat(int_arg(request, "chat_id"))
        peer = 0
        if chat.type == "private":
            bot_id = request.query.get("bot_id")
            peer = state_().sole_bot(int(bot_id) if bot_id else None).user.id
        items = state_().chat_messages(chat.id, peer)
        return reply([message_json(state_(), m) for m in items])

    async def post(request: web.Request) -> web.Response:
        data = await body(request)
        message = actions.post(emu, int_arg(request, "chat_id"), data.pop("user_id", None), **data)
        return reply(message_json(state_(), message))

    async def press(request: web.Request) -> web.Response:
        data = await body(request)
        query = actions.press_button(
            emu,
            int_arg(request, "chat_id"),
            int_arg(request, "message_id"),
            int(data["user_id"]),
            str(data["data"]),
            data.get("bot_id"),
        )
        result: dict[str, Any] = {"query_id": query.id, "answered": False}
        if data.get("wait", True):
            try:
                async with asyncio.timeout(float(data.get("timeout", 5.0))):
                    result |= await asyncio.shield(query.answer) | {"answered": True}
            except TimeoutError:
                pass
        return reply(result)

    async def bulk(request: web.Request) -> web.Response:
        """Many user messages at once (load tests): round-robin over chats and users."""
        data = await body(request)
        chat_ids = [int(c) for c in data["chat_ids"]]
        user_ids = [int(u) for u in data["user_ids"]]
        count, text = int(data["count"]), str(data.get("text", "hello"))
        started = time.perf_counter()
        for i in range(count):
            actions.post(emu, chat_ids[i % len(chat_ids)], user_ids[i % len(user_ids)], text=text)
        return reply({"created": count, "seconds": time.perf_counter() - started})

    chat = PREFIX + "/chats/{chat_id}"
    return [
        web.post(PREFIX + "/bots", create_bot),
        web.get(PREFIX + "/bots", list_bots),
        web.post(PREFIX + "/users", create_user),
        web.post(PREFIX + "/users/{user_id}/start", start),
        web.post(PREFIX + "/users/{user_id}/block", block),
        web.post(PREFIX + "/chats", create_chat),
        web.get(chat, get_chat),
        web.patch(chat, patch_chat),
        web.post(chat + "/migrate", migrate),
        web.post(chat + "/topics", topic),
        web.get(chat + "/members", members),
        web.get(chat + "/members/{user_id}", get_member),
        web.put(chat + "/members/{user_id}", put_member),
        web.post(chat + "/join", join),
        web.post(chat + "/leave", leave),
        web.post(chat + "/join_requests", join_request),
        web.get(chat + "/messages", messages),
        web.post(chat + "/messages", post),
        web.post(chat + "/messages/{message_id}/press", press),
        web.post(PREFIX + "/bulk/messages", bulk),
    ]
