"""A local Telegram Bot API emulator for end-to-end, multi-instance, fault and load tests.

The real bot (aiogram, any process) talks to it as to Telegram: point aiogram at it with
``TelegramAPIServer.from_base(base_url)``. Tests drive the world through the control API.

Start it::

    bot-api-emulator --port 8081 \\
        --token 123456:secret,gm_test_bot [--set webhook_timeout=5]

    async with EmulatorServer(spec_path=...) as emu:   # in-process, port 0
        bot = await emu.client.create_bot("gm_test_bot")

Bot side
    ``GET|POST /bot{token}/{method}`` with a query string, JSON, urlencoded or multipart body.
    Methods: getMe getUpdates setWebhook deleteWebhook getWebhookInfo close logOut getChat
    getChatMember getChatAdministrators getChatMemberCount leaveChat sendMessage
    editMessageText editMessageReplyMarkup deleteMessage deleteMessages sendChatAction
    restrictChatMember banChatMember unbanChatMember banChatSenderChat unbanChatSenderChat
    setChatPermissions approveChatJoinRequest declineChatJoinRequest answerCallbackQuery
    createChatInviteLink exportChatInviteLink setMyCommands getMyCommands deleteMyCommands.
    Flood limits (off unless PUT /rate_limits turns them on): writes and reads per bot and
    messages per chat, as separate buckets answered with 429 and retry_after (ratelimit.py).

Control side (JSON; errors are ``{"error": "..."}`` with a 4xx status), under ``/_emulator``::

    GET    /health                        POST   /reset
    GET    /settings                      PATCH  /settings            {name: value, ...}
    POST   /clock        {advance}        PUT    /rate_limits         {enabled}
    POST   /bots         {username, first_name?, token?, can_read_all_group_messages?}
    GET    /bots
    POST   /users        {first_name, username?, last_name?, is_bot?, language_code?}
    POST   /users/{id}/start  {bot_id?, payload?}     POST /users/{id}/block {bot_id?, blocked}
    POST   /chats        {type, title, username?, is_forum?, permissions?, linked_chat_id?,
                          creator_id?, description?, join_by_request?, has_hidden_members?}
    GET    /chats/{id}                    PATCH  /chats/{id}          {permissions?, title?, ...}
    POST   /chats/{id}/migrate            POST   /chats/{id}/topics   {name}
    GET    /chats/{id}/members            GET    /chats/{id}/members/{user_id}
    PUT    /chats/{id}/members/{user_id}  {status, can_*..., until_date?, is_anonymous?,
                                           custom_title?, is_member?, actor_id?, service?}
    POST   /chats/{id}/join  {user_id, invite_link?}   POST /chats/{id}/leave {user_id}
    POST   /chats/{id}/join_requests      {user_id, bio?, invite_link?}
    GET    /chats/{id}/messages?bot_id=
    POST   /chats/{id}/messages           {user_id, text?, media?, caption?, reply_to?,
                                           thread_id?, sender_chat_id?, is_automatic_forward?,
                                           edit_of?, bot_id?}
    POST   /chats/{id}/messages/{message_id}/press  {user_id, data, timeout?, wait?, bot_id?}
    POST   /bulk/messages                 {chat_ids, user_ids, count, text?}
    GET    /requests?method=&bot_id=&since=           GET /updates?bot_id=
    GET    /conformance                   DELETE /conformance
    GET    /deliveries?bot_id=&update_id=             GET /stats
    GET    /message_log?chat_id=          (each message: posted_at, deleted_at, deleted_by)
    POST   /delivery/pause                POST   /delivery/resume
    POST   /faults       {method?, chat_id?, error_code?, description?, retry_after?,
                          latency?, probability?, times?, seed?}
    POST   /faults/webhook {kind: drop|lose_response|delay, probability?, times?, seed?,
                            latency?, bot_id?, chat_id?}
    GET    /faults                        DELETE /faults
"""

from .app import EmulatorServer, build_app, main
from .client import (
    Bot,
    CallbackAnswer,
    Chat,
    ConformanceError,
    Delivery,
    EmulatorClient,
    EmulatorError,
    MessageLife,
    RequestRecord,
    User,
    wait_for,
)
from .core import Emulator
from .settings import Settings
from .spec import BUNDLED_SPEC

__all__ = [
    "BUNDLED_SPEC",
    "Bot",
    "CallbackAnswer",
    "Chat",
    "ConformanceError",
    "Delivery",
    "Emulator",
    "EmulatorClient",
    "EmulatorError",
    "EmulatorServer",
    "MessageLife",
    "RequestRecord",
    "Settings",
    "User",
    "build_app",
    "main",
    "wait_for",
]
