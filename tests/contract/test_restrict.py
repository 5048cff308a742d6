"""restrict: muting removes every permission, restoring the defaults makes a plain member
again, and the refusals the mute service relies on, in every model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gmbot.domain.telegram import (
    MUTED,
    PERMISSION_FIELDS,
    MemberStatus,
    NotEnoughRights,
)
from tests.contract.models import FULL_RIGHTS, GROUP_DEFAULTS, TelegramModel


def _in_an_hour() -> datetime:
    return (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)


async def test_mute_then_restore_the_defaults(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    until = _in_an_hour()
    await tg.gateway.restrict(group, user, MUTED, until)
    muted = await tg.gateway.get_member(group, user)
    assert (muted.status, muted.is_member, muted.until) == (MemberStatus.RESTRICTED, True, until)
    assert muted.is_subscribed  # still in the group, only silenced
    # What the mute service does to lift it: the group's defaults, as getChat reports them.
    defaults = (await tg.gateway.get_chat(group)).permissions
    assert defaults is not None
    await tg.gateway.restrict(group, user, defaults)
    assert (await tg.gateway.get_member(group, user)).status is MemberStatus.MEMBER


async def test_mute_forever(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.gateway.restrict(group, user, MUTED)
    muted = await tg.gateway.get_member(group, user)
    assert (muted.status, muted.until) == (MemberStatus.RESTRICTED, None)


async def test_every_permission_counts(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    for name in ("can_react_to_messages", "can_send_messages", "can_invite_users"):
        user = await tg.user()
        await tg.member(group, user)
        # Only this one permission taken away (others as the group allows): restricted.
        await tg.gateway.restrict(group, user, {**GROUP_DEFAULTS, name: False})
        assert (await tg.gateway.get_member(group, user)).status is MemberStatus.RESTRICTED, name


async def test_granting_everything_lifts_the_restriction(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    await tg.gateway.restrict(group, user, MUTED)
    # "Pass True for all permissions to lift restrictions from a user."
    await tg.gateway.restrict(group, user, dict.fromkeys(PERMISSION_FIELDS, True))
    assert (await tg.gateway.get_member(group, user)).status is MemberStatus.MEMBER


async def test_omitted_permissions_follow_their_documented_defaults(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.member(group, user)
    # can_react_to_messages defaults to can_send_messages, can_edit_tag and can_manage_topics
    # to can_pin_messages; everything else omitted is False.
    partial = {k: v for k, v in GROUP_DEFAULTS.items() if k != "can_react_to_messages"}
    await tg.gateway.restrict(group, user, partial)
    assert (await tg.gateway.get_member(group, user)).status is MemberStatus.MEMBER


async def test_mute_someone_not_in_the_group(tg: TelegramModel) -> None:
    group, user = await tg.supergroup(), await tg.user()
    await tg.gateway.restrict(group, user, MUTED)
    muted = await tg.gateway.get_member(group, user)
    assert (muted.status, muted.is_member, muted.is_subscribed) == (
        MemberStatus.RESTRICTED,
        False,
        False,
    )
    await tg.gateway.restrict(group, user, GROUP_DEFAULTS)
    assert (await tg.gateway.get_member(group, user)).status is MemberStatus.LEFT


async def test_refusals(tg: TelegramModel) -> None:
    group = await tg.supergroup()
    owner, admin, user = await tg.user("O"), await tg.user("A"), await tg.user("U")
    await tg.admin(group, owner, frozenset(), creator=True)
    await tg.admin(group, admin, frozenset({"can_delete_messages"}))
    await tg.member(group, user)
    for target in (owner, admin, tg.bot.id):
        with pytest.raises(NotEnoughRights):
            await tg.gateway.restrict(group, target, MUTED)
    weak = await tg.supergroup(bot_rights=FULL_RIGHTS - {"can_restrict_members"})
    await tg.member(weak, user)
    with pytest.raises(NotEnoughRights, match="not enough rights"):
        await tg.gateway.restrict(weak, user, MUTED)
    basic = await tg.basic_group()
    await tg.member(basic, user)
    with pytest.raises(NotEnoughRights, match="only for supergroups"):
        await tg.gateway.restrict(basic, user, MUTED)
    assert (await tg.gateway.get_member(group, user)).status is MemberStatus.MEMBER
