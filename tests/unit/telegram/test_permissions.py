"""GMBot's permission list is the Bot API's: a mute removes every permission and an unmute
restores every one of the group's defaults."""

from __future__ import annotations

import json
from pathlib import Path

from aiogram.types import ChatFullInfo, ChatMemberRestricted, ChatPermissions

from bot_api_emulator import BUNDLED_SPEC
from bot_api_emulator import permissions as emulated
from gmbot.domain.telegram import (
    MUTED,
    OMITTED_PERMISSION_DEFAULTS,
    PERMISSION_FIELDS,
    complete_permissions,
)
from gmbot.telegram import convert
from tests.fakes.telegram import DEFAULT_PERMISSIONS
from tests.fakes.telegram_gateway import DEFAULT_GROUP_PERMISSIONS
from tests.support import GROUP_PERMISSIONS


def _spec_fields(type_name: str) -> list[str]:
    types = json.loads(Path(BUNDLED_SPEC).read_text())["types"]
    return [f["name"] for f in types[type_name]["fields"]]


def test_the_list_is_the_spec_chat_permissions() -> None:
    assert list(PERMISSION_FIELDS) == _spec_fields("ChatPermissions")
    assert list(PERMISSION_FIELDS) == list(ChatPermissions.model_fields)
    assert PERMISSION_FIELDS == emulated.PERMISSION_FIELDS
    # The documented "if omitted, defaults to ..." rules, as the emulator applies them too.
    assert set(OMITTED_PERMISSION_DEFAULTS) <= set(PERMISSION_FIELDS)
    assert emulated.normalize_permissions({}, True) == complete_permissions({})


def test_the_test_worlds_define_every_permission() -> None:
    for defaults in (DEFAULT_PERMISSIONS, GROUP_PERMISSIONS, DEFAULT_GROUP_PERMISSIONS):
        assert list(defaults) == list(PERMISSION_FIELDS)


def test_a_mute_sends_every_permission_off() -> None:
    sent = convert.permissions(MUTED).model_dump()
    assert sent == dict.fromkeys(PERMISSION_FIELDS, False)


def test_omitted_permissions_are_sent_as_telegram_reads_them() -> None:
    sent = convert.permissions({"can_send_messages": True, "can_pin_messages": True})
    assert (sent.can_react_to_messages, sent.can_edit_tag, sent.can_manage_topics) == (
        True,
        True,
        True,
    )
    assert sent.can_send_photos is False
    assert complete_permissions({})["can_react_to_messages"] is False


def test_the_defaults_read_from_get_chat_are_complete() -> None:
    chat = ChatFullInfo.model_validate(
        {
            "id": -100,
            "type": "supergroup",
            "title": "G",
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(
                (
                    "unlimited_gifts",
                    "limited_gifts",
                    "unique_gifts",
                    "premium_subscription",
                    "gifts_from_channels",
                ),
                False,
            ),
            # An answer that leaves can_react_to_messages (and the pin-derived ones) out.
            "permissions": {"can_send_messages": True, "can_invite_users": True},
        }
    )
    perms = convert.chat_info(chat).permissions
    assert perms is not None
    assert list(perms) == list(PERMISSION_FIELDS)
    assert perms["can_react_to_messages"] is True
    assert perms["can_edit_tag"] is False
    # Restoring them sends the same values explicitly.
    assert convert.permissions(perms).model_dump() == perms


def test_a_restriction_forever_has_no_end() -> None:
    member = ChatMemberRestricted.model_validate(
        {
            "status": "restricted",
            "user": {"id": 5, "is_bot": False, "first_name": "U"},
            "is_member": True,
            "until_date": 0,
            **MUTED,
        }
    )
    assert convert.member_info(member).until is None
