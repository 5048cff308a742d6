"""getMe and update delivery setup: getUpdates, setWebhook, deleteWebhook, getWebhookInfo."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from bot_api_emulator.errors import (
    CONFLICT_SET_WEBHOOK,
    CONFLICT_WEBHOOK_ACTIVE,
    ApiError,
    bad_request,
)
from bot_api_emulator.serialize import user_json
from bot_api_emulator.updates import WebhookConfig

from .base import Call, Raw, WithDescription, method

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@method("getMe")
def get_me(call: Call) -> dict[str, Any]:
    bot = call.bot
    return user_json(bot.user) | {
        "can_join_groups": bot.can_join_groups,
        "can_read_all_group_messages": bot.can_read_all_group_messages,
        "supports_inline_queries": bot.supports_inline_queries,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(call: Call) -> Any:
    """The allowed_updates parameter; unreadable values are ignored, as Telegram does."""
    if not call.params.has("allowed_updates"):
        return None
    value = call.params.raw["allowed_updates"]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, list) else None


@method("getUpdates")
async def get_updates(call: Call) -> Raw:
    runtime = call.emu.updates[call.bot_id]
    if runtime.webhook is not None:
        raise ApiError(409, CONFLICT_WEBHOOK_ACTIVE)
    p = call.params
    offset = p.integer("offset", 0) or 0
    limit = min(max(p.integer("limit", 100) or 100, 1), 100)
    timeout = min(max(p.integer("timeout", 0) or 0, 0), call.emu.settings.long_poll_max_timeout)
    runtime.set_allowed(_allowed_updates(call))
    batch = await runtime.get_updates(offset, limit, timeout)
    return Raw(b"[" + b",".join(update.body for update in batch) + b"]")


async def _delete(call: Call) -> WithDescription:
    runtime = call.emu.updates[call.bot_id]
    if call.params.boolean("drop_pending_updates"):
        runtime.drop_all()
    if runtime.webhook is None:
        return WithDescription(True, "Webhook is already deleted")
    await call.emu.set_webhook(call.bot_id, None)
    return WithDescription(True, "Webhook was deleted")


@method("setWebhook")
async def set_webhook(call: Call) -> WithDescription:
    p = call.params
    url = p.string("url") or ""
    if not url:
        return await _delete(call)
    parts = urlsplit(url)
    # Telegram insists on HTTPS and ports 443/80/88/8443; a local emulator must accept plain
    # HTTP on any port, so only the URL's shape is checked.
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("invalid webhook URL specified")
    secret = p.string("secret_token")
    if secret is not None and not _SECRET_RE.match(secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = min(max(p.integer("max_connections", 40) or 40, 1), 100)
    ip_address = p.string("ip_address")
    runtime = call.emu.updates[call.bot_id]
    runtime.set_allowed(_allowed_updates(call))
    drop = p.boolean("drop_pending_updates")
    current = runtime.webhook
    if (
        current is not None
        and not drop
        and (current.url, current.secret_token, current.max_connections, current.ip_address)
        == (url, secret, max_connections, ip_address)
    ):
        return WithDescription(True, "Webhook is already set")
    runtime.abort_poll(CONFLICT_SET_WEBHOOK)
    if drop:
        runtime.drop_all()
    await call.emu.set_webhook(
        call.bot_id, WebhookConfig(url, secret, max_connections, ip_address=ip_address)
    )
    return WithDescription(True, "Webhook was set")


@method("deleteWebhook")
async def delete_webhook(call: Call) -> WithDescription:
    return await _delete(call)


@method("getWebhookInfo")
def get_webhook_info(call: Call) -> dict[str, Any]:
    runtime = call.emu.updates[call.bot_id]
    config = runtime.webhook
    info: dict[str, Any] = {
        "url": config.url if config else "",
        "has_custom_certificate": False,
        "pending_update_count": runtime.pending_count,
    }
    if config is None:
        return info
    if config.ip_address:
        info["ip_address"] = config.ip_address
    if config.last_error_date is not None:
        info["last_error_date"] = config.last_error_date
        info["last_error_message"] = config.last_error_message
    info["max_connections"] = config.max_connections
    if runtime.explicit_allowed is not None:
        info["allowed_updates"] = list(runtime.explicit_allowed)
    return info


@method("close")
def close(call: Call) -> bool:
    return True


@method("logOut")
def log_out(call: Call) -> bool:
    return True
