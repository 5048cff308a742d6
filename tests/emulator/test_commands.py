"""setMyCommands as Telegram checks it: at most 100 commands per scope and language,
each name 1-32 of a-z, 0-9 and _ (the whole name: nothing before or after)."""

from __future__ import annotations

import pytest

from tests.emulator.helpers import ApiCall, World


def _commands(n: int) -> list[dict[str, str]]:
    return [{"command": f"c{i}", "description": f"Command {i}"} for i in range(n)]


async def test_a_hundred_commands_are_taken_a_hundred_and_one_refused(
    api: ApiCall, world: World
) -> None:
    token = world.bot.token
    assert (await api(token, "setMyCommands", commands=_commands(100))).result is True
    assert len((await api(token, "getMyCommands")).result) == 100
    answer = await api(token, "setMyCommands", commands=_commands(101))
    assert (answer.status, answer.description) == (400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
    # Refused as a whole: the menu registered before stays.
    assert len((await api(token, "getMyCommands")).result) == 100


async def test_the_limit_is_per_scope_and_language(api: ApiCall, world: World) -> None:
    token = world.bot.token
    private = {"type": "all_private_chats"}
    for params in ({}, {"scope": private}, {"scope": private, "language_code": "de"}):
        answer = await api(token, "setMyCommands", commands=_commands(100), **params)
        assert answer.result is True
    for params in ({}, {"scope": private}, {"scope": private, "language_code": "de"}):
        assert len((await api(token, "getMyCommands", **params)).result) == 100


@pytest.mark.parametrize("name", ["start\n", "\nstart", "start ", "Start", "", "a" * 33, "stárt"])
async def test_an_invalid_command_name_is_refused(api: ApiCall, world: World, name: object) -> None:
    commands = [{"command": name, "description": "Start"}]
    answer = await api(world.bot.token, "setMyCommands", commands=commands)
    assert (answer.status, answer.description) == (400, "Bad Request: BOT_COMMAND_INVALID")


async def test_a_valid_command_name_is_taken(api: ApiCall, world: World) -> None:
    commands = [{"command": "a_1" + "z" * 29, "description": "Longest name"}]
    answer = await api(world.bot.token, "setMyCommands", commands=commands)
    assert answer.result is True
