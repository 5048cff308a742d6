"""Updates shaped as Telegram sends them: the ones the fast path takes for itself
(ACCEPTED) and the ones it must leave to aiogram's routers (DECLINED)."""

from __future__ import annotations

from typing import Any

USER = {"id": 42, "is_bot": False, "first_name": "Ann", "last_name": "Lee"}
GROUP = {"id": -1001, "type": "supergroup", "title": "G"}


def update(kind: str = "message", **fields: Any) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "message_id": 7, "date": 1, "chat": dict(GROUP), "from": dict(USER), "text": "hi",
    }  # fmt: skip
    msg.update(fields)
    for key in [k for k, v in msg.items() if v is None]:
        del msg[key]
    return {"update_id": 1, kind: msg}


ACCEPTED = [
    update(),
    update("edited_message", edit_date=2),
    update(text=None, photo=[{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}]),
    update(text=None, sticker=None, dice={"emoji": "🎲", "value": 3}),
    update(**{"from": {"id": 5, "is_bot": False, "first_name": "Solo"}}),
    update(**{"from": {"id": 6, "is_bot": True, "first_name": "Bot"}}),
    update(chat={"id": -5, "type": "group", "title": "Basic"}),
    update(message_thread_id=9, is_topic_message=True),
    update(message_thread_id=9),  # a reply thread, not a forum topic
    update(text="see /status"),  # a command only when it leads
    update(text="@gm_test_bot hi", entities=[{"type": "mention", "offset": 0, "length": 12}]),
    update(reply_to_message=update(text="earlier")["message"]),
    update(forward_origin={"type": "hidden_user", "date": 1, "sender_user_name": "X"}),
    update(
        text=None,
        caption="look",
        video={"file_id": "v", "file_unique_id": "w", "width": 1, "height": 1, "duration": 2},
    ),
    update(
        "edited_message",
        edit_date=3,
        text=None,
        caption="fixed",
        photo=[{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}],
    ),
]


DECLINED = {
    "command": update(text="/status"),
    "command in a caption": update(
        text=None,
        caption="/protect @x",
        photo=[{"file_id": "a", "file_unique_id": "b", "width": 1, "height": 1}],
    ),
    "service message": update(text=None, new_chat_members=[USER]),
    "sent as a chat": update(sender_chat={"id": -1001, "type": "supergroup", "title": "G"}),
    "private chat": update(chat={"id": 42, "type": "private", "first_name": "Ann"}),
    "channel post": {"update_id": 1, "channel_post": update()["message"]},
    "migration": update(text=None, migrate_to_chat_id=-100999),
    "callback query": {"update_id": 1, "callback_query": {"id": "1"}},
    "string update_id": {**update(), "update_id": "1"},
    "bool update_id": {**update(), "update_id": True},
    "string chat id": update(chat={"id": "-1001", "type": "supergroup"}),
    "no sender": update(**{"from": None}),
    "name not a string": update(**{"from": {"id": 1, "is_bot": False, "first_name": 5}}),
    "extra top-level field": {**update(), "edited_message": update()["message"]},
    "thread id not a number": update(message_thread_id="x", is_topic_message=True),
    # Fields the fast path does not read are still checked against the Bot API's types.
    "no date": update(date=None),
    "date not a number": update(date="1"),
    "entities not a list": update(entities="bold"),
    "reply not an object": update(reply_to_message=7),
    "flag not a boolean": update(is_automatic_forward="yes"),
    "a field this Bot API version does not have": update(future_field=1),
    "chat title not a string": update(chat={"id": -1001, "type": "supergroup", "title": 5}),
    "username not a string": update(
        **{"from": {"id": 1, "is_bot": False, "first_name": "A", "username": 7}}
    ),
}
