"""Raid mode: once enough members are gated within a minute, one shared notice, edited
in place, replaces the per-member prompts, and goes once the raid is calm."""

from __future__ import annotations

from typing import Any

from gmbot.domain.models import AuditKind, GroupSettings, RaidMode
from gmbot.domain.telegram import Button, MemberStatus
from gmbot.services import texts
from gmbot.services.gate import Verdict
from gmbot.services.verification import ButtonOutcome
from tests.fakes.telegram_gateway import SentMessage
from tests.unit.services.support import CH_A, CHAT, OWNER, Env, channel_a, message

RAIDERS = list(range(100, 120))
CHANNELS = [channel_a()]
NOTICE_KEYBOARD = [
    [Button(text="Join @chan_a", url="https://t.me/chan_a")],
    [Button(text=texts.JOINED_BUTTON, callback_data="gmv:0")],
]


class Screen:
    """The bot's messages visible in the group, watched after every message it sends
    (only a send can add one)."""

    def __init__(self, env: Env) -> None:
        self._env = env
        self.most = 0
        send = env.telegram.send_message

        async def watched(chat_id: int, text: str, **kwargs: Any) -> int:
            message_id = await send(chat_id, text, **kwargs)
            self.most = max(self.most, len(self.visible()))
            return message_id

        env.telegram.send_message = watched  # type: ignore[method-assign]

    def visible(self) -> list[SentMessage]:
        gone = {m.message_id for m in self._env.telegram.deleted if m.chat_id == CHAT}
        return [m for m in self._env.telegram.sent(CHAT) if m.message_id not in gone]


def prompts(env: Env) -> list[SentMessage]:
    return [m for m in env.telegram.sent(CHAT) if "please" in m.text]


def notices(env: Env) -> list[SentMessage]:
    return [m for m in env.telegram.sent(CHAT) if m.text.startswith("🛡")]


def reports(env: Env, start: str) -> list[str]:
    return [m.text for m in env.telegram.sent(OWNER) if m.text.startswith(start)]


def deletions(env: Env) -> list[list[int]]:
    return [c.args["message_ids"] for c in env.telegram.calls_of("delete_messages")]


async def gate(env: Env, user_id: int) -> None:
    env.telegram.set_member(CHAT, user_id, MemberStatus.MEMBER)
    assert await env.gate_message(message(env, user_id)) in (Verdict.QUEUED, Verdict.REMOVED)


async def protected(env: Env, settings: GroupSettings | None = None) -> None:
    await env.protect(owners=[OWNER], settings=settings)
    await env.start_bot(OWNER)


# --------------------------------------------------------------------------- auto


async def test_a_raid_starts_grows_and_ends(env: Env) -> None:
    await protected(env)
    screen = Screen(env)
    a, b, c, *more = RAIDERS

    # Two members gated: a prompt each.
    await gate(env, a)
    env.clock.advance(10)
    await gate(env, b)
    first, second = prompts(env)
    assert env.counter("bot_raids_total", event="started") == 0

    # The third within the minute starts the raid: the prompts go, one notice comes.
    env.clock.advance(10)
    await gate(env, c)
    assert len(prompts(env)) == 2  # none for the third
    assert sorted([first.message_id, second.message_id]) in deletions(env)
    [notice] = notices(env)
    assert notice.text == texts.raid_notice(3, CHANNELS)
    assert "3 members must join @chan_a" in notice.text
    assert notice.keyboard == NOTICE_KEYBOARD
    assert [m.message_id for m in screen.visible()] == [notice.message_id]
    assert (await env.audit_kinds()).count(AuditKind.RAID_START) == 1
    assert env.counter("bot_raids_total", event="started") == 1
    assert reports(env, "🛡 Raid in") == [texts.raid_started_report("Group", 3)]
    assert env.telegram.is_muted(CHAT, c)  # the gate still removes and mutes

    # More members: no prompt of their own; the count is edited in at most every 3 s.
    env.clock.advance(1)
    await gate(env, more[0])  # 4, 1 s after the notice: not yet
    env.clock.advance(1)
    await gate(env, more[1])  # 5, 2 s after
    assert env.telegram.edited == []
    env.clock.advance(1.5)
    await gate(env, more[2])  # 6, 3.5 s after: edited
    assert [m.text for m in env.telegram.edited] == [texts.raid_notice(6, CHANNELS)]
    assert env.telegram.edited[0].message_id == notice.message_id
    assert env.telegram.edited[0].keyboard == NOTICE_KEYBOARD
    env.clock.advance(3.5)
    await gate(env, more[2])  # the same member again: the count did not change
    assert len(env.telegram.edited) == 1
    await gate(env, more[3])  # 7, due again (3.5 s after the edit)
    assert len(env.telegram.edited) == 2
    env.clock.advance(1)
    await gate(env, more[4])  # 8, 1 s after the edit: left to the sweep
    await env.prompting.sweep()
    assert len(env.telegram.edited) == 2
    env.clock.advance(2)
    await env.prompting.sweep()  # 3 s after: the trailing edit
    assert env.telegram.edited[-1].text == texts.raid_notice(8, CHANNELS)
    assert len(env.telegram.edited) == 3
    env.clock.advance(5)
    await env.prompting.sweep()  # nothing changed since
    assert len(env.telegram.edited) == 3
    assert len(prompts(env)) == 2
    assert len(notices(env)) == 1
    assert reports(env, "🛡 Raid in") == [texts.raid_started_report("Group", 3)]  # once

    # A minute without anybody gated ends it: the notice goes.
    env.clock.advance(59 - 5 - 2)  # 59 s after the last gated member
    assert await env.prompting.sweep() == 0
    assert notice.message_id in env.telegram.messages[CHAT]
    env.clock.advance(1)
    assert await env.prompting.sweep() == 1
    assert notice.message_id not in env.telegram.messages[CHAT]
    assert [notice.message_id] in deletions(env)
    assert screen.visible() == []
    assert (await env.audit_kinds()).count(AuditKind.RAID_END) == 1
    assert env.counter("bot_raids_total", event="ended") == 1
    [ended] = reports(env, "✅ The raid")
    assert "8 members were gated" in ended
    assert await env.prompting.sweep() == 0

    # Calm again: the next gated member gets a prompt of their own.
    await gate(env, more[5])
    assert len(prompts(env)) == 3
    assert len(notices(env)) == 1
    assert screen.visible() == [prompts(env)[-1]]
    # Never more than two of the bot's messages on screen.
    assert screen.most == 2


async def test_members_gated_more_than_a_minute_apart_start_no_raid(env: Env) -> None:
    await protected(env)
    for user in RAIDERS[:3]:
        await gate(env, user)
        env.clock.advance(31)
    assert len(prompts(env)) == 3
    assert notices(env) == []
    assert env.counter("bot_raids_total", event="started") == 0


async def test_one_member_posting_many_times_is_no_raid(env: Env) -> None:
    await protected(env)
    for _ in range(5):
        await gate(env, RAIDERS[0])
    assert notices(env) == []
    assert len(prompts(env)) == 1


async def test_the_threshold_is_the_groups(env: Env) -> None:
    await protected(env, GroupSettings(raid_threshold=5))
    for user in RAIDERS[:4]:
        await gate(env, user)
    assert len(prompts(env)) == 4
    assert notices(env) == []
    await gate(env, RAIDERS[4])
    assert len(notices(env)) == 1
    assert "5 members" in notices(env)[0].text
    assert all(p.message_id not in env.telegram.messages[CHAT] for p in prompts(env))


# --------------------------------------------------------------------------- on / off


async def test_raid_on_posts_the_notice_for_the_first_gated_member(env: Env) -> None:
    await protected(env, GroupSettings(raid=RaidMode.ON))
    await gate(env, RAIDERS[0])
    assert prompts(env) == []
    [notice] = notices(env)
    assert "1 member must join @chan_a" in notice.text
    assert notice.keyboard == NOTICE_KEYBOARD
    assert env.counter("bot_raids_total", event="started") == 1
    assert env.telegram.is_muted(CHAT, RAIDERS[0])


async def test_raid_off_never_starts_one(env: Env) -> None:
    await protected(env, GroupSettings(raid=RaidMode.OFF))
    for user in RAIDERS[:10]:
        await gate(env, user)
    assert len(prompts(env)) == 10
    assert notices(env) == []
    assert env.counter("bot_raids_total", event="started") == 0
    assert AuditKind.RAID_START not in await env.audit_kinds()
    await env.prompting.sweep()
    assert env.telegram.edited == []


# --------------------------------------------------------------------------- the button


async def raid_notice(env: Env) -> int:
    await protected(env, GroupSettings(raid=RaidMode.ON))
    for user in RAIDERS[:3]:
        await gate(env, user)
    [notice] = notices(env)
    return notice.message_id


async def test_the_notice_button_verifies_whoever_presses_it(env: Env) -> None:
    notice = await raid_notice(env)
    presser = RAIDERS[1]
    assert env.telegram.is_muted(CHAT, presser)
    env.telegram.set_member(CH_A, presser, MemberStatus.MEMBER)

    result = await env.verification.joined_button(CHAT, presser, texts.EVERYONE, notice)

    assert result.outcome is ButtonOutcome.VERIFIED
    assert not env.telegram.is_muted(CHAT, presser)
    assert await env.restriction(CHAT, presser) is None
    assert notice in env.telegram.messages[CHAT]  # the others still need it
    assert env.telegram.is_muted(CHAT, RAIDERS[0])
    assert env.telegram.is_muted(CHAT, RAIDERS[2])


async def test_the_notice_button_tells_a_member_who_has_not_joined(env: Env) -> None:
    notice = await raid_notice(env)
    presser = RAIDERS[2]

    result = await env.verification.joined_button(CHAT, presser, texts.EVERYONE, notice)

    assert result.outcome is ButtonOutcome.STILL_MISSING
    assert [c.channel_id for c in result.missing] == [CH_A]
    assert env.telegram.is_muted(CHAT, presser)
    assert notice in env.telegram.messages[CHAT]
