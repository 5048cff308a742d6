"""The gate, the prompt, the button and automatic unmutes, end to end."""

from __future__ import annotations

import json

import pytest

from gmbot.services.texts import CALLBACK_PREFIX
from tests.e2e.harness import (
    ADMIN,
    CHANNEL,
    CHANNEL2,
    DUPLICATE,
    GROUP,
    MEMBER,
    STRANGER,
    UNAVAILABLE,
    Harness,
)


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    harness.session.clear()
    return harness


def failed_open(h: Harness) -> float:
    assert h.runtime.services is not None
    value = h.runtime.services.metrics.registry.get_sample_value(
        "bot_fail_open_total", {"instance_id": "test-1"}
    )
    return value or 0.0


def prompt_of(h: Harness, user_id: int) -> dict:  # type: ignore[type-arg]
    prompts = [m for m in h.bot_messages(GROUP) if f"tg://user?id={user_id}" in m["text"]]
    assert prompts, "no prompt was sent"
    return prompts[-1]


async def test_member_passes_and_steady_state_costs_no_api_call(protected: Harness) -> None:
    h = protected
    first = h.message_payload(GROUP, MEMBER, "first")
    # Not cached yet: the admin list is loaded in the request, the channel is asked
    # by a worker.
    assert await h.feed({"message": first}) == "queued"
    assert [c.method for c in h.session.calls] == ["getChatAdministrators", "getChatMember"]
    assert h.session.calls[1].params["chat_id"] == str(CHANNEL)
    assert h.present(first)
    h.session.clear()
    for _ in range(5):
        assert await h.say(GROUP, MEMBER, "again") == "passed"
    assert h.session.calls == []


async def test_non_member_is_removed_muted_and_prompted_once(protected: Harness) -> None:
    h = protected
    first = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": first}) == "queued"
    assert not h.present(first)
    assert h.world.status(GROUP, STRANGER) == "restricted"
    # Deleted in a batch; muted without asking the group first (they just posted).
    [delete] = h.session.called("deleteMessages")
    assert json.loads(delete.params["message_ids"]) == [first["message_id"]]
    assert [c.params["chat_id"] for c in h.session.called("getChatMember")] == [str(CHANNEL)]
    assert h.world.members[(GROUP, STRANGER)]["can_send_messages"] is False
    prompt = prompt_of(h, STRANGER)
    buttons = [b for row in prompt["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons[0]["url"] == "https://t.me/newschan"
    assert buttons[-1]["callback_data"] == f"{CALLBACK_PREFIX}:{STRANGER}"
    # More messages (an edit, say) are removed too, but the mute and the prompt are not
    # repeated; the stranger is known now, so the webhook decides at once.
    assert await h.edit(GROUP, STRANGER, "edited spam") == "removed"
    assert len(h.session.called("sendMessage")) == 1
    assert len(h.session.called("deleteMessages")) == 2
    assert len(h.session.called("restrictChatMember")) == 1
    assert h.session.called("deleteMessage") == []


async def test_admins_bots_exempt_and_own_forwards_pass(protected: Harness) -> None:
    h = protected
    assert await h.say(GROUP, ADMIN, "admin talk") == "passed"
    h.world.user(999, "Helper", is_bot=True)
    assert await h.say(GROUP, 999, "bot talk") == "passed"
    group_chat = h.world.chat_summary(GROUP)
    assert await h.say(GROUP, None, "anon admin", sender_chat=group_chat) == "passed"
    linked = {"id": -100777, "type": "channel", "title": "Discussion"}
    auto = await h.say(GROUP, None, "post", sender_chat=linked, is_automatic_forward=True)
    assert auto == "passed"
    assert h.session.called("deleteMessage") == h.session.called("deleteMessages") == []


async def test_message_as_other_channel_is_deleted_unless_allowed(protected: Harness) -> None:
    h = protected
    other = {"id": -100888, "type": "channel", "title": "Spam channel"}
    ad = h.message_payload(GROUP, None, "ad", sender_chat=other)
    assert await h.feed({"message": ad}) == "channel_post_removed"
    assert not h.present(ad)
    await h.say(GROUP, ADMIN, "/settings channelposts off")
    ad = h.message_payload(GROUP, None, "ad", sender_chat=other)
    assert await h.feed({"message": ad}) == "passed"
    assert h.present(ad)


async def test_service_messages_are_ignored(protected: Harness) -> None:
    h = protected
    msg = h.message_payload(GROUP, STRANGER, "x")
    msg.pop("text")
    msg["new_chat_members"] = [h.world.users[STRANGER]]
    assert await h.feed({"message": msg}) == "service"
    assert h.session.calls == []


async def test_delete_only_action(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/settings action delete")
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "spam")
    await h.feed({"message": spam})
    assert not h.present(spam)
    assert h.world.status(GROUP, STRANGER) == "member"
    # Delete only: no prompt, no restriction, no removal.
    for method in ("sendMessage", "restrictChatMember", "banChatMember", "unbanChatMember"):
        assert h.session.called(method) == [], method


async def test_button_only_for_its_user_and_verifies_after_join(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, STRANGER, "spam")
    prompt = prompt_of(h, STRANGER)
    data = f"{CALLBACK_PREFIX}:{STRANGER}"
    await h.press(GROUP, prompt["message_id"], MEMBER, data)
    assert h.world.callback_answers[-1]["show_alert"] is True
    assert "for the member it mentions" in h.world.callback_answers[-1]["text"]
    await h.press(GROUP, prompt["message_id"], STRANGER, data)
    assert "not joined @newschan" in h.world.callback_answers[-1]["text"]
    assert h.world.status(GROUP, STRANGER) == "restricted"
    h.world.set_status(CHANNEL, STRANGER, "member")
    # The next press is within the recheck interval: let the throttle lapse.
    for key in await h.redis.keys("*recheck*"):
        await h.redis.delete(key)
    await h.press(GROUP, prompt["message_id"], STRANGER, data)
    assert "You can write" in h.world.callback_answers[-1]["text"]
    assert h.world.callback_answers[-1]["show_alert"] is False
    assert h.world.status(GROUP, STRANGER) == "member"  # defaults restored, not all rights
    assert prompt["message_id"] not in h.world.messages[GROUP]


# Presses within the recheck interval (each waits it out, then asks Telegram; presses at
# once share one look-up): tests/e2e/test_button.py, with a short interval.


async def test_channel_join_unmutes_without_button(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, STRANGER, "spam")
    assert h.world.status(GROUP, STRANGER) == "restricted"
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    assert h.world.status(GROUP, STRANGER) == "member"


async def test_channel_leave_invalidates_cache(protected: Harness) -> None:
    h = protected
    assert await h.say(GROUP, MEMBER, "hi") == "queued"
    assert await h.say(GROUP, MEMBER, "cached") == "passed"
    await h.member_update(CHANNEL, MEMBER, "member", "left")
    later = h.message_payload(GROUP, MEMBER, "still here?")
    # Forgotten, not guessed: the worker asks Telegram again, which says "left".
    assert await h.feed({"message": later}) == "queued"
    assert not h.present(later)


async def test_admin_muted_by_someone_else_is_never_unmuted(protected: Harness) -> None:
    h = protected
    h.world.set_status(GROUP, STRANGER, "restricted")  # an admin's own mute
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    assert h.world.status(GROUP, STRANGER) == "restricted"
    assert h.session.called("restrictChatMember") == []


async def test_all_channels_required(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, ADMIN, "/protect @extrachan")
    h.world.set_status(CHANNEL2, STRANGER, "left")
    h.world.set_status(CHANNEL, STRANGER, "member")
    half = h.message_payload(GROUP, STRANGER, "half")
    assert await h.feed({"message": half}) == "queued"
    assert not h.present(half)
    assert "@extrachan" in prompt_of(h, STRANGER)["text"]
    assert "@newschan" not in prompt_of(h, STRANGER)["text"]
    await h.member_update(CHANNEL2, STRANGER, "left", "member")
    assert h.world.status(GROUP, STRANGER) == "member"


async def test_restricted_channel_member_counts(protected: Harness) -> None:
    h = protected
    h.world.set_status(CHANNEL, STRANGER, "restricted", is_member=True)
    hi = h.message_payload(GROUP, STRANGER, "hi")
    assert await h.feed({"message": hi}) == "queued"
    assert h.present(hi)
    assert await h.say(GROUP, STRANGER, "cached as joined") == "passed"


async def test_fail_open_when_telegram_fails(protected: Harness) -> None:
    h = protected
    h.session.stage("getChatMember", 500, "Internal Server Error", times=10)
    hi = h.message_payload(GROUP, STRANGER, "hi")
    assert await h.feed({"message": hi}) == "queued"
    assert failed_open(h) == 1  # the worker's look-up failed: let through
    assert h.present(hi)
    assert h.world.status(GROUP, STRANGER) == "member"
    assert h.session.called("deleteMessage") == h.session.called("deleteMessages") == []


async def test_bot_lost_channel_admin_fails_open_and_is_reported(protected: Harness) -> None:
    h = protected
    h.world.set_status(CHANNEL, h.world.bot_id, "left")
    hi = h.message_payload(GROUP, STRANGER, "hi")
    assert await h.feed({"message": hi}) == "queued"
    assert failed_open(h) == 1
    assert h.present(hi)
    await h.say(GROUP, ADMIN, "/status")
    assert "I am not an admin there" in h.last_bot_text(GROUP)


async def test_bot_removed_disables_protection(protected: Harness) -> None:
    h = protected
    await h.member_update(GROUP, h.world.bot_id, "administrator", "left", mine=True)
    assert await h.say(GROUP, STRANGER, "free") == "ignored"


async def test_bot_loses_restrict_right_is_recorded(protected: Harness) -> None:
    h = protected
    await h.member_update(
        GROUP,
        h.world.bot_id,
        "administrator",
        "administrator",
        mine=True,
        can_restrict_members=False,
    )
    await h.say(GROUP, STRANGER, "spam")
    assert "lost rights" in prompt_of(h, STRANGER)["text"]


async def test_retry_after_is_waited_out(protected: Harness) -> None:
    h = protected
    h.session.stage("getChatMember", 429, "Too Many Requests: retry after 1", retry_after=1)
    hi = h.message_payload(GROUP, MEMBER, "hi")
    assert await h.feed({"message": hi}) == "queued"
    assert len(h.session.called("getChatMember")) == 2  # the worker waited, then asked again
    assert h.present(hi)
    assert await h.say(GROUP, MEMBER, "cached") == "passed"


async def test_group_migration_keeps_protection(protected: Harness) -> None:
    h = protected
    new_id = -1009999999999
    h.world.chat(new_id, "supergroup", "Fans")
    h.world.set_status(new_id, h.world.bot_id, "administrator")
    h.world.set_status(new_id, STRANGER, "member")
    await h.say(GROUP, ADMIN, "", migrate_to_chat_id=new_id)
    spam = h.message_payload(new_id, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"
    assert not h.present(spam)
    assert h.world.status(new_id, STRANGER) == "restricted"


async def test_forum_prompt_goes_to_topic(protected: Harness) -> None:
    h = protected
    await h.say(GROUP, STRANGER, "spam", message_thread_id=77, is_topic_message=True)
    assert h.session.called("sendMessage")[-1].params["message_thread_id"] == "77"


async def test_redis_down_is_waited_out_and_nothing_is_lost(protected: Harness) -> None:
    h = protected
    assert await h.say(GROUP, MEMBER, "warm the cache") == "queued"
    assert await h.say(GROUP, MEMBER, "cached") == "passed"
    waiting = [
        (800, {"message": h.message_payload(GROUP, MEMBER, "member")}),
        (801, {"message": h.message_payload(GROUP, ADMIN, "admin")}),
        (802, {"message": h.message_payload(GROUP, STRANGER, "stranger")}),
    ]
    h.session.clear()
    h.redis_reachable(False)
    try:
        for update_id, body in waiting:
            assert await h.feed(body, update_id=update_id, answer=UNAVAILABLE) is None
    finally:
        h.redis_reachable(True)
    assert h.session.calls == []
    assert h.world.status(GROUP, STRANGER) == "member"
    # Telegram delivers them again: decided and acted on as ever, once.
    outcomes = [await h.feed(body, update_id=update_id) for update_id, body in waiting]
    assert outcomes == ["passed", "passed", "queued"]
    assert h.world.status(GROUP, STRANGER) == "restricted"
    assert not h.present(waiting[2][1]["message"])
    for update_id, body in waiting:
        await h.feed(body, update_id=update_id, answer=DUPLICATE)
    assert len(h.session.called("restrictChatMember")) == 1
