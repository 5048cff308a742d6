"""Every gate action end to end, through the real dispatcher and both doors: the
settings' text form, delete, kick (they may come back), ban, warn to its escalation
and back to zero on verifying, dry run, and a removal the bot has no right to make."""

from __future__ import annotations

from typing import Any

import pytest

from gmbot.domain.models import AuditKind
from gmbot.services.texts import CALLBACK_PREFIX
from tests.e2e.harness import ADMIN, CHANNEL, GROUP, STRANGER, Harness

MODERATION = ("restrictChatMember", "banChatMember", "unbanChatMember")


@pytest.fixture
async def protected(harness: Harness) -> Harness:
    await harness.say(GROUP, ADMIN, "/protect @newschan")
    harness.session.clear()
    return harness


async def setting(h: Harness, text: str) -> str:
    await h.say(GROUP, ADMIN, f"/settings {text}")
    return h.last_bot_text(GROUP)


def prompts(h: Harness, user_id: int = STRANGER) -> list[dict[str, Any]]:
    """The prompts for `user_id` still on screen, oldest first."""
    return [m for m in h.bot_messages(GROUP) if f"tg://user?id={user_id}" in m["text"]]


def metric(h: Harness, name: str, **labels: str) -> float:
    assert h.runtime.services is not None
    registry = h.runtime.services.metrics.registry
    return registry.get_sample_value(name, {"instance_id": "test-1", **labels}) or 0.0


async def audited(h: Harness, kind: AuditKind) -> list[str]:
    """The details of the group's audit entries of `kind`, oldest first."""
    return [e.detail for e in reversed(await h.audit(GROUP)) if e.kind is kind]


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("action kick", "action: kick"),
        ("action BAN", "action: ban"),
        ("action warn", "action: warn"),
        ("action delete", "action: delete"),
        ("warnings 5", "warnings: 5"),
        ("warnings 10", "warnings: 10"),
        ("escalation ban", "escalation: ban"),
        ("escalation kick", "escalation: kick"),
        ("dryrun on", "dryrun: on"),
        ("dry_run off", "dryrun: off"),
    ],
)
async def test_every_new_setting_in_text_form(protected: Harness, text: str, shown: str) -> None:
    reply = await setting(protected, text)
    assert shown in reply
    await protected.say(GROUP, ADMIN, "/status")
    assert shown in protected.last_bot_text(GROUP)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("action explode", "“kick” (remove it and the sender, who may come back"),
        ("action", "/settings action delete|mute|kick|ban|warn"),  # the usage
        ("warnings 1", "warnings must be a number from 2 to 10"),
        ("warnings 11", "warnings must be a number from 2 to 10"),
        ("warnings three", "warnings must be a number from 2 to 10"),
        ("warnings -3", "warnings must be a number from 2 to 10"),
        ("escalation warn", "escalation must be “mute”, “kick” or “ban”"),
        ("escalation delete", "escalation must be “mute”, “kick” or “ban”"),
        ("dryrun maybe", "dryrun must be “on”"),
    ],
)
async def test_bad_values_get_a_clear_error(protected: Harness, text: str, problem: str) -> None:
    reply = await setting(protected, text)
    assert problem in reply
    assert "Saved" not in reply
    await protected.say(GROUP, ADMIN, "/status")
    status = protected.last_bot_text(GROUP)
    assert "action: mute" in status  # nothing changed
    assert "warnings: 3" in status
    assert "escalation: mute" in status
    assert "dryrun: off" in status


async def test_usage_lists_the_new_settings(protected: Harness) -> None:
    reply = await setting(protected, "nonsense 1")
    for key in ("action", "warnings", "escalation", "dryrun"):
        assert key in reply


# --------------------------------------------------------------------------- actions


async def test_delete_removes_the_message_and_nothing_else(protected: Harness) -> None:
    h = protected
    await setting(h, "action delete")
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"
    assert not h.present(spam)
    assert await h.say(GROUP, STRANGER, "more") == "removed"
    assert h.world.status(GROUP, STRANGER) == "member"
    assert h.session.called("sendMessage") == []
    assert [c for m in MODERATION for c in h.session.called(m)] == []


async def test_kick_removes_them_and_they_may_rejoin(protected: Harness) -> None:
    h = protected
    await setting(h, "action kick")
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"
    assert not h.present(spam)
    [ban] = h.session.called("banChatMember")
    [unban] = h.session.called("unbanChatMember")
    assert ban.params["user_id"] == unban.params["user_id"] == str(STRANGER)
    assert unban.params["only_if_banned"] in (True, "true")
    # Out of the group, not banned: free to join again.
    assert h.world.status(GROUP, STRANGER) == "left"
    [prompt] = prompts(h)
    assert "removed from this group" in prompt["text"]
    assert await audited(h, AuditKind.KICK) == [f"message={spam['message_id']}"]
    assert metric(h, "bot_gate_actions_total", action="kick") == 1

    # They come back, subscribed this time: they may write.
    h.world.set_status(CHANNEL, STRANGER, "member")
    await h.member_update(GROUP, STRANGER, "left", "member")
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    hello = h.message_payload(GROUP, STRANGER, "hello again")
    assert await h.feed({"message": hello}) in ("passed", "queued")
    assert h.present(hello)
    assert len(h.session.called("banChatMember")) == 1


async def test_ban_bans_for_good_without_a_prompt(protected: Harness) -> None:
    h = protected
    await setting(h, "action ban")
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"
    assert not h.present(spam)
    assert h.world.status(GROUP, STRANGER) == "kicked"
    assert h.session.called("unbanChatMember") == []
    assert h.session.called("sendMessage") == []
    assert await audited(h, AuditKind.BAN) == [f"message={spam['message_id']}"]


async def test_warnings_count_reset_on_verify_then_escalate(protected: Harness) -> None:
    h = protected
    await setting(h, "action warn")
    await setting(h, "warnings 3")
    await h.say(GROUP, STRANGER, "one")
    [first] = prompts(h)
    assert "Warning 1 of 3" in first["text"]
    assert h.world.status(GROUP, STRANGER) == "member"  # warned, not muted
    assert await h.say(GROUP, STRANGER, "two") == "removed"
    [second] = prompts(h)  # the first made way for it
    assert "Warning 2 of 3" in second["text"]

    # They join and press the button: verified, and the warnings are forgotten.
    h.world.set_status(CHANNEL, STRANGER, "member")
    await h.press(GROUP, second["message_id"], STRANGER, f"{CALLBACK_PREFIX}:{STRANGER}")
    assert "You can write" in h.world.callback_answers[-1]["text"]
    assert prompts(h) == []
    assert await h.say(GROUP, STRANGER, "now subscribed") == "passed"

    # They leave the channel: counted from one again, and the third escalates (mute).
    await h.member_update(CHANNEL, STRANGER, "member", "left")
    await h.say(GROUP, STRANGER, "one again")
    assert "Warning 1 of 3" in prompts(h)[-1]["text"]
    await h.say(GROUP, STRANGER, "two again")
    assert h.world.status(GROUP, STRANGER) == "member"
    await h.say(GROUP, STRANGER, "three")
    assert h.world.status(GROUP, STRANGER) == "restricted"
    [muted] = prompts(h)
    assert "Warning" not in muted["text"]
    assert await audited(h, AuditKind.WARN) == ["1/3", "2/3", "1/3", "2/3", "3/3"]

    # The channel join that unmutes them starts the count again too.
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    assert h.world.status(GROUP, STRANGER) == "member"
    await h.member_update(CHANNEL, STRANGER, "member", "left")
    await h.say(GROUP, STRANGER, "after the mute")
    assert "Warning 1 of 3" in prompts(h)[-1]["text"]


@pytest.mark.parametrize(("escalation", "status"), [("kick", "left"), ("ban", "kicked")])
async def test_the_last_warning_kicks_or_bans(
    protected: Harness, escalation: str, status: str
) -> None:
    h = protected
    await setting(h, "action warn")
    await setting(h, "warnings 2")
    await setting(h, f"escalation {escalation}")
    await h.say(GROUP, STRANGER, "one")
    assert h.world.status(GROUP, STRANGER) == "member"
    await h.say(GROUP, STRANGER, "two")
    assert h.world.status(GROUP, STRANGER) == status
    if escalation == "kick":
        [prompt] = prompts(h)
        assert "removed from this group" in prompt["text"]
    else:
        assert prompts(h) == []


async def test_dry_run_does_nothing_but_record_count_and_report(protected: Harness) -> None:
    h = protected
    await setting(h, "action ban")
    await setting(h, "dryrun on")
    h.session.clear()
    spam = h.message_payload(GROUP, STRANGER, "spam")
    assert await h.feed({"message": spam}) == "queued"
    more = h.message_payload(GROUP, STRANGER, "more")
    assert await h.feed({"message": more}) == "dry_run"
    assert h.present(spam)
    assert h.present(more)
    assert h.world.status(GROUP, STRANGER) == "member"
    for method in ("sendMessage", "deleteMessages", "deleteMessage", *MODERATION):
        assert h.session.called(method) == [], method
    assert await audited(h, AuditKind.DRY_RUN) == [
        f"ban message={spam['message_id']}",
        f"ban message={more['message_id']}",
    ]
    assert metric(h, "bot_dry_run_total", would="ban") == 2

    await h.say(GROUP, ADMIN, "/status")
    status = h.last_bot_text(GROUP)
    assert "Dry run is on" in status
    assert "2 decisions recorded in the last 24 h" in status
    # Switched off: the gate acts again, and /status still tells what the dry run saw.
    await setting(h, "dryrun off")
    last = h.message_payload(GROUP, STRANGER, "for real")
    assert await h.feed({"message": last}) == "removed"
    assert not h.present(last)
    assert h.world.status(GROUP, STRANGER) == "kicked"
    await h.say(GROUP, ADMIN, "/status")
    assert "Dry run is off; it recorded 2 decisions in the last 24 h" in h.last_bot_text(GROUP)


@pytest.mark.parametrize("action", ["kick", "ban"])
async def test_removal_without_the_restrict_right(protected: Harness, action: str) -> None:
    h = protected
    await setting(h, f"action {action}")
    h.world.set_status(GROUP, h.world.bot_id, "administrator", can_restrict_members=False)
    spam = h.message_payload(GROUP, STRANGER, "spam")
    await h.feed({"message": spam})
    assert not h.present(spam)  # deleting still works
    assert h.world.status(GROUP, STRANGER) == "member"
    # Still in the group: told why their message went, and that rights are missing.
    [prompt] = prompts(h)
    assert "Your message was removed" in prompt["text"]
    assert "lost rights" in prompt["text"]
    refused = await audited(h, AuditKind.ACTION_REFUSED)
    assert len(refused) == 1
    assert refused[0].startswith(f"{action} ")
    assert "no_rights" in refused[0]
    assert await audited(h, AuditKind.RIGHTS_LOST) == ["can_restrict_members"]
    assert metric(h, "bot_action_refusals_total", kind=action, reason="no_rights") == 1


async def test_a_warned_member_who_joins_the_channel_is_verified(protected: Harness) -> None:
    h = protected
    await setting(h, "action warn")
    await h.say(GROUP, STRANGER, "one")
    assert "Warning 1 of 3" in prompts(h)[0]["text"]
    await h.member_update(CHANNEL, STRANGER, "left", "member")
    assert prompts(h) == []  # verified without pressing: the prompt goes
    assert await h.say(GROUP, STRANGER, "subscribed") == "passed"
    await h.member_update(CHANNEL, STRANGER, "member", "left")
    await h.say(GROUP, STRANGER, "left again")
    assert "Warning 1 of 3" in prompts(h)[-1]["text"]  # counted from one again
