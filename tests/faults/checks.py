"""What every scenario must show in the Bot API call log, as functions of the records.

Each returns the failures it found, in words naming the calls that show them (an empty
list: the property holds), so a scenario reports every broken property, not only the
first.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from bot_api_emulator import Delivery, MessageLife, RequestRecord, User
from gmbot.telegram.flood import WRITE_METHODS
from tests.faults.proxy import Call
from tests.scale.journal import delete_calls, deleted_ids, deletes, mutes, prompted_user

WorkItem = tuple[Any, ...]


def _describe(r: RequestRecord) -> str:
    items = work_items(r)
    subject = ", ".join(
        str(item[0] if r.method == "restrictChatMember" else item[-1]) for item in items
    )
    return f"{r.method}({subject}) status={r.status} at={r.at:.3f}"


def unacknowledged(update_ids: Iterable[int], deliveries: list[Delivery]) -> list[str]:
    answered = {d.update_id for d in deliveries if d.ok}
    missing = sorted(set(update_ids) - answered)
    if not missing:
        return []
    tried = Counter(d.update_id for d in deliveries if d.update_id in set(missing))
    last = {d.update_id: d for d in deliveries if d.update_id in set(missing)}
    shown = ", ".join(
        f"{u} ({tried[u]} attempts, last: {last[u].status or last[u].error})"
        if u in last
        else str(u)
        for u in missing[:10]
    )
    return [f"{len(missing)} updates never acknowledged 2xx: {shown}"]


def deleted_once(
    records: list[RequestRecord], chat_id: int, message_ids: Iterable[int]
) -> tuple[list[str], Counter[int]]:
    """Every gated message named in exactly one successful delete call. Also the failed
    delete calls naming them, by status (a fault's 5xx or 429; a 400 when a retry found the
    message gone), reported apart."""
    ok = deletes(records)
    wanted = {(chat_id, mid) for mid in message_ids}
    failed: Counter[int] = Counter(
        r.status
        for r in delete_calls(records)
        if not r.ok and r.params.get("chat_id") == chat_id
        for mid in deleted_ids(r)
        if (chat_id, mid) in wanted
    )
    failures = []
    for key in sorted(wanted):
        mid = key[1]
        if ok[key] != 1:
            story = "; ".join(
                _describe(r) for r in delete_calls(records) if key[1] in deleted_ids(r)
            )
            failures.append(
                f"gated message {mid} deleted by {ok[key]} successful calls "
                f"(expected 1): {story or 'no delete call at all'}"
            )
    return failures, failed


def still_visible(log: list[MessageLife], message_ids: Iterable[int]) -> list[str]:
    gone = {m.message_id for m in log if m.deleted_at is not None}
    visible = sorted(set(message_ids) - gone)
    return [f"gated messages still visible at the end: {visible}"] if visible else []


def muted_once(records: list[RequestRecord], chat_id: int, users: Iterable[User]) -> list[str]:
    ok = mutes(records)
    failures = []
    for user in users:
        n = ok[(chat_id, user.id)]
        if n != 1:
            story = "; ".join(
                _describe(r)
                for r in records
                if r.method == "restrictChatMember" and r.params.get("user_id") == user.id
            )
            failures.append(
                f"gated member {user.id} muted by {n} successful calls (expected 1): "
                f"{story or 'no restrictChatMember at all'}"
            )
    return failures


def unmuted_after(
    records: list[RequestRecord], chat_id: int, users: Iterable[User], joined_at: float
) -> list[str]:
    failures = []
    for user in users:
        lifts = [
            r
            for r in records
            if r.method == "restrictChatMember"
            and r.ok
            and r.params.get("chat_id") == chat_id
            and r.params.get("user_id") == user.id
            and (r.params.get("permissions") or {}).get("can_send_messages") is True
            and r.at >= joined_at
        ]
        if not lifts:
            failures.append(f"member {user.id} joined the channel but was never unmuted")
    return failures


def untouched(
    records: list[RequestRecord],
    log: list[MessageLife],
    chat_id: int,
    members: Iterable[User],
    message_ids: Iterable[int],
) -> list[str]:
    """No call named a member's message or restricted a member; their messages stand."""
    failures = []
    wanted = set(message_ids)
    for r in delete_calls(records):
        hit = wanted & set(deleted_ids(r))
        if r.params.get("chat_id") == chat_id and hit:
            failures.append(f"a member's message was named in {_describe(r)}: {sorted(hit)}")
    member_ids = {m.id for m in members}
    for r in records:
        if r.method in ("restrictChatMember", "banChatMember") and r.params.get("user_id") in (
            member_ids
        ):
            failures.append(f"a member was restricted: {_describe(r)}")
    gone = sorted(m.message_id for m in log if m.message_id in wanted and m.deleted_at)
    if gone:
        failures.append(f"members' messages deleted: {gone}")
    return failures


def work_items(r: RequestRecord) -> list[WorkItem]:
    """The pieces of work a state-changing call carries out (one per message deleted)."""
    chat = r.params.get("chat_id")
    if r.method in ("deleteMessage", "deleteMessages"):
        return [("delete", chat, i) for i in deleted_ids(r)]
    if r.method == "restrictChatMember":
        can = (r.params.get("permissions") or {}).get("can_send_messages")
        return [("mute" if can is False else "unmute", chat, r.params.get("user_id"))]
    if r.method == "sendMessage":
        user = prompted_user(r)
        if user is not None:
            return [("prompt", chat, user)]
        return [("send", chat, str(r.params.get("text", ""))[:60])]
    if r.method in ("editMessageText", "editMessageReplyMarkup"):
        text = str(r.params.get("text", ""))[:60]
        return [("edit", chat, r.params.get("message_id"), text)]
    return [(r.method, chat, json.dumps(r.params, sort_keys=True, default=str)[:200])]


def stale_owner_calls(calls: list[Call], *, refused: list[str] | None = None) -> list[str]:
    """A state-changing call Telegram carried out on a piece of work after another
    process had already carried that work out (its successful call answered): the work
    was done twice. Processes, not instance ids: a restarted instance is a new owner.

    A repeat Telegram refused (a deletion of a message already gone) changed nothing: it
    is the retry of a call whose answer was lost (sent, timed out, carried out late),
    which no client can tell from one never carried out. Those go to `refused`, for the
    report, not to the failures."""
    done_at: dict[WorkItem, list[tuple[float, int | None, str]]] = defaultdict(list)
    for c in calls:
        if c.method in WRITE_METHODS and c.ok:
            for item in work_items(c.record):
                done_at[item].append((c.answered_at, c.pid, c.record.via))
    failures = []
    for c in calls:
        if c.method not in WRITE_METHODS:
            continue
        for item in work_items(c.record):
            earlier = [
                (at, pid, who)
                for at, pid, who in done_at.get(item, [])
                if pid != c.pid and at < c.record.at
            ]
            if earlier:
                at, pid, who = min(earlier)
                line = (
                    f"{c.record.via} (pid {c.pid}) called {c.method} on {item} at "
                    f"{c.record.at:.3f} (status {c.record.status}), after {who} (pid {pid}) "
                    f"had done it (answered at {at:.3f})"
                )
                if c.ok:
                    failures.append(line)
                elif refused is not None:
                    refused.append(line)
    return failures


def calls_after_takeover(victim: str, calls: list[Call], stopped_at: float) -> list[str]:
    """The SIGSTOPped instance's state-changing calls sent after it was resumed on work that
    another instance took up while it was stopped or after."""
    taken: dict[WorkItem, Call] = {}
    for c in calls:
        if c.record.via != victim and c.method in WRITE_METHODS and c.record.at >= stopped_at:
            for item in work_items(c.record):
                taken.setdefault(item, c)
    failures = []
    for c in calls:
        if c.record.via != victim or c.method not in WRITE_METHODS or c.record.at < stopped_at:
            continue
        for item in work_items(c.record):
            other = taken.get(item)
            if other is not None and other.record.at < c.record.at:
                failures.append(
                    f"{victim} called {c.method} on {item} at {c.record.at:.3f} after resuming "
                    f"(status {c.record.status}); {other.record.via} had taken it up "
                    f"({other.method} at {other.record.at:.3f}, status {other.record.status})"
                )
    return failures
