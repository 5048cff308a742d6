"""AdminCheck: every config_rights policy against every member status, anonymous
admins, operators, and a failing Telegram look-up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gmbot.bot.refusals import refusal_text
from gmbot.domain.models import ConfigRights, GroupSettings, ProtectedGroup
from gmbot.domain.telegram import MemberStatus, TelegramUnavailable
from gmbot.services.admin_check import AdminCheck, Permission, Refusal
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import Actor
from tests.fakes.telegram_gateway import FakeTelegramGateway

CHAT = -100123
OPERATOR = 1
USER = 42


class FixedDirectory(GroupDirectory):
    """The group's configuration without a database: only group() is used here."""

    def __init__(self, group: ProtectedGroup | None) -> None:
        self._fixed = group

    async def group(self, chat_id: int) -> ProtectedGroup | None:
        return self._fixed if chat_id == CHAT else None


def make(policy: ConfigRights | None) -> tuple[AdminCheck, FakeTelegramGateway]:
    telegram = FakeTelegramGateway()
    telegram.supergroup(CHAT)
    group = (
        None
        if policy is None
        else ProtectedGroup(
            CHAT,
            "G",
            None,
            datetime(2026, 1, 1, tzinfo=UTC),
            settings=GroupSettings(config_rights=policy),
        )
    )
    return AdminCheck(telegram, {OPERATOR}, FixedDirectory(group)), telegram


# status -> None for a plain member, else (creator, holds can_restrict_members)
STATUSES = {
    "member": None,
    "creator": (True, True),
    "admin_ban": (False, True),
    "admin_no_ban": (False, False),
}

EXPECTED: dict[tuple[ConfigRights, str], Refusal | None] = {
    (ConfigRights.ALL, "member"): Refusal.NOT_ADMIN,
    (ConfigRights.ALL, "creator"): None,
    (ConfigRights.ALL, "admin_ban"): None,
    (ConfigRights.ALL, "admin_no_ban"): None,
    (ConfigRights.RESTRICT, "member"): Refusal.NOT_ADMIN,
    (ConfigRights.RESTRICT, "creator"): None,
    (ConfigRights.RESTRICT, "admin_ban"): None,
    (ConfigRights.RESTRICT, "admin_no_ban"): Refusal.LACKS_RESTRICT,
    (ConfigRights.CREATOR, "member"): Refusal.NOT_ADMIN,
    (ConfigRights.CREATOR, "creator"): None,
    (ConfigRights.CREATOR, "admin_ban"): Refusal.NOT_CREATOR,
    (ConfigRights.CREATOR, "admin_no_ban"): Refusal.NOT_CREATOR,
}


def seat(telegram: FakeTelegramGateway, status: str) -> None:
    shape = STATUSES[status]
    if shape is None:
        telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
        return
    creator, ban = shape
    rights = frozenset(
        {"can_restrict_members", "can_delete_messages"} if ban else {"can_delete_messages"}
    )
    telegram.set_admin(CHAT, USER, rights, creator=creator)


@pytest.mark.parametrize(("policy", "status"), list(EXPECTED))
async def test_policy_by_status(policy: ConfigRights, status: str) -> None:
    check, telegram = make(policy)
    seat(telegram, status)
    decision = await check.may_configure(CHAT, Actor(USER, "u"))
    assert decision.refusal is EXPECTED[(policy, status)]
    assert (await check.may_configure_user(CHAT, USER)).refusal is EXPECTED[(policy, status)]
    assert await check.allowed(CHAT, Actor(USER, "u")) is (decision.refusal is None)


@pytest.mark.parametrize("policy", list(ConfigRights))
async def test_operator_always_may_without_asking_telegram(policy: ConfigRights) -> None:
    check, telegram = make(policy)
    telegram.calls.clear()
    assert (await check.may_configure(CHAT, Actor(OPERATOR, "op"))).allowed
    assert (await check.may_configure_user(CHAT, OPERATOR)).allowed
    assert not [c for c in telegram.calls if c.method == "get_member"]


@pytest.mark.parametrize(
    ("policy", "refusal"),
    [
        (ConfigRights.ALL, None),
        (ConfigRights.RESTRICT, Refusal.ANONYMOUS),
        (ConfigRights.CREATOR, Refusal.ANONYMOUS),
    ],
)
async def test_anonymous_admin(policy: ConfigRights, refusal: Refusal | None) -> None:
    check, _ = make(policy)
    decision = await check.may_configure(CHAT, Actor(None, "group", as_group=True))
    assert decision.refusal is refusal
    text = refusal_text(decision)
    if refusal is None:
        assert text is None
    else:
        assert text is not None
        assert "Remain anonymous" in text
        assert "private" in text


async def test_unprotected_group_behaves_as_all() -> None:
    check, telegram = make(None)
    seat(telegram, "admin_no_ban")
    assert (await check.may_configure(CHAT, Actor(USER, "u"))).allowed
    assert (await check.may_configure(CHAT, Actor(None, "g", as_group=True))).allowed


async def test_no_user_is_refused() -> None:
    check, _ = make(ConfigRights.ALL)
    assert (await check.may_configure(CHAT, Actor(None, "?"))).refusal is Refusal.NOT_ADMIN


@pytest.mark.parametrize("policy", list(ConfigRights))
async def test_telegram_failure_refuses_with_could_not_check(policy: ConfigRights) -> None:
    check, telegram = make(policy)
    seat(telegram, "creator")
    telegram.fail("get_member", TelegramUnavailable("down"), times=2)
    decision = await check.may_configure(CHAT, Actor(USER, "u"))
    assert decision.refusal is Refusal.CHECK_FAILED
    assert (await check.may_configure_user(CHAT, USER)).refusal is Refusal.CHECK_FAILED
    text = refusal_text(decision)
    assert text is not None
    assert "Could not check" in text


def test_refusal_texts_are_html_safe() -> None:
    for refusal in Refusal:
        for policy in ConfigRights:
            text = refusal_text(Permission(refusal, policy))
            assert text
            assert "<" not in text
            assert "{" not in text
