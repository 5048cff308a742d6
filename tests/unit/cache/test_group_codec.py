"""The JSON kept for GateCache.get_group: lossless, and tolerant of older writers."""

from __future__ import annotations

import json
from dataclasses import fields
from datetime import UTC, datetime, timedelta, timezone

import pytest
from redis.asyncio import Redis

from gmbot.cache import RedisGateCache
from gmbot.cache.group_codec import decode_group, encode_group
from gmbot.domain.models import GateAction, GroupSettings, LinkedChannel, ProtectedGroup

FULL = ProtectedGroup(
    chat_id=-1001234567890123,
    title="Группа «test» 🛡",
    protected_by=None,
    protected_at=datetime(2024, 2, 29, 23, 59, 58, 123456, tzinfo=timezone(timedelta(hours=3))),
    enabled=False,
    settings=GroupSettings(
        action=GateAction.DELETE, prompt_ttl=15, mute_seconds=3600, delete_channel_posts=False
    ),
    channels=(
        LinkedChannel(-1009876543210987, "Public", username="pub", bot_is_admin=False),
        LinkedChannel(-1001111111111111, "Private", invite_link="https://t.me/+abc"),
    ),
    linked_chat_id=-1005555555555555,
    missing_rights=("can_delete_messages", "can_restrict_members"),
)


@pytest.mark.parametrize(
    "group",
    [
        FULL,
        ProtectedGroup(chat_id=-1, title="t", protected_by=5, protected_at=datetime(2024, 1, 1)),
    ],
    ids=["every-field-set", "defaults-naive-datetime"],
)
async def test_cache_round_trips_the_whole_group(redis: Redis, group: ProtectedGroup) -> None:
    cache = RedisGateCache(redis, namespace="t:")
    await cache.put_group(group.chat_id, group, [], 60)
    cached, got = await cache.get_group(group.chat_id)
    assert cached
    assert got == group
    assert got is not None
    assert type(got.channels) is tuple
    assert type(got.missing_rights) is tuple
    assert got.settings.action is group.settings.action
    assert got.protected_at.utcoffset() == group.protected_at.utcoffset()


def test_encoding_covers_every_model_field() -> None:
    # Fails when a field is added to the models but not to the codec.
    data = json.loads(encode_group(FULL))
    assert set(data) == {f.name for f in fields(ProtectedGroup)}
    assert set(data["settings"]) == {f.name for f in fields(GroupSettings)}
    assert set(data["channels"][0]) == {f.name for f in fields(LinkedChannel)}


def test_fields_an_older_writer_lacked_take_their_defaults() -> None:
    old = {"chat_id": -1, "title": "t", "protected_at": "2024-01-01T00:00:00+00:00"}
    assert decode_group(json.dumps(old)) == ProtectedGroup(
        chat_id=-1, title="t", protected_by=None, protected_at=datetime(2024, 1, 1, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"null",
        b"[]",
        b'{"title": "no id", "protected_at": "2024-01-01"}',
        b'{"chat_id": 1, "title": "t", "protected_at": "yesterday"}',
        b'{"chat_id": 1, "title": "t", "protected_at": "2024-01-01", '
        b'"settings": {"action": "explode"}}',
    ],
)
def test_unreadable_input_raises_value_error(raw: bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_group(raw)
