"""The Outbox over Redis Streams: one stream per priority, one consumer group on each.

record() is one script: per action, SET act:<key> NX EX ttl and, only when that took,
XADD to the action's priority stream, so a redelivered update or a replayed decision
records nothing twice. take() is one script too: per stream, highest priority first,
it claims entries idle past `claim_after_ms` (their consumer died or gave up), then
reads new ones, up to `count`, and drops entries whose key is done already. settle()
marks the keys done, acknowledges and deletes the entries, so a stream holds only
what is not settled and XLEN is the backlog.

An entry taken and never settled (its consumer died) stays pending and is handed out
again, to whichever consumer takes next, once idle for `claim_after_ms`. An entry whose
Telegram call failed for now is postponed: moved, with its attempt count (field "n"),
to a "later" stream and a sorted set of due times; a take first moves the entries due
back to their own streams, so any instance retries them. An action recorded with a
delay (a verification timeout) waits there from the start, its key remembered for the
delay on top of `key_ttl`.

Due times are in milliseconds of the outbox's clock: the instance's wall clock when
one is given (every instance's is NTP-synced, and the tests move it), else Redis' own
TIME. One outbox always uses one of the two, for recording, postponing and taking.

Fencing: an entry is the consumer's that took it, at the delivery count it was taken
with (OutboxEntry.consumer / .claim). Settling, postponing and extending check both in
the script, so a consumer that was presumed dead and taken over changes nothing; and
record() refuses to write for an update whose lease (the fence the gateway checks,
domain/fencing.py) another instance holds now.

Every method raises CacheUnavailable when Redis cannot be reached (or answers an
error), so the services, which do not know Redis, can tell it from their own faults.

The groups are created on first use with id 0, so entries recorded before a group
existed are read too; a take that finds a group missing (Redis restarted without
its data) creates it again and carries on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from string import Template
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from gmbot.cache.keys import DEFAULT_NAMESPACE, CacheKeys
from gmbot.domain.actions import Action, ActionKind, OutboxEntry, Priority
from gmbot.domain.fencing import CURRENT_FENCE, LeaseLost
from gmbot.domain.ports import CacheUnavailable, Outbox

log = structlog.get_logger(__name__)

GROUP = "workers"
FIELD_PREFIX = "f."  # an action's own fields, apart from kind, chat and key
_PRIORITIES = tuple(Priority)

# The outbox clock's now, in ms: ARGV `arg` when the caller gives one, else TIME.
NOW_MS = """
local function now_ms(arg)
  if arg ~= '' then return tonumber(arg) end
  local clock = redis.call('TIME')
  return tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
end
"""

# KEYS[1..5] streams by priority (one per Priority), then one act key per action.
# ARGV[1] ttl s, ARGV[2] the update lease key ("" when not fenced), ARGV[3] its token,
# ARGV[4] now ms ("" = TIME), ARGV[5] the due set, ARGV[6] the later stream, then per
# action: priority, kind, chat, key, delay ms, n, then n name/value pairs. A delayed
# action goes to the later stream (its priority in field "p") and the due set; its key
# lives the delay longer. Replies how many actions were new, or -1 (nothing written)
# when the lease is not ours.
RECORD_SCRIPT = Template(
    NOW_MS
    + """
local ttl, n_streams = tonumber(ARGV[1]), $streams
if ARGV[2] ~= '' and redis.call('GET', ARGV[2]) ~= ARGV[3] then return -1 end
local due_set, later, now = ARGV[5], ARGV[6], nil
local i, k, new = 7, n_streams + 1, 0
while i <= #ARGV do
  local delay, n = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local life = ttl + math.ceil(delay / 1000)
  if redis.call('SET', KEYS[k], '1', 'NX', 'EX', life) then
    local entry = {'kind', ARGV[i + 1], 'chat', ARGV[i + 2], 'key', ARGV[i + 3]}
    for j = i + 6, i + 5 + 2 * n do entry[#entry + 1] = ARGV[j] end
    if delay > 0 then
      now = now or now_ms(ARGV[4])
      table.insert(entry, 1, ARGV[i]); table.insert(entry, 1, 'p')
      redis.call('ZADD', due_set, now + delay, redis.call('XADD', later, '*', unpack(entry)))
    else
      redis.call('XADD', KEYS[tonumber(ARGV[i]) + 1], '*', unpack(entry))
    end
    new = new + 1
  end
  i, k = i + 6 + 2 * n, k + 1
end
return new
"""
).substitute(streams=len(Priority))

# Moves the postponed (or delayed) entries now due (up to 100) back to their priority's
# stream. Expects the locals due_set, later, stream_prefix and due_now (ms).
PROMOTE_DUE = """
for _, lid in ipairs(redis.call('ZRANGEBYSCORE', due_set, '-inf', due_now, 'LIMIT', 0, 100)) do
  local got = redis.call('XRANGE', later, lid, lid)
  if #got > 0 then
    local fields, entry, p = got[1][2], {}, nil
    for i = 1, #fields, 2 do
      if fields[i] == 'p' then p = fields[i + 1]
      else entry[#entry + 1] = fields[i]; entry[#entry + 1] = fields[i + 1] end
    end
    if p then redis.call('XADD', stream_prefix .. p, '*', unpack(entry)) end
    redis.call('XDEL', later, lid)
  end
  redis.call('ZREM', due_set, lid)
end
"""

# KEYS the streams to take from, highest priority first. ARGV[1] group, ARGV[2]
# consumer, ARGV[3] claim after ms, ARGV[4] count, ARGV[5] act key prefix, ARGV[6] the
# due set, ARGV[7] the later stream, ARGV[8] the streams' prefix, ARGV[9] now ms
# ("" = TIME), then the priority of each stream. The other keys are built here, which
# is fine on one Redis but not Redis-Cluster-safe (as the gate's lookup script).
# Replies {priority, id, deliveries, {field, value, ...}} per entry handed out.
TAKE_SCRIPT = (
    NOW_MS
    + """
local group, consumer, idle, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local due_set, later, stream_prefix = ARGV[6], ARGV[7], ARGV[8]
local due_now = now_ms(ARGV[9])
local left = tonumber(ARGV[4])
local out = {}
"""
    + PROMOTE_DUE
    + """
local function hand_out(p, stream, entry, deliveries)
  local fields, key = entry[2], nil
  for i = 1, #fields, 2 do
    if fields[i] == 'key' then key = fields[i + 1] break end
  end
  if key and redis.call('GET', prefix .. key) == 'done' then
    -- carried out already (acknowledged too late, or a second entry of the key)
    redis.call('XACK', stream, group, entry[1])
    redis.call('XDEL', stream, entry[1])
    return
  end
  out[#out + 1] = {p, entry[1], deliveries, fields}
  left = left - 1
end
for s = 1, #KEYS do
  if left <= 0 then break end
  local stream, p = KEYS[s], ARGV[9 + s]
  local known = redis.pcall('XGROUP', 'CREATECONSUMER', stream, group, consumer)
  if type(known) == 'table' and known.err then
    redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  end
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, idle, '0-0', 'COUNT', left)
  for _, entry in ipairs(claimed[2]) do
    if type(entry) == 'table' then
      local pending = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)[1]
      hand_out(p, stream, entry, pending and pending[4] or 2)
    end
  end
  if left > 0 then
    local read = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', left,
      'STREAMS', stream, '>')
    if read and #read > 0 then
      -- Redis answers {{stream, entries}}; fakeredis (the embedded mode) {stream, entries}
      local entries = type(read[1]) == 'table' and read[1][2] or read[2]
      for _, entry in ipairs(entries) do hand_out(p, stream, entry, 1) end
    end
  end
end
return out
"""
)

# After a blocking read: the entries it delivered, in priority order, each 1 (hand out)
# or 0 (done already: settled here; or past `count`: made claimable at once, since a
# read over several streams may return up to `count` from each).
# KEYS[1..5] streams. ARGV[1] group, ARGV[2] consumer, ARGV[3] claim after ms,
# ARGV[4] count, ARGV[5] act key prefix, then per entry: priority, id, key.
VET_SCRIPT = """
local group, consumer, idle, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[5]
local left = tonumber(ARGV[4])
local out = {}
for i = 6, #ARGV, 3 do
  local stream, id = KEYS[tonumber(ARGV[i]) + 1], ARGV[i + 1]
  if redis.call('GET', prefix .. ARGV[i + 2]) == 'done' then
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    out[#out + 1] = 0
  elseif left <= 0 then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'IDLE', idle, 'RETRYCOUNT', 0,
      'JUSTID')
    out[#out + 1] = 0
  else
    left = left - 1
    out[#out + 1] = 1
  end
end
return out
"""

# Whether the entry at `stream`/`id` is still `consumer`'s at delivery count `claim`
# (an empty consumer: not fenced). Expects the local group.
STILL_OURS = """
local function still_ours(stream, id, consumer, claim)
  if consumer == '' then return true end
  local ok, pending = pcall(redis.call, 'XPENDING', stream, group, id, id, 1)
  if not ok or #pending == 0 then return false end
  return pending[1][2] == consumer and tonumber(pending[1][4]) == tonumber(claim)
end
"""

# KEYS[1..5] streams by priority, then one act key per entry.
# ARGV[1] group, then per entry: priority, id, consumer, claim. A key forgotten
# meanwhile stays forgotten (XX); a done mark lives as long as the record it replaces
# (KEEPTTL). Replies how many were settled (the rest were no longer ours).
SETTLE_SCRIPT = Template(
    """
local group, n_streams, settled = ARGV[1], $streams, 0
"""
    + STILL_OURS
    + """
for k = n_streams + 1, #KEYS do
  local a = 4 * (k - n_streams) - 2
  local stream, id = KEYS[tonumber(ARGV[a]) + 1], ARGV[a + 1]
  if still_ours(stream, id, ARGV[a + 2], ARGV[a + 3]) then
    redis.call('SET', KEYS[k], 'done', 'XX', 'KEEPTTL')
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
    settled = settled + 1
  end
end
return settled
"""
).substitute(streams=len(Priority))

# KEYS[1..5] streams by priority. ARGV[1] group, ARGV[2] delay ms, ARGV[3] due set,
# ARGV[4] later stream, ARGV[5] now ms ("" = TIME), then per entry: priority, id,
# consumer, claim, attempts so far.
# Each entry still ours moves to the later stream (its priority in field "p", its
# attempts in "n") and into the due set; replies how many moved.
POSTPONE_SCRIPT = (
    NOW_MS
    + """
local group, delay, due_set, later, moved = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], 0
local due = now_ms(ARGV[5]) + delay
"""
    + STILL_OURS
    + """
for i = 6, #ARGV, 5 do
  local stream, id = KEYS[tonumber(ARGV[i]) + 1], ARGV[i + 1]
  if still_ours(stream, id, ARGV[i + 2], ARGV[i + 3]) then
    local got = redis.call('XRANGE', stream, id, id)
    if #got > 0 then
      local fields, entry = got[1][2], {'p', ARGV[i]}
      for j = 1, #fields, 2 do
        if fields[j] ~= 'n' then
          entry[#entry + 1] = fields[j]; entry[#entry + 1] = fields[j + 1]
        end
      end
      entry[#entry + 1] = 'n'; entry[#entry + 1] = ARGV[i + 4]
      redis.call('ZADD', due_set, due, redis.call('XADD', later, '*', unpack(entry)))
      moved = moved + 1
    end
    redis.call('XACK', stream, group, id)
    redis.call('XDEL', stream, id)
  end
end
return moved
"""
)


# KEYS: the streams by priority. ARGV[1] group, ARGV[2] consumer, then per entry:
# priority, id, claim. An entry still this consumer's at its claim gets its idle time
# reset (XCLAIM with min-idle 0 and JUSTID, which leaves the delivery count alone);
# one another consumer (or a later take) has is left to it. Replies, per entry, 1 when
# it was still ours, else 0.
EXTEND_SCRIPT = (
    """
local group, consumer, out = ARGV[1], ARGV[2], {}
"""
    + STILL_OURS
    + """
for i = 3, #ARGV, 3 do
  local stream, id = KEYS[tonumber(ARGV[i]) + 1], ARGV[i + 1]
  if still_ours(stream, id, consumer, ARGV[i + 2]) then
    redis.call('XCLAIM', stream, group, consumer, 0, id, 'JUSTID')
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""
)


class RedisOutbox(Outbox):
    def __init__(
        self,
        redis: Redis,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        key_ttl: int = 86400,
        claim_after_ms: int = 15000,
        max_block_ms: int = 2000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """`key_ttl`: how long a recorded key is remembered (bounds memory; an entry
        left unsettled longer may be recorded a second time). `max_block_ms` caps a
        blocking take, so it gives its pool connection back regularly and stays well
        inside the client's socket timeout. `clock`: epoch seconds for due times
        (None: Redis' TIME)."""
        self._redis = redis
        self._keys = CacheKeys(namespace)
        self._streams = tuple(self._keys.outbox(p) for p in _PRIORITIES)
        self._priority_of: dict[bytes | str, int] = {}
        for priority, stream in enumerate(self._streams):
            self._priority_of[stream] = self._priority_of[stream.encode()] = priority
        self._key_ttl = key_ttl
        self._claim_after_ms = max(1, claim_after_ms)
        self._max_block_ms = max(1, max_block_ms)
        self._clock = clock
        self._record = redis.register_script(RECORD_SCRIPT)
        self._take = redis.register_script(TAKE_SCRIPT)
        self._vet = redis.register_script(VET_SCRIPT)
        self._settle = redis.register_script(SETTLE_SCRIPT)
        self._extend = redis.register_script(EXTEND_SCRIPT)
        self._postpone = redis.register_script(POSTPONE_SCRIPT)

    async def record(self, actions: Sequence[Action]) -> int:
        if not actions:
            return 0
        # Highest priority first, so a take blocked on all streams wakes on the most
        # urgent one (Redis serves it the stream that got an entry first).
        actions = sorted(actions, key=_priority)
        action_key = self._keys.action
        keys = [*self._streams, *(action_key(a.key) for a in actions)]
        fence = CURRENT_FENCE.get()
        lease_key, token = (fence.redis_key, fence.token) if fence is not None else ("", "")
        args: list[str | int] = [self._key_ttl, lease_key, token, self._now_ms()]
        args += (self._keys.outbox_due, self._keys.outbox_later)
        for a in actions:
            delay_ms = max(0, math.ceil(a.delay * 1000))
            args += (int(a.priority), a.kind.value, a.chat_id, a.key, delay_ms, len(a.fields))
            for name, value in a.fields.items():
                args += (FIELD_PREFIX + name, value)
        try:
            new = int(await self._record(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        if new < 0:
            assert fence is not None
            fence.lose()
            raise LeaseLost(fence.name)
        return new

    async def take(
        self,
        consumer: str,
        count: int,
        block_ms: int = 0,
        *,
        priorities: Sequence[Priority] | None = None,
    ) -> list[OutboxEntry]:
        try:
            return await self._take_entries(consumer, count, block_ms, priorities)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def _take_entries(
        self, consumer: str, count: int, block_ms: int, priorities: Sequence[Priority] | None
    ) -> list[OutboxEntry]:
        if count <= 0:
            return []
        chosen = _PRIORITIES if priorities is None else sorted(set(priorities))
        if not chosen:
            return []
        streams = [self._streams[p] for p in chosen]
        common = (GROUP, consumer, self._claim_after_ms, count, self._keys.action_prefix)
        later = (
            self._keys.outbox_due,
            self._keys.outbox_later,
            self._keys.outbox_prefix,
            self._now_ms(),
        )
        reply = await self._take(keys=streams, args=(*common, *later, *(int(p) for p in chosen)))
        taken = await self._decode(consumer, _script_entries(reply))
        if taken or block_ms <= 0:
            return taken
        # Nothing now: wait for new entries (Redis' BLOCK 0 would wait forever).
        try:
            read = await self._redis.xreadgroup(
                GROUP,
                consumer,
                dict.fromkeys(streams, ">"),
                count=count,
                block=min(block_ms, self._max_block_ms),
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []  # the streams were lost meanwhile; the next take recreates them
        arrived = sorted(self._read_entries(read))
        if not arrived:
            return []
        vetted: list[str | int] = [*common]
        for priority, stream_id, fields in arrived:
            vetted += (priority, stream_id, _text(fields.get(b"key") or fields.get("key") or ""))
        keep = await self._vet(keys=self._streams, args=vetted)
        woken = await self._decode(
            consumer,
            (
                (priority, stream_id, 1, fields.items())
                for (priority, stream_id, fields), flag in zip(arrived, keep, strict=True)
                if int(flag)
            ),
        )
        if len(woken) >= count:
            return woken
        # The read returns only the stream that woke it: fill the batch from the rest.
        rest = (GROUP, consumer, self._claim_after_ms, count - len(woken), common[4])
        reply = await self._take(keys=streams, args=(*rest, *later, *(int(p) for p in chosen)))
        more = await self._decode(consumer, _script_entries(reply))
        return sorted([*woken, *more], key=_entry_order)

    async def settle(self, entries: Sequence[OutboxEntry]) -> int:
        if not entries:
            return 0
        action_key = self._keys.action
        keys = [*self._streams, *(action_key(e.action.key) for e in entries)]
        args: list[str | int] = [GROUP]
        for e in entries:
            priority, _, stream_id = e.entry_id.partition("-")
            args += (priority, stream_id, e.consumer, e.claim)
        try:
            settled = int(await self._settle(keys=keys, args=args))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        if settled < len(entries):
            log.warning("outbox_settle_fenced", refused=len(entries) - settled)
        return settled

    async def postpone(self, entries: Sequence[OutboxEntry], delay: float) -> int:
        if not entries:
            return 0
        keys = self._keys
        args: list[str | int] = [GROUP, max(0, int(delay * 1000)), keys.outbox_due]
        args += (keys.outbox_later, self._now_ms())
        for e in entries:
            priority, _, stream_id = e.entry_id.partition("-")
            args += (priority, stream_id, e.consumer, e.claim, e.deliveries)
        try:
            return int(await self._postpone(keys=self._streams, args=args))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def extend(self, consumer: str, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        if not entries:
            return []
        args: list[str | int] = [GROUP, consumer]
        for e in entries:
            priority, _, stream_id = e.entry_id.partition("-")
            args += (priority, stream_id, e.claim)
        try:
            flags = await self._extend(keys=self._streams, args=args)
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return [e for e, flag in zip(entries, flags, strict=True) if int(flag)]

    async def forget(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        try:
            await self._redis.delete(*(self._keys.action(k) for k in keys))
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc

    async def backlog(self) -> int:
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for stream in (*self._streams, self._keys.outbox_later):
                    pipe.xlen(stream)
                lengths = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise CacheUnavailable(str(exc)) from exc
        return sum(int(n) for n in lengths)

    def _now_ms(self) -> str | int:
        """The outbox clock's now for a script ("": the script asks Redis' TIME)."""
        return "" if self._clock is None else int(self._clock() * 1000)

    def _read_entries(self, read: Any) -> Iterable[tuple[int, str, dict[Any, Any]]]:
        """(priority, stream id, fields) of an XREADGROUP reply (RESP2, as create_redis)."""
        for stream, entries in read or ():
            priority = self._priority_of[stream]
            for stream_id, fields in entries:
                yield priority, _text(stream_id), fields

    async def _decode(
        self, consumer: str, raw: Iterable[tuple[int, str, int, Iterable[Any]]]
    ) -> list[OutboxEntry]:
        out: list[OutboxEntry] = []
        unreadable: list[tuple[int, str]] = []
        for priority, stream_id, claim, pairs in raw:
            action, earlier = _action(pairs)
            if action is None:
                unreadable.append((priority, stream_id))
            else:
                entry_id = f"{priority}-{stream_id}"
                deliveries = earlier + claim
                out.append(OutboxEntry(entry_id, action, deliveries, consumer, claim))
        if unreadable:
            await self._drop(unreadable)
        return out

    async def _drop(self, entries: Sequence[tuple[int, str]]) -> None:
        """Remove entries no consumer can carry out (not written by record(), or by a
        version that knew other kinds); handed out again and again otherwise."""
        log.warning("outbox_entries_unreadable", entries=[f"{p}-{i}" for p, i in entries])
        async with self._redis.pipeline(transaction=False) as pipe:
            for priority, stream_id in entries:
                pipe.xack(self._streams[priority], GROUP, stream_id)
                pipe.xdel(self._streams[priority], stream_id)
            await pipe.execute()


def _script_entries(reply: Any) -> Iterable[tuple[int, str, int, Iterable[Any]]]:
    for priority, stream_id, deliveries, flat in reply:
        pairs = zip(flat[::2], flat[1::2], strict=True)
        yield int(priority), _text(stream_id), int(deliveries), pairs


def _action(pairs: Iterable[Any]) -> tuple[Action | None, int]:
    """The entry's action (None when unreadable) and its attempts before this entry."""
    kind = chat = key = None
    earlier = "0"
    fields: dict[str, str] = {}
    for raw_name, raw_value in pairs:
        name, value = _text(raw_name), _text(raw_value)
        if name.startswith(FIELD_PREFIX):
            fields[name[len(FIELD_PREFIX) :]] = value
        elif name == "kind":
            kind = value
        elif name == "chat":
            chat = value
        elif name == "key":
            key = value
        elif name == "n":
            earlier = value
    if kind is None or chat is None or not key:
        return None, 0
    try:
        return Action(ActionKind(kind), int(chat), key, fields), int(earlier)
    except ValueError:
        return None, 0


def _priority(action: Action) -> int:
    return action.priority


def _entry_order(entry: OutboxEntry) -> tuple[int, ...]:
    """Priority, then stream order: "<priority>-<ms>-<seq>" as numbers."""
    return tuple(int(part) for part in entry.entry_id.split("-"))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
