"""/settings raid: auto [N] | N | on | off, parsed, checked and stored."""

from __future__ import annotations

import pytest

from gmbot.domain.models import GroupSettings, RaidMode
from gmbot.services.group_settings import SettingsError, apply_setting
from tests.unit.services.support import CHAT, Env

D = GroupSettings()


@pytest.mark.parametrize(
    ("value", "raid", "threshold"),
    [
        ("auto", RaidMode.AUTO, 3),
        ("on", RaidMode.ON, 3),
        ("off", RaidMode.OFF, 3),
        ("OFF", RaidMode.OFF, 3),
        (" on ", RaidMode.ON, 3),
        ("auto 5", RaidMode.AUTO, 5),
        ("Auto  7", RaidMode.AUTO, 7),
        ("5", RaidMode.AUTO, 5),
        ("auto 2", RaidMode.AUTO, 2),
        ("auto 1000", RaidMode.AUTO, 1000),
    ],
)
def test_raid_values(value: str, raid: RaidMode, threshold: int) -> None:
    settings = apply_setting(D, "raid", value)
    assert (settings.raid, settings.raid_threshold) == (raid, threshold)
    assert settings.action == D.action  # nothing else changes
    assert settings.prompt_ttl == D.prompt_ttl


def test_raid_mode_alone_keeps_the_threshold() -> None:
    five = apply_setting(D, "raid", "auto 5")
    assert apply_setting(five, "raid", "off").raid_threshold == 5
    assert apply_setting(apply_setting(five, "raid", "off"), "raid", "auto") == five


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("maybe", "raid must be “auto”"),
        ("", "raid must be “auto”"),
        ("auto 5 6", "raid must be “auto”"),
        ("on 5", "only “auto” takes a number"),
        ("off 5", "only “auto” takes a number"),
        ("auto many", "only “auto” takes a number"),
        ("auto 1", "between 2 and 1000"),
        ("auto 1001", "between 2 and 1000"),
        ("auto 0", "between 2 and 1000"),
        ("1", "between 2 and 1000"),
        ("auto -3", "only “auto” takes a number"),
    ],
)
def test_raid_errors(value: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        apply_setting(D, "raid", value)


def test_raid_start_at_follows_the_mode() -> None:
    assert GroupSettings(raid=RaidMode.OFF, raid_threshold=4).raid_start_at == 0
    assert GroupSettings(raid=RaidMode.ON, raid_threshold=4).raid_start_at == 1
    assert GroupSettings(raid=RaidMode.AUTO, raid_threshold=4).raid_start_at == 4


async def test_raid_setting_persists_and_reaches_the_cache(env: Env) -> None:
    await env.protect()
    await env.warm()
    before = await env.directory.group(CHAT)
    assert before is not None
    assert before.settings == D

    saved = await env.group_admin.update_settings(CHAT, "RAID", "auto 5")

    assert (saved.raid, saved.raid_threshold) == (RaidMode.AUTO, 5)
    assert not env.gate_cache.has_group(CHAT)  # dropped, so every instance reloads it
    group = await env.directory.reload(CHAT)
    assert group is not None
    assert group.settings == saved
    stored = await env.group()
    assert stored is not None
    assert stored.settings == saved
    cached = await env.directory.group(CHAT)
    assert cached is not None
    assert cached.settings.raid_start_at == 5

    await env.group_admin.update_settings(CHAT, "raid", "off")
    reloaded = await env.directory.group(CHAT)
    assert reloaded is not None
    assert (reloaded.settings.raid, reloaded.settings.raid_threshold) == (RaidMode.OFF, 5)


async def test_a_bad_raid_value_changes_nothing(env: Env) -> None:
    await env.protect(settings=GroupSettings(raid=RaidMode.ON))
    with pytest.raises(SettingsError):
        await env.group_admin.update_settings(CHAT, "raid", "maybe")
    group = await env.group()
    assert group is not None
    assert group.settings == GroupSettings(raid=RaidMode.ON)
