"""The service layer, wired to the ports the Gateways container provides."""

from __future__ import annotations

from operator import attrgetter

from dependency_injector import containers, providers

from gmbot.bot.services import Services
from gmbot.config import FailMode, Settings
from gmbot.container.resources import bot_id_from
from gmbot.metrics import Metrics
from gmbot.services.action_handlers import GateActionHandlers
from gmbot.services.action_runner import ActionRunner, RetryPolicy
from gmbot.services.admin_check import AdminCheck
from gmbot.services.chat_events import ChatEventsService
from gmbot.services.command_menus import CommandMenus
from gmbot.services.directory import GroupDirectory
from gmbot.services.gate import GatePolicy, GateService
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.janitor import PromptJanitor
from gmbot.services.membership import MembershipChecker
from gmbot.services.mute_reconciler import MuteReconciler
from gmbot.services.muting import MuteService
from gmbot.services.notifier import AdminNotifier
from gmbot.services.private import PrivateService
from gmbot.services.private_panel import PrivatePanelService
from gmbot.services.prompting import PromptService, RaidPolicy
from gmbot.services.protection import ProtectionService
from gmbot.services.settings_panel import SettingsPanelService
from gmbot.services.verification import VerificationService
from gmbot.services.verify_timeout import VerifyTimeouts


def gate_policy_from(settings: Settings) -> GatePolicy:
    return GatePolicy(fail_open=settings.fail_mode is FailMode.OPEN)


def raid_policy_from(settings: Settings) -> RaidPolicy:
    return RaidPolicy(
        window=settings.raid_window, calm=settings.raid_calm, edit_every=settings.raid_edit_every
    )


class ServiceLayer(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    metrics = providers.Dependency(instance_of=Metrics)
    gateways = providers.DependenciesContainer()

    bot_id = providers.Callable(bot_id_from, settings)
    operators = providers.Callable(attrgetter("owner_ids"), settings)
    gate_policy = providers.Callable(gate_policy_from, settings)

    directory = providers.Singleton(
        GroupDirectory,
        gateways.uow,
        gateways.gate_cache,
        gateways.telegram,
        metrics,
        group_ttl=settings.provided.group_cache_ttl,
        admin_ttl=settings.provided.admin_cache_ttl,
        clock=gateways.clock,
    )
    checker = providers.Singleton(
        MembershipChecker, gateways.telegram, gateways.membership_cache, gateways.throttle, metrics
    )
    notifier = providers.Singleton(
        AdminNotifier, gateways.uow, gateways.telegram, gateways.throttle
    )
    muter = providers.Singleton(
        MuteService,
        gateways.uow,
        gateways.telegram,
        gateways.prompts,
        gateways.outbox,
        metrics,
        gateways.clock,
    )
    reconciler = providers.Singleton(
        MuteReconciler,
        gateways.uow,
        gateways.telegram,
        directory,
        muter,
        gateways.job_lock,
        metrics,
        gateways.clock,
        interval=settings.provided.reconcile_interval,
        after=settings.provided.reconcile_after,
        batch=settings.provided.reconcile_batch,
        wall=gateways.wall_seconds,
    )
    gate = providers.Singleton(
        GateService,
        gateways.gate_cache,
        directory,
        checker,
        gateways.outbox,
        notifier,
        gateways.telegram,
        gateways.uow,
        metrics,
        gate_policy,
        clock=gateways.wall_seconds,
    )
    raid_policy = providers.Callable(raid_policy_from, settings)
    prompting = providers.Singleton(
        PromptService,
        directory,
        gateways.prompts,
        gateways.raid_watch,
        gateways.telegram,
        notifier,
        gateways.uow,
        metrics,
        raid_policy,
        clock=gateways.wall_seconds,
    )
    action_handlers = providers.Singleton(
        GateActionHandlers,
        gate,
        muter,
        directory,
        gateways.outbox,
        gateways.warnings,
        gateways.telegram,
        gateways.uow,
        metrics,
        clock=gateways.wall_seconds,
    )
    verify_timeouts = providers.Singleton(
        VerifyTimeouts,
        directory,
        gateways.uow,
        gateways.telegram,
        checker,
        muter,
        gateways.outbox,
        gateways.throttle,
        metrics,
    )
    runner = providers.Singleton(
        ActionRunner,
        gate,
        muter,
        prompting,
        directory,
        gateways.outbox,
        gateways.uow,
        metrics,
        action_handlers,
        verify_timeouts,
        retry=providers.Singleton(
            RetryPolicy,
            base=settings.provided.outbox_retry_base,
            cap=settings.provided.outbox_retry_cap,
            max_attempts=settings.provided.outbox_max_attempts,
            unknown_wait=settings.provided.telegram_timeout,
        ),
    )
    protection = providers.Singleton(
        ProtectionService,
        gateways.uow,
        gateways.telegram,
        directory,
        muter,
        bot_id.provider,
        gateways.clock,
    )
    group_admin = providers.Singleton(
        GroupAdminService,
        gateways.uow,
        gateways.telegram,
        directory,
        protection,
        bot_id.provider,
        gateways.clock,
        gateways.raid_watch,
        prompting,
    )
    verification = providers.Singleton(
        VerificationService,
        gateways.uow,
        directory,
        checker,
        gateways.membership_cache,
        muter,
        gateways.outbox,
        gateways.throttle,
        metrics,
        gateways.warnings,
        recheck_interval=settings.provided.recheck_interval,
    )
    chat_events = providers.Singleton(
        ChatEventsService, gateways.uow, directory, verification, notifier
    )
    private = providers.Singleton(PrivateService, gateways.uow, gateways.clock)
    admin_check = providers.Singleton(AdminCheck, gateways.telegram, operators, directory)
    command_menus = providers.Singleton(
        CommandMenus, gateways.telegram, gateways.menu_store, gateways.job_lock
    )
    panel = providers.Singleton(
        SettingsPanelService,
        group_admin,
        admin_check,
        gateways.uow,
        gateways.clock,
    )
    private_panel = providers.Singleton(
        PrivatePanelService, panel, group_admin, protection, gateways.pending_inputs, gateways.uow
    )
    janitor = providers.Singleton(
        PromptJanitor, gateways.prompts, gateways.telegram, clock=gateways.wall_seconds
    )

    # What the handlers receive; resolving it asks the Bot API who the bot is.
    bundle = providers.Singleton(
        Services,
        gate=gate,
        protection=protection,
        group_admin=group_admin,
        verification=verification,
        chat_events=chat_events,
        private=private,
        admin_check=admin_check,
        panel=panel,
        private_panel=private_panel,
        telegram=gateways.telegram,
        metrics=metrics,
        bot_username=gateways.identity.provided.username,
    )
