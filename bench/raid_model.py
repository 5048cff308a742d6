"""Two bots modelled on the same raid and under the same flood limits as the emulator:

* the ideal bot acknowledges every update at once and acts through a paced write budget
  (one write every 1/30 s, which the emulator's sliding window always allows, so it never
  meets a 429). Per raider: one getChatMember (the channel) and one restrictChatMember.
  Raid messages go in deleteMessages batches (up to 100 ids): one batch at least every
  `delete_every` seconds while restrictions wait, and at every free write otherwise. One
  shared notice is posted when the raid is first seen and edited at most every
  `notice_every` seconds while the count of muted raiders changes (`notice_edits` at most);
  both go before the restrictions waiting at that moment.
* the naive bot handles each update while the webhook waits, one at a time per chat (so the
  chat's updates queue behind it): getChatMember for a new raider, deleteMessage, then
  restrictChatMember for a raider not yet muted, then a sendMessage prompt, per message.
  A call over a limit gets a 429 with Telegram's whole-second retry_after, which it sleeps
  before trying again.

Both are simulated (the ideal bot in 1 ms steps, the naive one call by call); nothing
runs. Each call takes `Timing.call` seconds to take effect and answer, an update reaches
the bot `Timing.delivery` after it was posted, and the ideal bot answers its webhook in
`Timing.ack`. The models stop at `horizon` (the end of the real bot's longest
observation), so whatever the naive bot would do after it is left undone, as it is for
the real bot.
"""

from __future__ import annotations

import math
from collections import Counter, deque
from dataclasses import dataclass

from raid_figures import Life, Trace
from raid_scenario import Scenario

DELETE_BATCH = 100


@dataclass(frozen=True, slots=True)
class Limits:
    """The emulator's defaults (src/bot_api_emulator/settings.py); the bench passes on
    whatever --emulator-set changes of them."""

    writes_per_second: int = 30
    reads_per_second: int = 100
    group_messages_per_minute: int = 20


@dataclass(frozen=True, slots=True)
class Timing:
    delivery: float = 0.005
    call: float = 0.005
    ack: float = 0.002


class Window:
    """At most `limit` events in any `span` seconds (the emulator's _Window)."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self.events: deque[float] = deque()

    def wait(self, now: float) -> float:
        while self.events and self.events[0] <= now - self.span:
            self.events.popleft()
        if len(self.events) < self.limit:
            return 0.0
        return self.events[-self.limit] + self.span - now

    def take(self, now: float) -> None:
        self.events.append(now)


@dataclass
class _Message:
    posted: float
    deleted: float | None = None


def _lives(messages: list[_Message]) -> list[Life]:
    return [(m.posted, m.deleted) for m in messages]


# ----- the ideal bot ----------------------------------------------------------------------------


def ideal(
    scenario: Scenario,
    horizon: float,
    limits: Limits = Limits(),
    timing: Timing = Timing(),
    *,
    delete_every: float = 0.2,
    notice_every: float = 2.0,
    notice_edits: int = 5,
    step: float = 0.001,
) -> Trace:
    posts = scenario.schedule()
    write_gap = 1 / limits.writes_per_second
    read_gap = 1 / limits.reads_per_second
    raid: list[_Message] = []
    member: list[_Message] = []
    bot: list[_Message] = []
    muted: dict[int, float] = {}  # raider -> when the restriction took effect
    seen: set[int] = set()
    arriving: deque[tuple[float, int, _Message]] = deque()  # (known at, raider, message)
    to_check: deque[int] = deque()
    to_restrict: deque[tuple[float, int]] = deque()  # (check answered at, raider)
    pending: deque[_Message] = deque()  # known raid messages, oldest first
    calls: Counter[str] = Counter()
    acks: list[tuple[float, float]] = []
    waits: list[float] = []
    refused = 0
    next_post = 0
    next_read = next_write = last_delete = -math.inf
    notice_sent = False
    edits = 0
    last_edit = -math.inf
    muted_at_last_edit = 0

    def delete_batch(now: float) -> None:
        nonlocal last_delete
        calls["deleteMessages"] += 1
        for _ in range(min(DELETE_BATCH, len(pending))):
            pending.popleft().deleted = now + timing.call
        last_delete = now

    ticks = 0
    while True:
        now = ticks * step
        ticks += 1
        if now > horizon:
            break
        while next_post < len(posts) and posts[next_post].at <= now:
            post = posts[next_post]
            next_post += 1
            if post.raider and muted.get(post.user, math.inf) <= post.at:
                refused += 1
                continue
            message = _Message(post.at)
            acks.append((timing.ack, post.at + timing.delivery + timing.ack))
            waits.append(0.0)
            if post.raider:
                raid.append(message)
                arriving.append((post.at + timing.delivery, post.user, message))
            else:
                member.append(message)
        while arriving and arriving[0][0] <= now:
            _, raider, message = arriving.popleft()
            pending.append(message)
            if raider not in seen:
                seen.add(raider)
                to_check.append(raider)
        if to_check and now >= next_read:
            calls["getChatMember"] += 1
            to_restrict.append((now + timing.call, to_check.popleft()))
            next_read = now + read_gap
        if now >= next_write:
            wrote = True
            restrict_ready = bool(to_restrict) and to_restrict[0][0] <= now
            edit_due = (
                notice_sent
                and edits < notice_edits
                and len(muted) != muted_at_last_edit
                and now - last_edit >= notice_every
            )
            if pending and (now - last_delete >= delete_every or not restrict_ready):
                delete_batch(now)
            elif seen and not notice_sent:
                calls["sendMessage"] += 1
                bot.append(_Message(now + timing.call))
                notice_sent, last_edit, muted_at_last_edit = True, now, len(muted)
            elif edit_due:
                calls["editMessageText"] += 1
                edits, last_edit, muted_at_last_edit = edits + 1, now, len(muted)
            elif restrict_ready:
                _, raider = to_restrict.popleft()
                calls["restrictChatMember"] += 1
                muted[raider] = now + timing.call
            else:
                wrote = False
            if wrote:
                next_write = now + write_gap
        idle = not (arriving or to_check or to_restrict or pending)
        settled = not notice_sent or edits >= notice_edits or len(muted) == muted_at_last_edit
        if next_post >= len(posts) and idle and settled:
            break
    return Trace(
        raid=_lives(raid),
        member=_lives(member),
        bot=_lives(bot),
        mutes=muted,
        raiders=scenario.raiders,
        calls=calls,
        too_many=0,
        acks=acks,
        end=horizon,
        waits=waits,
        refused_posts=refused,
    )


# ----- the naive bot ----------------------------------------------------------------------------


class _Horizon(Exception):
    """The model reached the end of the observation."""


def naive(
    scenario: Scenario,
    horizon: float,
    limits: Limits = Limits(),
    timing: Timing = Timing(),
) -> Trace:
    posts = scenario.schedule()
    writes = Window(limits.writes_per_second, 1.0)
    reads = Window(limits.reads_per_second, 1.0)
    chat = Window(limits.group_messages_per_minute, 60.0)
    raid: list[_Message] = []
    member: list[_Message] = []
    bot: list[_Message] = []
    muted: dict[int, float] = {}
    checked: set[int] = set()
    queue: deque[tuple[float, int | None, _Message]] = deque()  # (arrives, raider, message)
    calls: Counter[str] = Counter()
    acks: list[tuple[float, float]] = []
    waits: list[float] = []
    too_many = refused = next_post = 0
    cursor = 0.0

    def call(method: str, windows: list[Window]) -> float:
        """One call at `cursor`, retried after each 429; returns when it took effect."""
        nonlocal cursor, too_many
        while True:
            if cursor + timing.call > horizon:
                raise _Horizon
            calls[method] += 1
            wait = max(w.wait(cursor) for w in windows)
            if wait <= 0:
                for window in windows:
                    window.take(cursor)
                cursor += timing.call
                return cursor
            too_many += 1
            cursor += timing.call + max(1, math.ceil(wait))

    try:
        while True:
            while next_post < len(posts) and posts[next_post].at <= cursor:
                post = posts[next_post]
                next_post += 1
                if post.raider and muted.get(post.user, math.inf) <= post.at:
                    refused += 1
                    continue
                message = _Message(post.at)
                (raid if post.raider else member).append(message)
                queue.append(
                    (post.at + timing.delivery, post.user if post.raider else None, message)
                )
            if not queue:
                if next_post >= len(posts):
                    break
                cursor = max(cursor, posts[next_post].at)
                continue
            arrives, raider, message = queue.popleft()
            cursor = start = max(cursor, arrives)
            if raider is not None:
                if raider not in checked:
                    call("getChatMember", [reads])
                    checked.add(raider)
                message.deleted = call("deleteMessage", [writes])
                if raider not in muted:
                    muted[raider] = call("restrictChatMember", [writes])
                bot.append(_Message(call("sendMessage", [writes, chat])))
            cursor += timing.ack
            if cursor > horizon:
                break
            acks.append((cursor - start, cursor))
            waits.append(start - arrives)
    except _Horizon:
        pass
    return Trace(
        raid=_lives(raid),
        member=_lives(member),
        bot=_lives(bot),
        mutes=muted,
        raiders=scenario.raiders,
        calls=calls,
        too_many=too_many,
        acks=acks,
        end=horizon,
        waits=waits,
        refused_posts=refused,
        notes=["the naive bot was stopped at the end of the observation"]
        if next_post < len(posts) or queue
        else [],
    )
