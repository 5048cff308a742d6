"""SettingsPanelService: the inline settings panel over the settings registry."""

from __future__ import annotations

import pytest

from gmbot.domain.telegram import Button, MemberStatus
from gmbot.services.group_settings import SETTINGS, apply_setting
from gmbot.services.settings_panel import (
    MAX_DATA,
    Outcome,
    Panel,
    SettingsPanelService,
    decode,
    deep_link,
    encode,
    parse_start,
)
from tests.unit.services.support import ADMIN, CHAT, OTHER_CHAT, OWNER, USER, Env


@pytest.fixture
def panel(env: Env) -> SettingsPanelService:
    return SettingsPanelService(env.group_admin, env.admin_check, env.uow, env.clock.utc)


def buttons(p: Panel) -> list[Button]:
    return [b for row in p.keyboard for b in row]


async def test_main_page_shows_every_setting_close_and_private_link(
    env: Env, panel: SettingsPanelService
) -> None:
    await env.protect()
    p = await panel.open(CHAT, bot_username="gmbot_bot")
    assert p is not None
    labels = [b.text for b in buttons(p)]
    for spec in SETTINGS:
        assert any(label.startswith(spec.key.capitalize() + ": ") for label in labels)
    assert "Action: mute" in labels or any(lb.startswith("Action: ") for lb in labels)
    assert "Close" in labels
    link = next(b for b in buttons(p) if b.text == "Manage in private")
    assert link.url == f"https://t.me/gmbot_bot?start=g{CHAT}"
    assert parse_start(f"g{CHAT}") == CHAT
    # In private the link would point at itself.
    private = await panel.open(CHAT, private=True, bot_username="gmbot_bot")
    assert private is not None
    assert "Manage in private" not in [b.text for b in buttons(private)]


async def test_open_an_unprotected_group_is_none(panel: SettingsPanelService) -> None:
    assert await panel.open(CHAT) is None


@pytest.mark.parametrize("index", range(len(SETTINGS)))
async def test_every_choice_of_every_setting_applies(
    env: Env, panel: SettingsPanelService, index: int
) -> None:
    await env.protect()
    spec = SETTINGS[index]
    # The creator: "admins creator" would lock out any other admin mid-test.
    opened = await panel.press(encode(CHAT, "p", index), OWNER)
    assert opened.outcome is Outcome.SHOWN
    assert opened.panel is not None
    assert opened.panel.keyboard[-1][0].callback_data == encode(CHAT, "m")
    for j, choice in enumerate(spec.choices):
        before = await env.group_admin.settings_of(CHAT)
        assert before is not None
        result = await panel.press(encode(CHAT, "s", index, j), OWNER)
        assert result.outcome is Outcome.CHANGED, result
        after = await env.group_admin.settings_of(CHAT)
        assert after == apply_setting(before, spec.key, choice)
        assert result.panel is not None
        assert f"{spec.key.capitalize()}: {spec.show(after)}"[:39] in [
            b.text[:39] for b in buttons(result.panel)
        ]
        # The setting's page now marks this choice as the current one.
        page = await panel.press(encode(CHAT, "p", index), OWNER)
        assert page.panel is not None
        assert page.panel.keyboard[j][0].text == "✓ " + choice


async def test_a_non_admin_is_refused_and_nothing_changes(
    env: Env, panel: SettingsPanelService
) -> None:
    await env.protect()
    before = await env.group_admin.settings_of(CHAT)
    result = await panel.press(encode(CHAT, "s", 0, 0), USER)
    assert result.outcome is Outcome.REFUSED
    assert result.alert
    assert result.panel is None
    assert await env.group_admin.settings_of(CHAT) == before
    assert (await panel.press(encode(CHAT, "x"), USER)).outcome is Outcome.REFUSED


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        "gms",
        "gms:abc:m",
        "gms:-:m",
        f"gms:{CHAT}",
        f"gms:{CHAT}:q",
        f"gms:{CHAT}:m:1",
        f"gms:{CHAT}:p",
        f"gms:{CHAT}:p:99",
        f"gms:{CHAT}:p:-1",
        f"gms:{CHAT}:s:0",
        f"gms:{CHAT}:s:0:99",
        f"gms:{CHAT}:s:0:0:0",
        f"gms:{CHAT}:s:x:0",
        f"gms:{CHAT}:x:0",
        "gms:" + "9" * 80 + ":m",
        "jb:123",
        "gms:１２３:m",  # non-ASCII digits
    ],
)
async def test_malformed_or_stale_data_has_expired(
    env: Env, panel: SettingsPanelService, data: str | None
) -> None:
    await env.protect()
    before = await env.group_admin.settings_of(CHAT)
    result = await panel.press(data, ADMIN)
    assert result.outcome is Outcome.EXPIRED
    assert result.notice == "This panel has expired."
    assert await env.group_admin.settings_of(CHAT) == before


async def test_an_unprotected_group_has_expired(panel: SettingsPanelService) -> None:
    result = await panel.press(encode(CHAT, "p", 0), ADMIN)
    assert result.outcome is Outcome.EXPIRED


async def test_close_asks_the_caller_to_delete(env: Env, panel: SettingsPanelService) -> None:
    await env.protect()
    assert (await panel.press(encode(CHAT, "x"), ADMIN)).outcome is Outcome.CLOSED


@pytest.mark.parametrize("chat_id", [-1009999999999999, -(2**52), 2**52, 1, -1])
def test_callback_data_fits_for_extreme_chat_ids(chat_id: int) -> None:
    datas = [encode(chat_id, "m"), encode(chat_id, "x")]
    for i, spec in enumerate(SETTINGS):
        datas.append(encode(chat_id, "p", i))
        datas += [encode(chat_id, "s", i, j) for j in range(len(spec.choices))]
    for data in datas:
        assert len(data.encode()) <= MAX_DATA
        decoded = decode(data)
        assert decoded is not None
        assert decoded.chat_id == chat_id
    link = deep_link("a" * 32, chat_id)
    payload = link.partition("?start=")[2]
    assert len(payload) <= 64
    assert parse_start(payload) == chat_id


@pytest.mark.parametrize("payload", [None, "", "g", "g-", "gx1", "x-100", "g--1", "g" + "1" * 20])
def test_bad_start_payloads_are_none(payload: str | None) -> None:
    assert parse_start(payload) is None


async def test_group_list_checks_live_and_forgets_a_stale_admin(
    env: Env, panel: SettingsPanelService
) -> None:
    await env.protect()
    await env.protect(OTHER_CHAT)
    env.telegram.supergroup(OTHER_CHAT, "Other")
    env.telegram.set_admin(OTHER_CHAT, ADMIN)
    await env.warm()  # the directory records CHAT's admins
    await env.warm(OTHER_CHAT)
    page = await panel.groups_of(ADMIN)
    assert sorted(b.callback_data or "" for b in buttons(page)) == sorted(
        [encode(CHAT, "m"), encode(OTHER_CHAT, "m")]
    )

    env.telegram.set_member(OTHER_CHAT, ADMIN, MemberStatus.MEMBER)  # demoted
    page = await panel.groups_of(ADMIN)
    assert [b.callback_data for b in buttons(page)] == [encode(CHAT, "m")]
    async with env.uow() as uow:
        assert await uow.managers.groups_of(ADMIN, 10) == [CHAT]  # forgotten
    assert (await panel.groups_of(USER)).keyboard == []


async def test_pressing_the_panel_records_the_admin(env: Env, panel: SettingsPanelService) -> None:
    await env.protect()
    await panel.press(encode(CHAT, "m"), ADMIN)
    await panel.press(encode(CHAT, "m"), USER)  # refused: not recorded
    async with env.uow() as uow:
        assert await uow.managers.groups_of(ADMIN, 10) == [CHAT]
        assert await uow.managers.groups_of(USER, 10) == []
