"""Replies to commands, rendered from the services' results. HTML."""

from __future__ import annotations

from html import escape

from gmbot.domain.models import GroupSettings, Stats
from gmbot.services import group_settings
from gmbot.services.group_admin import StatusReport
from gmbot.services.private import add_to_group_url
from gmbot.services.protection import GroupProblem, Problem, ProtectResult, UnprotectResult

PROTECT_USAGE = (
    "Usage: <code>/protect @channel [@channel …]</code> (a username, a t.me link or a "
    "numeric id such as -1001234567890). Add me to the channel as an administrator first."
)
PRIVATE_ONLY_GROUP = "This command works in a group. Add me to your group first."


def welcome(bot_username: str) -> str:
    return (
        "👋 <b>GMBot</b> keeps your group for your channel's subscribers.\n\n"
        "1. Add me to your group as an admin (delete messages, ban users): "
        f'<a href="{add_to_group_url(bot_username)}">add to group</a>.\n'
        "2. Add me to your channel as an admin.\n"
        "3. In the group, send <code>/protect @YourChannel</code>.\n\n"
        "From then on, a member who is not subscribed has the message removed, is muted, "
        "and gets a button to join; the mute is lifted as soon as Telegram confirms the "
        "subscription.\n\n" + commands_help()
    )


def commands_help() -> str:
    return (
        "<b>Group commands</b> (admins):\n"
        "/protect @channel … — require these channels\n"
        "/unprotect [@channel] — remove one channel, or all\n"
        "/status — what is linked and whether my rights suffice\n"
        "/exempt, /unexempt — reply to a user, or give a user id\n"
        "/settings — " + SETTINGS_USAGE.replace(" · ", ", ")
    )


def group_problem(p: GroupProblem) -> str:
    if p.basic_group:
        return (
            "This is a basic group, where Telegram does not let bots restrict members. "
            "Upgrade it to a supergroup (make it public, or enable “Chat history for new "
            "members” in the group settings), then send /protect again."
        )
    if p.bot_not_admin:
        return (
            "I am not an admin of this group. Promote me with the rights "
            "“Delete messages” and “Ban users”, then send /protect again."
        )
    if p.missing_rights:
        return (
            f"I am missing admin rights in this group: {rights(p.missing_rights)}. "
            "Grant them and try again."
        )
    return f"Telegram did not answer ({escape(p.unavailable)}). Please try again in a minute."


def rights(names: tuple[str, ...] | list[str]) -> str:
    labels = {
        "can_delete_messages": "Delete messages",
        "can_restrict_members": "Ban users",
        "can_invite_users": "Invite users",
    }
    return ", ".join(f"“{labels.get(n, n)}”" for n in names)


def protect(result: ProtectResult) -> str:
    if result.bad_refs:
        bad = ", ".join(escape(b) for b in result.bad_refs)
        return f"Not a channel reference: {bad}.\n{PROTECT_USAGE}"
    if not result.linked and not result.channel_problems and not result.group_problem.any:
        return PROTECT_USAGE
    if result.group_problem.any:
        return group_problem(result.group_problem)
    if result.channel_problems:
        lines = ["Nothing was changed:"]
        for p in result.channel_problems:
            ref = escape(p.ref)
            if p.problem is Problem.NOT_FOUND:
                lines.append(f"• {ref}: no such channel (check the spelling, or use its id).")
            elif p.problem is Problem.NOT_A_CHANNEL:
                lines.append(f"• {ref}: this is a {escape(p.detail)}, not a channel.")
            elif p.problem is Problem.BOT_NOT_CHANNEL_ADMIN:
                lines.append(
                    f"• {ref}: I am not an admin of this channel. Add me as an administrator "
                    "(no rights needed): Telegram only tells channel admins who is subscribed."
                )
            else:
                lines.append(f"• {ref}: Telegram did not answer ({escape(p.detail)}); try again.")
        return "\n".join(lines)
    names = ", ".join(escape(c.display) for c in result.linked)
    extra = ""
    if result.group and len(result.group.channels) > len(result.linked):
        every = ", ".join(escape(c.display) for c in result.group.channels)
        extra = f"\nMembers must now be subscribed to: {every}."
    return f"🛡 Protection on: members must be subscribed to {names}.{extra}"


def unprotect(result: UnprotectResult) -> str:
    if not result.was_protected:
        return "This group is not protected."
    text = ""
    if result.unknown_refs:
        text = "Not linked here: " + ", ".join(escape(r) for r in result.unknown_refs) + ".\n"
    if result.removed == 0:
        return text + "Nothing was removed."
    if result.still_linked:
        still = ", ".join(escape(c.display) for c in result.still_linked)
        return text + f"Removed. Still required: {still}."
    lifted = f" {result.unmuted} mute(s) lifted." if result.unmuted else ""
    return text + "Protection off: members can write freely." + lifted


SETTINGS_USAGE = "opens the panel; /settings &lt;setting&gt; &lt;value&gt; sets one"


def settings_usage() -> str:
    """Every setting with its values, plain text (escape it for HTML)."""
    return group_settings.usage()


def settings(s: GroupSettings) -> str:
    """Every setting's current value, a line each (HTML): readable on a phone."""
    return "\n".join(
        f"{escape(spec.key)}: {escape(spec.show(s))}" for spec in group_settings.SETTINGS
    )


def saved(key: str, s: GroupSettings) -> str:
    """The confirmation of `/settings <key> <value>`: the setting as it now is."""
    spec = group_settings.spec_for(key)
    return f"Saved. {escape(spec.key)}: {escape(spec.show(s))}"


def status(report: StatusReport) -> str:
    group = report.group
    if group is None or not group.active:
        return "This group is not protected. " + (
            group_problem(report.rights) if report.rights.any else "Use /protect @channel."
        )
    lines = ["🛡 <b>Protected</b>. Members must be subscribed to:"]
    for ch in report.channels:
        state = {True: "✅", False: "⚠️ I am not an admin there", None: "❔ could not check"}
        lines.append(f"• {escape(ch.display)} {state[ch.bot_is_admin]}")
    lines.append("<b>Settings</b> (/settings to change them):")
    lines.append(settings(group.settings))
    lines.append(
        "Rights in this group: "
        + ("⚠️ " + group_problem(report.rights) if report.rights.any else "✅ sufficient")
    )
    if report.exempt:
        lines.append("Exempt users: " + ", ".join(f"<code>{u}</code>" for u in report.exempt))
    if report.raid_gated is not None:
        lines.append(
            f"🛡 Raid mode is on: {report.raid_gated} members gated so far; one shared notice "
            "replaces the per-member prompts until it is calm."
        )
    if group.settings.dry_run:
        lines.append(
            f"🧪 Dry run is on: nothing is deleted, muted or removed; "
            f"{_decisions(report.dry_runs)} recorded in the last 24 h."
        )
    elif report.dry_runs:
        lines.append(f"Dry run is off; it recorded {_decisions(report.dry_runs)} in the last 24 h.")
    return "\n".join(lines)


def _decisions(count: int) -> str:
    return f"{count} decision" + ("" if count == 1 else "s")


def stats(s: Stats) -> str:
    audit = ", ".join(f"{k}: {v}" for k, v in sorted(s.audit_by_kind.items())) or "none"
    return (
        f"<b>GMBot</b>: {s.groups_enabled} protected groups ({s.groups_total} known), "
        f"{s.channel_links} channel links, {s.active_mutes} active mutes.\nAudit: {audit}"
    )
