"""The service bundle handlers receive through aiogram's workflow data."""

from __future__ import annotations

from dataclasses import dataclass

from gmbot.domain.ports import TelegramGateway
from gmbot.metrics import Metrics
from gmbot.services.admin_check import AdminCheck
from gmbot.services.chat_events import ChatEventsService
from gmbot.services.gate import GateService
from gmbot.services.group_admin import GroupAdminService
from gmbot.services.private import PrivateService
from gmbot.services.private_panel import PrivatePanelService
from gmbot.services.protection import ProtectionService
from gmbot.services.settings_panel import SettingsPanelService
from gmbot.services.verification import VerificationService


@dataclass(frozen=True, slots=True)
class Services:
    gate: GateService
    protection: ProtectionService
    group_admin: GroupAdminService
    verification: VerificationService
    chat_events: ChatEventsService
    private: PrivateService
    admin_check: AdminCheck
    panel: SettingsPanelService
    private_panel: PrivatePanelService
    telegram: TelegramGateway
    metrics: Metrics
    bot_username: str
