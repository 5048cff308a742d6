"""Checking requests against api.json, and the emulator's field lists against it."""

from __future__ import annotations

import json
from pathlib import Path

from bot_api_emulator import EmulatorClient
from bot_api_emulator.permissions import ADMIN_RIGHTS, PERMISSION_FIELDS
from tests.emulator.helpers import ApiCall, World


async def test_missing_required_parameter(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    token = world.bot.token
    answer = await api(token, "getChatMember", user_id=world.alice.id)
    assert (answer.status, answer.description) == (400, "Bad Request: chat_id is empty")
    answer = await api(token, "banChatSenderChat", chat_id=world.group.id)
    assert answer.description == 'Bad Request: parameter "sender_chat_id" is required'
    problems = {(c.method, c.parameter, c.problem) for c in await client.conformance_errors()}
    assert ("getChatMember", "chat_id", "missing_required") in problems


async def test_unknown_parameter_is_recorded(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    answer = await api(
        world.bot.token,
        "sendMessage",
        chat_id=world.group.id,
        text="hi",
        disable_web_page_preview=True,
    )
    assert answer.status == 200  # Telegram ignores what it does not know
    errors = await client.conformance_errors()
    assert [(e.method, e.parameter, e.problem) for e in errors] == [
        ("sendMessage", "disable_web_page_preview", "unknown_parameter")
    ]
    await client.clear_conformance_errors()
    assert await client.conformance_errors() == []


async def test_wrong_type_is_recorded(api: ApiCall, client: EmulatorClient, world: World) -> None:
    await api(world.bot.token, "getChatMember", chat_id=world.group.id, user_id="abc")
    problems = [(e.parameter, e.problem) for e in await client.conformance_errors()]
    assert ("user_id", "wrong_type") in problems


async def test_unsupported_method_is_recorded(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    answer = await api(
        world.bot.token, "sendPoll", chat_id=world.group.id, question="?", options=["a", "b"]
    )
    assert answer.status == 404
    assert [e.problem for e in await client.conformance_errors()] == ["unsupported_method"]


async def test_recorded_params_are_decoded(
    api: ApiCall, client: EmulatorClient, world: World
) -> None:
    await api(
        world.bot.token,
        "restrictChatMember",
        chat_id=str(world.group.id),
        user_id=str(world.bob.id),
        permissions=json.dumps({"can_send_messages": False}),
    )
    record = (await client.requests("restrictChatMember"))[0]
    assert record.params == {
        "chat_id": world.group.id,
        "user_id": world.bob.id,
        "permissions": {"can_send_messages": False},
    }
    assert record.result is True


def test_field_lists_match_the_schema(spec_path: Path) -> None:
    types = json.loads(spec_path.read_text())["types"]
    assert [f["name"] for f in types["ChatPermissions"]["fields"]] == list(PERMISSION_FIELDS)
    required = [
        f["name"]
        for f in types["ChatMemberAdministrator"]["fields"]
        if f["required"] and f["name"] not in ("status", "user", "can_be_edited", "is_anonymous")
    ]
    # Rights newer than the bundled schema come from its overlay (tests/emulator/test_overlay.py).
    assert required == list(ADMIN_RIGHTS)
