"""Errors raised by Bot API methods and by control actions.

Texts are Telegram's own (taken from the Bot API server and observed answers) so that code
matching on descriptions behaves as it would in production.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Bot API failure, rendered as ``{"ok": false, "error_code": ..., "description": ...}``."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.code,
            "description": self.description,
        }
        parameters: dict[str, int] = {}
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


def bad_request(text: str) -> ApiError:
    return ApiError(400, f"Bad Request: {text}")


def forbidden(text: str) -> ApiError:
    return ApiError(403, f"Forbidden: {text}")


def too_many_requests(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


CHAT_NOT_FOUND = "chat not found"
CHAT_ID_EMPTY = "chat_id is empty"
USER_NOT_FOUND = "user not found"
INVALID_USER_ID = "invalid user_id specified"
MEMBER_LIST_INACCESSIBLE = "member list is inaccessible"
NOT_ENOUGH_RIGHTS_RESTRICT = "not enough rights to restrict/unrestrict chat member"
ONLY_SUPERGROUPS = "method is available only for supergroups"
SUPERGROUP_AND_CHANNEL_ONLY = "method is available for supergroup and channel chats only"
USER_IS_ADMIN = "user is an administrator of the chat"
CANT_REMOVE_OWNER = "can't remove chat owner"
CANT_RESTRICT_SELF = "can't restrict self"
MESSAGE_CANT_BE_DELETED = "message can't be deleted"
MESSAGE_TO_DELETE_NOT_FOUND = "message to delete not found"
MESSAGE_TO_EDIT_NOT_FOUND = "message to edit not found"
MESSAGE_CANT_BE_EDITED = "message can't be edited"
MESSAGE_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
MESSAGE_TEXT_EMPTY = "message text is empty"
MESSAGE_TOO_LONG = "message is too long"
REPLY_NOT_FOUND = "message to be replied not found"
THREAD_NOT_FOUND = "message thread not found"
MESSAGE_ID_NOT_SPECIFIED = "message identifier is not specified"
QUERY_ID_INVALID = "query is too old and response timeout expired or query ID is invalid"
CANT_INITIATE = "bot can't initiate conversation with a user"
BOT_BLOCKED = "bot was blocked by the user"
CANT_TALK_TO_BOTS = "bot can't send messages to bots"
GROUP_UPGRADED = "group chat was upgraded to a supergroup chat"
CHAT_ADMIN_REQUIRED = "CHAT_ADMIN_REQUIRED"
NEED_CHANNEL_ADMIN = "need administrator rights in the channel chat"
NOT_ENOUGH_RIGHTS_SEND_TEXT = "not enough rights to send text messages to the chat"
NOT_ENOUGH_RIGHTS_INVITE_LINKS = "not enough rights to manage chat invite links"
JOIN_REQUEST_MISSING = "HIDE_REQUESTER_MISSING"
USER_ALREADY_PARTICIPANT = "USER_ALREADY_PARTICIPANT"
CONFLICT_WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_OTHER_GET_UPDATES = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CONFLICT_SET_WEBHOOK = "Conflict: terminated by setWebhook request"


class ControlError(Exception):
    """A control-API request that a real Telegram client could not perform (HTTP status + text)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
