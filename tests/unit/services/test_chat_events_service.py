"""ChatEventsService: the bot's own membership changes and others' in groups and channels."""

from __future__ import annotations

from structlog.testing import capture_logs

from gmbot.domain.models import AuditKind, GroupSettings
from gmbot.domain.telegram import ChatType, MemberInfo, MemberStatus
from gmbot.services.events import MemberChange
from gmbot.services.gate import Verdict
from tests.fakes.telegram_gateway import ALL_ADMIN_RIGHTS, BOT_ID
from tests.unit.services.support import (
    ADMIN,
    CH_A,
    CH_B,
    CHAT,
    OTHER_CHAT,
    OWNER,
    USER,
    USER2,
    Env,
    channel_a,
    channel_b,
    message,
)

BOTH = ("can_delete_messages", "can_restrict_members")
ADMIN_BOT = MemberInfo(BOT_ID, MemberStatus.ADMINISTRATOR, is_bot=True, rights=ALL_ADMIN_RIGHTS)
LEFT = MemberInfo(USER, MemberStatus.LEFT)
MEMBER = MemberInfo(USER, MemberStatus.MEMBER)


def bot_change(
    new: MemberInfo, chat_id: int = CHAT, chat_type: ChatType = ChatType.SUPERGROUP
) -> MemberChange:
    return MemberChange(chat_id, chat_type, "Title", BOT_ID, ADMIN_BOT, new, actor_id=ADMIN)


def bot_with(*rights: str) -> MemberInfo:
    return MemberInfo(BOT_ID, MemberStatus.ADMINISTRATOR, is_bot=True, rights=frozenset(rights))


# --------------------------------------------------------------------------- bot in a group


async def test_bot_removed_disables_protection(env: Env) -> None:
    await env.protect()
    await env.warm()
    with capture_logs() as logs:
        for status in (MemberStatus.LEFT, MemberStatus.KICKED):
            await env.chat_events.bot_status_changed(bot_change(MemberInfo(BOT_ID, status)))
    assert logs == 2 * [
        {"event": "protection_disabled_bot_removed", "log_level": "info", "chat_id": CHAT}
    ]
    group = await env.group()
    assert group is not None
    assert not group.enabled
    entries = [e for e in await env.audit() if e.kind is AuditKind.BOT_REMOVED]
    assert entries[0].actor_id == ADMIN
    assert not env.gate_cache.has_group(CHAT)
    assert await env.gate.on_message(message(env)) is Verdict.IGNORED


async def test_bot_removed_from_an_unknown_group_does_nothing(env: Env) -> None:
    await env.chat_events.bot_status_changed(bot_change(MemberInfo(BOT_ID, MemberStatus.LEFT)))
    assert await env.group() is None
    assert env.uow.store.commits == 0


async def test_bot_demoted_records_rights_and_tells_owners_who_started_the_bot(env: Env) -> None:
    await env.protect(owners=[OWNER, ADMIN])
    await env.start_bot(OWNER)  # ADMIN never started the bot
    await env.warm()

    with capture_logs() as logs:
        await env.chat_events.bot_status_changed(bot_change(bot_with("can_delete_messages")))

    lost = {"event": "bot_rights_lost", "log_level": "warning", "chat_id": CHAT}
    assert {**lost, "missing": ("can_restrict_members",)} in logs
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ("can_restrict_members",)
    entry = (await env.audit())[-1]
    assert (entry.kind, entry.detail) == (AuditKind.RIGHTS_LOST, "can_restrict_members")
    assert not env.gate_cache.has_group(CHAT)
    [notice] = env.telegram.sent()
    assert notice.chat_id == OWNER
    assert "restrict members" in notice.text
    assert env.telegram.calls_of("send_message")[0].args["chat_id"] == OWNER
    assert env.telegram.count("send_message") == 1  # ADMIN is not even tried


async def test_bot_demoted_to_member_loses_both_rights(env: Env) -> None:
    await env.protect()
    await env.chat_events.bot_status_changed(bot_change(MemberInfo(BOT_ID, MemberStatus.MEMBER)))
    group = await env.group()
    assert group is not None
    assert group.missing_rights == BOTH


async def test_same_rights_again_change_nothing(env: Env) -> None:
    await env.protect(owners=[OWNER], missing_rights=["can_restrict_members"])
    await env.start_bot(OWNER)
    commits = env.uow.store.commits
    await env.chat_events.bot_status_changed(bot_change(bot_with("can_delete_messages")))
    assert env.uow.store.commits == commits
    assert env.telegram.sent() == []


async def test_rights_restored_are_cleared_without_notice(env: Env) -> None:
    await env.protect(owners=[OWNER], missing_rights=list(BOTH))
    await env.start_bot(OWNER)
    await env.chat_events.bot_status_changed(bot_change(ADMIN_BOT))
    group = await env.group()
    assert group is not None
    assert group.missing_rights == ()
    assert AuditKind.RIGHTS_LOST not in await env.audit_kinds()
    assert env.telegram.sent() == []


async def test_rights_notice_is_sent_once_an_hour(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    demoted = bot_change(bot_with("can_delete_messages"))
    await env.chat_events.bot_status_changed(demoted)
    await env.chat_events.bot_status_changed(bot_change(ADMIN_BOT))
    await env.chat_events.bot_status_changed(demoted)
    assert len(env.telegram.sent(OWNER)) == 1
    env.clock.advance(3601)
    await env.chat_events.bot_status_changed(bot_change(ADMIN_BOT))
    await env.chat_events.bot_status_changed(demoted)
    assert len(env.telegram.sent(OWNER)) == 2


# --------------------------------------------------------------------------- bot in a channel


async def test_channel_admin_lost_marks_every_linking_group(env: Env) -> None:
    env.telegram.supergroup(OTHER_CHAT, "Other")
    await env.protect(CHAT, [channel_a(), channel_b()], owners=[OWNER])
    await env.protect(OTHER_CHAT, [channel_a()], owners=[OWNER])
    await env.start_bot(OWNER)
    await env.warm(CHAT)
    await env.warm(OTHER_CHAT)

    change = bot_change(MemberInfo(BOT_ID, MemberStatus.LEFT), CH_A, ChatType.CHANNEL)
    with capture_logs() as logs:
        await env.chat_events.bot_status_changed(change)

    [lost] = [e for e in logs if e["event"] == "bot_channel_admin_lost"]
    assert (lost["log_level"], lost["channel_id"]) == ("warning", CH_A)
    assert sorted(lost["groups"]) == sorted([CHAT, OTHER_CHAT])

    for chat in (CHAT, OTHER_CHAT):
        group = await env.group(chat)
        assert group is not None
        assert group.channel(CH_A) is not None
        assert group.channel(CH_A).bot_is_admin is False  # type: ignore[union-attr]
        # Dropped, and what was loaded again since is the new state.
        assert chat in env.gate_cache.dropped_groups
        cached, copy = await env.gate_cache.get_group(chat)
        assert not cached or copy == group
        assert (await env.audit(chat))[-1].detail == f"channel={CH_A}"
    group = await env.group(CHAT)
    assert group is not None
    assert group.channel(CH_B).bot_is_admin is True  # type: ignore[union-attr]
    assert len(env.telegram.sent(OWNER)) == 2  # one notice per group


async def test_channel_admin_regained_is_recorded_quietly(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    async with env.uow() as uow:
        await uow.groups.set_channel_admin(CH_A, False)
        await uow.commit()
    await env.chat_events.bot_status_changed(bot_change(ADMIN_BOT, CH_A, ChatType.CHANNEL))
    group = await env.group()
    assert group is not None
    assert group.channels[0].bot_is_admin is True
    assert env.telegram.sent() == []
    assert AuditKind.RIGHTS_LOST not in await env.audit_kinds()


async def test_unlinked_channel_change_is_ignored(env: Env) -> None:
    await env.protect(owners=[OWNER])
    await env.start_bot(OWNER)
    change = bot_change(MemberInfo(BOT_ID, MemberStatus.LEFT), -1002000000099, ChatType.CHANNEL)
    await env.chat_events.bot_status_changed(change)
    assert env.telegram.sent() == []


async def test_private_chat_change_is_ignored(env: Env) -> None:
    await env.chat_events.bot_status_changed(
        bot_change(MemberInfo(BOT_ID, MemberStatus.KICKED), USER, ChatType.PRIVATE)
    )
    assert env.uow.opened == 0


# --------------------------------------------------------------------------- members


async def test_admin_promoted_or_demoted_drops_the_admin_cache(env: Env) -> None:
    await env.protect()
    await env.warm()
    promoted = MemberChange(
        CHAT, ChatType.SUPERGROUP, "G", USER, MEMBER, MemberInfo(USER, MemberStatus.ADMINISTRATOR)
    )
    await env.chat_events.member_changed(promoted)
    assert not env.gate_cache.has_admins(CHAT)
    assert env.gate_cache.dropped_admins == [CHAT]

    await env.warm()
    demoted = MemberChange(
        CHAT, ChatType.SUPERGROUP, "G", USER, MemberInfo(USER, MemberStatus.CREATOR), MEMBER
    )
    await env.chat_events.member_changed(demoted)
    assert not env.gate_cache.has_admins(CHAT)


async def test_ordinary_member_change_keeps_the_admin_cache(env: Env) -> None:
    await env.protect()
    await env.warm()
    await env.chat_events.member_changed(
        MemberChange(CHAT, ChatType.SUPERGROUP, "G", USER, LEFT, MEMBER)
    )
    assert env.gate_cache.has_admins(CHAT)


async def test_channel_join_and_leave_reach_verification(env: Env) -> None:
    await env.protect()
    assert await env.gate_message(message(env)) is Verdict.QUEUED
    assert env.telegram.is_muted(CHAT, USER)
    env.telegram.set_member(CH_A, USER, MemberStatus.MEMBER)

    await env.chat_events.member_changed(
        MemberChange(CH_A, ChatType.CHANNEL, "A", USER, LEFT, MEMBER)
    )
    assert env.telegram.status(CHAT, USER) is MemberStatus.MEMBER
    assert await env.restriction(CHAT, USER) is None

    await env.chat_events.member_changed(
        MemberChange(CH_A, ChatType.CHANNEL, "A", USER, MEMBER, LEFT)
    )
    assert env.members.peek(USER, CH_A) is None


async def test_channel_change_within_membership_does_nothing(env: Env) -> None:
    await env.members.put(USER2, CH_A, True)
    restricted = MemberInfo(USER2, MemberStatus.RESTRICTED, is_member=True)
    await env.chat_events.member_changed(
        MemberChange(CH_A, ChatType.CHANNEL, "A", USER2, MEMBER, restricted)
    )
    assert env.members.peek(USER2, CH_A) is True
    assert env.uow.opened == 0


# --------------------------------------------------------------------------- migration


async def test_migration_moves_the_group_and_invalidates_both_ids(env: Env) -> None:
    old, new = -500, CHAT
    env.telegram.supergroup(old, "Old", bot_rights=None)
    await env.protect(old, owners=[OWNER], exempt=[USER])
    await env.warm(old)
    await env.directory.reload(new)  # cached as "not protected"

    with capture_logs() as logs:
        await env.chat_events.migrated(old, new)

    migrated = {"event": "group_migrated", "log_level": "info", "old_chat_id": old}
    assert logs == [{**migrated, "new_chat_id": new, "moved": True}]

    assert await env.group(old) is None
    group = await env.group(new)
    assert group is not None
    assert group.active
    assert [c.channel_id for c in group.channels] == [CH_A]
    async with env.uow() as uow:
        assert await uow.owners.list(new) == [OWNER]
        assert await uow.exempt.list(new) == [USER]
    assert not env.gate_cache.has_group(old)
    assert not env.gate_cache.has_group(new)
    assert new in env.gate_cache.dropped_admins
    assert await env.gate.on_message(message(env, USER)) is Verdict.PASSED  # still exempt
    gated = message(env, USER2)
    assert await env.gate_message(gated) is Verdict.QUEUED  # checked by a worker...
    assert gated.message_id not in env.telegram.messages[new]  # ...and removed


async def test_a_mute_an_admin_lifted_is_forgotten_so_the_next_offence_mutes_again(
    env: Env,
) -> None:
    await env.protect()
    await env.gate_message(message(env))
    assert env.telegram.is_muted(CHAT, USER)
    assert await env.restriction(CHAT, USER) is not None
    # An admin lifts the mute in Telegram, without the member joining the channel.
    env.telegram.set_member(CHAT, USER, MemberStatus.MEMBER)
    restricted = MemberInfo(USER, MemberStatus.RESTRICTED, is_member=True)
    await env.chat_events.member_changed(
        MemberChange(CHAT, ChatType.SUPERGROUP, "Title", USER, restricted, MEMBER, actor_id=ADMIN)
    )
    assert await env.restriction(CHAT, USER) is None
    assert "lifted in Telegram" in [e.detail for e in await env.audit()]

    env.clock.advance(GroupSettings().prompt_ttl + 1)
    await env.gate_message(message(env))
    assert env.telegram.is_muted(CHAT, USER)
    assert env.telegram.count("restrict") == 2
    assert len(env.telegram.sent(CHAT)) == 2  # and prompted again
