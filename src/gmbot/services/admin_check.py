"""May this actor configure GMBot in this group? Answers a decision with its reason."""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass
from enum import StrEnum

from gmbot.domain.models import ConfigRights
from gmbot.domain.ports import TelegramGateway
from gmbot.domain.telegram import MemberStatus, TelegramError
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import Actor

# The Bot API name of the "Ban users" admin right.
RESTRICT_RIGHT = "can_restrict_members"


class Refusal(StrEnum):
    NOT_ADMIN = "not_admin"
    LACKS_RESTRICT = "lacks_restrict"
    NOT_CREATOR = "not_creator"
    ANONYMOUS = "anonymous"  # rights of an anonymous admin cannot be known
    CHECK_FAILED = "check_failed"  # Telegram did not answer the member look-up


@dataclass(frozen=True, slots=True)
class Permission:
    refusal: Refusal | None = None
    policy: ConfigRights = ConfigRights.ALL

    @property
    def allowed(self) -> bool:
        return self.refusal is None


class AdminCheck:
    def __init__(
        self,
        telegram: TelegramGateway,
        operators: Set[int],
        directory: GroupDirectory | None = None,
    ) -> None:
        self._telegram = telegram
        self._operators = operators
        # Without a directory every group behaves as ALL (the pre-setting behaviour).
        self._directory = directory

    def is_operator(self, user_id: int | None) -> bool:
        return user_id is not None and user_id in self._operators

    async def allowed(self, chat_id: int, actor: Actor) -> bool:
        return (await self.may_configure(chat_id, actor)).allowed

    async def may_configure(self, chat_id: int, actor: Actor) -> Permission:
        if self.is_operator(actor.user_id):
            return Permission()
        policy = await self._policy(chat_id)
        if actor.as_group:
            # Only the group's admins can post on behalf of the group, but who they
            # are, and so their rights, is hidden.
            if policy is ConfigRights.ALL:
                return Permission(policy=policy)
            return Permission(Refusal.ANONYMOUS, policy)
        if actor.user_id is None:
            return Permission(Refusal.NOT_ADMIN, policy)
        return await self._check_member(chat_id, actor.user_id, policy)

    async def may_configure_user(self, chat_id: int, user_id: int) -> Permission:
        if self.is_operator(user_id):
            return Permission()
        return await self._check_member(chat_id, user_id, await self._policy(chat_id))

    async def _policy(self, chat_id: int) -> ConfigRights:
        if self._directory is None:
            return ConfigRights.ALL
        group = await self._directory.group(chat_id)
        return ConfigRights.ALL if group is None else group.settings.config_rights

    async def _check_member(self, chat_id: int, user_id: int, policy: ConfigRights) -> Permission:
        try:
            member = await self._telegram.get_member(chat_id, user_id)
        except TelegramError:
            return Permission(Refusal.CHECK_FAILED, policy)
        if not member.is_admin:
            return Permission(Refusal.NOT_ADMIN, policy)
        if member.status is MemberStatus.CREATOR or policy is ConfigRights.ALL:
            return Permission(policy=policy)
        if policy is ConfigRights.CREATOR:
            return Permission(Refusal.NOT_CREATOR, policy)
        if member.has_right(RESTRICT_RIGHT):
            return Permission(policy=policy)
        return Permission(Refusal.LACKS_RESTRICT, policy)
