"""The services' unit-test environment: the application's own container, its
Gateways overridden with in-memory fakes; and helpers to arrange and read scenarios."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dependency_injector import providers

from gmbot.config import Settings, load_settings
from gmbot.container import build_container
from gmbot.delivery.outbox_worker import OutboxWorkers
from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    Restriction,
)
from gmbot.domain.telegram import MemberStatus
from gmbot.metrics import Metrics
from gmbot.services.action_runner import ActionRunner
from gmbot.services.admin_check import AdminCheck
from gmbot.services.chat_events import ChatEventsService
from gmbot.services.directory import GroupDirectory
from gmbot.services.events import IncomingMessage
from gmbot.services.gate import GateService, Verdict
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.janitor import PromptJanitor
from gmbot.services.membership import MembershipChecker
from gmbot.services.muting import MuteService
from gmbot.services.notifier import AdminNotifier
from gmbot.services.private import PrivateService
from gmbot.services.prompting import PromptService
from gmbot.services.protection import ProtectionService
from gmbot.services.verification import VerificationService
from tests.fakes.clock import FakeClock
from tests.fakes.counting_uow import CountingUnitOfWorkFactory
from tests.fakes.gate_cache import InMemoryGateCache
from tests.fakes.gateways import FakeGateways
from tests.fakes.membership_cache import InMemoryMembershipCache
from tests.fakes.outbox import InMemoryOutbox
from tests.fakes.prompt_store import InMemoryPromptStore
from tests.fakes.raid_watch import InMemoryRaidWatch
from tests.fakes.telegram_gateway import BOT_ID, FakeTelegramGateway
from tests.fakes.throttle import InMemoryThrottle
from tests.fakes.warnings import InMemoryWarningStore

CHAT = -1001000000001
OTHER_CHAT = -1001000000002
CH_A = -1002000000001  # public: @chan_a
CH_B = -1002000000002  # private: invite link only
LINKED = -1002000000009  # the group's discussion channel
USER, USER2, OWNER, ADMIN = 42, 43, 7, 8
INVITE_B = "https://t.me/+secretB"

# The unit tests' settings (Settings' defaults, set here so no environment changes them).
GROUP_TTL, ADMIN_TTL, RECHECK = 3600, 600, 5.0
VERIFY_TTL, NEGATIVE_TTL = 600, 30


@dataclass
class Env:
    clock: FakeClock
    uow: CountingUnitOfWorkFactory
    telegram: FakeTelegramGateway
    members: InMemoryMembershipCache
    gate_cache: InMemoryGateCache
    throttle: InMemoryThrottle
    prompts: InMemoryPromptStore
    metrics: Metrics
    directory: GroupDirectory
    checker: MembershipChecker
    notifier: AdminNotifier
    muter: MuteService
    gate: GateService
    protection: ProtectionService
    group_admin: GroupAdminService
    verification: VerificationService
    chat_events: ChatEventsService
    private: PrivateService
    admin_check: AdminCheck
    janitor: PromptJanitor
    outbox: InMemoryOutbox
    raids: InMemoryRaidWatch
    prompting: PromptService
    workers: OutboxWorkers
    runner: ActionRunner
    warnings: InMemoryWarningStore
    settings: Settings
    operators: set[int] = field(default_factory=set)

    # ---- the workers' half
    async def drain(self) -> int:
        """Carry out what the services recorded in the outbox, as the workers would."""
        return await self.workers.drain()

    async def gate_message(self, msg: IncomingMessage) -> Verdict:
        """The webhook's decision on the message, then the workers' actions."""
        verdict = await self.gate.on_message(msg)
        await self.drain()
        return verdict

    async def retry_due(self) -> int:
        """Let the claim timeout and the longest retry backoff pass, so what was taken
        but not settled (a transient failure, postponed) is handed out again; drain."""
        s = self.settings
        self.clock.advance(max(s.outbox_claim_after, s.outbox_retry_cap * 1.25) + 0.1)
        return await self.drain()

    # ---- reading the outcome
    def counter(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, {"instance_id": "test", **labels})
        return value or 0.0

    async def group(self, chat_id: int = CHAT) -> ProtectedGroup | None:
        async with self.uow() as uow:
            return await uow.groups.get(chat_id)

    async def restriction(self, chat_id: int, user_id: int) -> Restriction | None:
        async with self.uow() as uow:
            return await uow.restrictions.get(chat_id, user_id)

    async def audit(self, chat_id: int = CHAT) -> list[AuditEntry]:
        """Oldest first."""
        async with self.uow() as uow:
            return list(reversed(await uow.audit.recent(chat_id, 1000)))

    async def audit_kinds(self, chat_id: int = CHAT) -> list[AuditKind]:
        return [e.kind for e in await self.audit(chat_id)]

    # ---- arranging a scenario
    async def protect(
        self,
        chat_id: int = CHAT,
        channels: Sequence[LinkedChannel] | None = None,
        *,
        settings: GroupSettings | None = None,
        linked_chat_id: int | None = None,
        owners: Sequence[int] = (),
        exempt: Sequence[int] = (),
        missing_rights: Sequence[str] = (),
    ) -> ProtectedGroup:
        """Store a protected group directly (not through ProtectionService)."""
        if channels is None:
            channels = [channel_a()]
        now = self.clock.utc()
        async with self.uow() as uow:
            await uow.groups.protect(chat_id, "Group", OWNER, linked_chat_id, channels, now)
            if settings is not None:
                await uow.groups.update_settings(chat_id, settings)
            if missing_rights:
                await uow.groups.set_missing_rights(chat_id, missing_rights)
            for owner in owners:
                await uow.owners.add(chat_id, owner, now)
            for user_id in exempt:
                await uow.exempt.add(chat_id, user_id, OWNER, now)
            await uow.commit()
            group = await uow.groups.get(chat_id)
        assert group is not None
        return group

    async def start_bot(self, user_id: int) -> None:
        """The user started the bot in private: both Telegram and the database know."""
        self.telegram.started.add(user_id)
        await self.private.started(user_id)

    async def warm(self, chat_id: int = CHAT) -> None:
        """Load the group and its admins into the gate cache."""
        await self.directory.reload(chat_id)
        assert await self.directory.load_admins(chat_id)

    def reset_counters(self) -> None:
        self.telegram.calls.clear()
        self.uow.opened = 0
        self.gate_cache.lookups = 0
        self.members.gets = 0


def channel_a() -> LinkedChannel:
    return LinkedChannel(CH_A, "Channel A", username="chan_a")


def channel_b() -> LinkedChannel:
    return LinkedChannel(CH_B, "Channel B", invite_link=INVITE_B)


def message(
    env: Env, user_id: int | None = USER, chat_id: int = CHAT, **extra: Any
) -> IncomingMessage:
    """A message `user_id` posted (it exists in the fake Telegram, so it can be deleted)."""
    message_id = env.telegram.post(chat_id, user_id or 0)
    return IncomingMessage(
        chat_id=chat_id,
        chat_type=env.telegram.chats[chat_id].type,
        message_id=message_id,
        user_id=user_id,
        user_name="Alice",
        **extra,
    )


def unit_settings(*, fail_open: bool = True) -> Settings:
    return load_settings(
        _env_file=None,
        bot_token=f"{BOT_ID}:UNIT",
        instance_id="test",
        fail_mode="open" if fail_open else "closed",
        group_cache_ttl=GROUP_TTL,
        admin_cache_ttl=ADMIN_TTL,
        recheck_interval=RECHECK,
        verify_cache_ttl=VERIFY_TTL,
        negative_cache_ttl=NEGATIVE_TTL,
        owner_ids="",
        # A failed action comes back within retry_due()'s step (the claim timeout).
        outbox_retry_base=0.5,
        outbox_retry_cap=2.0,
    )


def advancing_sleep(clock: FakeClock) -> Callable[[float], Awaitable[None]]:
    """asyncio.sleep on the fake clock: moves it on, then lets other tasks run."""

    async def sleep(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)

    return sleep


def build_env(*, fail_open: bool = True, latency: float = 0.0) -> Env:
    settings = unit_settings(fail_open=fail_open)
    container = build_container(settings)
    fakes = FakeGateways(settings=settings)
    fakes.telegram.add_kwargs(latency=latency)
    container.gateways.override(fakes)
    services = container.services
    # A set the test adds operators to after the build (OWNER_IDS is fixed in production).
    operators: set[int] = set()
    services.operators.override(providers.Object(operators))
    # Shorter polling than production so waiting callers do not slow the suite.
    services.checker.add_kwargs(wait_seconds=0.15, poll_interval=0.002)
    # A button press waiting out the recheck interval waits on the fake clock.
    services.verification.add_kwargs(sleep=advancing_sleep(fakes.wall_seconds()))
    return Env(
        clock=fakes.wall_seconds(),
        uow=fakes.uow(),
        telegram=fakes.telegram(),
        members=fakes.membership_cache(),
        gate_cache=fakes.gate_cache(),
        throttle=fakes.throttle(),
        prompts=fakes.prompts(),
        metrics=container.metrics(),
        directory=services.directory(),
        checker=services.checker(),
        notifier=services.notifier(),
        muter=services.muter(),
        gate=services.gate(),
        protection=services.protection(),
        group_admin=services.group_admin(),
        verification=services.verification(),
        chat_events=services.chat_events(),
        private=services.private(),
        admin_check=services.admin_check(),
        janitor=services.janitor(),
        outbox=fakes.outbox(),
        raids=fakes.raid_watch(),
        prompting=services.prompting(),
        workers=container.delivery.workers(),
        runner=services.runner(),
        warnings=fakes.warnings(),
        settings=settings,
        operators=operators,
    )


def standard_world(env: Env) -> None:
    """CHAT: a supergroup where the bot has every right; CH_A public, CH_B private,
    the bot admin of both; ADMIN an admin of CHAT; nobody in any channel yet."""
    tg = env.telegram
    tg.supergroup(CHAT, "Group", linked_chat_id=LINKED)
    tg.channel(CH_A, "Channel A", username="chan_a")
    tg.channel(CH_B, "Channel B", invite_link=INVITE_B)
    tg.set_admin(CHAT, ADMIN)
    tg.set_admin(CHAT, OWNER, creator=True)
    for user in (USER, USER2):
        tg.set_member(CHAT, user, MemberStatus.MEMBER)
