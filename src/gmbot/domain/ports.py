"""Abstract ports. Services depend on these; adapters and test fakes subclass them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import TracebackType
from typing import Self

from gmbot.domain.actions import Action, OutboxEntry, Priority
from gmbot.domain.models import (
    AuditEntry,
    AuditKind,
    GroupSettings,
    LinkedChannel,
    ProtectedGroup,
    Restriction,
)
from gmbot.domain.telegram import (
    BotIdentity,
    ChatInfo,
    CommandScope,
    Keyboard,
    MemberInfo,
    Permissions,
    TelegramError,
)

# --------------------------------------------------------------------------- storage


class GroupRepository(ABC):
    """Protected groups with their linked channels."""

    @abstractmethod
    async def get(self, chat_id: int) -> ProtectedGroup | None: ...

    @abstractmethod
    async def protect(
        self,
        chat_id: int,
        title: str,
        protected_by: int | None,
        linked_chat_id: int | None,
        channels: Sequence[LinkedChannel],
        now: datetime,
    ) -> ProtectedGroup:
        """Create or re-enable the group and add (or refresh) the channels.

        Existing links and settings are kept; a channel already linked is updated.
        """

    @abstractmethod
    async def unlink(self, chat_id: int, channel_ids: Sequence[int] | None = None) -> int:
        """Remove the given links (all when None); returns how many were removed.

        A group left with no channel is disabled.
        """

    @abstractmethod
    async def set_enabled(self, chat_id: int, enabled: bool) -> bool:
        """Returns False when the group is unknown."""

    @abstractmethod
    async def update_settings(self, chat_id: int, settings: GroupSettings) -> bool: ...

    @abstractmethod
    async def set_missing_rights(self, chat_id: int, rights: Sequence[str]) -> bool: ...

    @abstractmethod
    async def set_channel_admin(self, channel_id: int, bot_is_admin: bool) -> list[int]:
        """Record whether the bot is an admin of a channel; returns the affected group ids."""

    @abstractmethod
    async def rename_channel(self, channel_id: int, title: str, username: str | None) -> None: ...

    @abstractmethod
    async def groups_for_channel(self, channel_id: int) -> list[ProtectedGroup]:
        """Enabled groups that link the channel."""

    @abstractmethod
    async def migrate(self, old_chat_id: int, new_chat_id: int) -> bool:
        """Move a group (and everything keyed by it) to its supergroup id."""

    @abstractmethod
    async def counts(self) -> tuple[int, int, int]:
        """(enabled groups, all groups, channel links)."""


class OwnerRepository(ABC):
    """Admins who protected a group; they are told when the bot loses a right."""

    @abstractmethod
    async def add(self, chat_id: int, user_id: int, now: datetime) -> None: ...

    @abstractmethod
    async def list(self, chat_id: int) -> list[int]: ...


class BotUserRepository(ABC):
    """Users who started the bot in private, so it may write to them."""

    @abstractmethod
    async def mark_started(self, user_id: int, now: datetime) -> None: ...

    @abstractmethod
    async def mark_blocked(self, user_id: int) -> None: ...

    @abstractmethod
    async def reachable(self, user_ids: Sequence[int]) -> list[int]:
        """The subset that started the bot and has not blocked it, in input order."""


class ExemptRepository(ABC):
    @abstractmethod
    async def add(self, chat_id: int, user_id: int, added_by: int | None, now: datetime) -> bool:
        """False when already exempt."""

    @abstractmethod
    async def remove(self, chat_id: int, user_id: int) -> bool: ...

    @abstractmethod
    async def list(self, chat_id: int) -> list[int]: ...


class ManagerRepository(ABC):
    """Admins GMBot has seen in a group: candidates for a user's private group list,
    each checked live with Telegram before it is shown (the table may be stale)."""

    @abstractmethod
    async def saw(self, chat_id: int, user_ids: Sequence[int], now: datetime) -> None:
        """Record (or refresh the date of) these admins of the group."""

    @abstractmethod
    async def groups_of(self, user_id: int, limit: int) -> list[int]:
        """The groups the user was seen administering, most recently seen first."""

    @abstractmethod
    async def forget(self, chat_id: int, user_id: int) -> None: ...


class RestrictionRepository(ABC):
    """Mutes GMBot applied itself (ACTIVE) or is applying (INTENT)."""

    @abstractmethod
    async def add(self, restriction: Restriction) -> None:
        """Insert or replace the (chat, user) restriction."""

    @abstractmethod
    async def intend(self, restriction: Restriction) -> Restriction:
        """Record the intent to mute, in one statement, before Telegram is asked.

        With no record for the pair, `restriction` is written as it is (an INTENT);
        over an INTENT (an unfinished attempt) its until and checked_at are taken from
        `restriction`, its created_at kept; an ACTIVE record is left as it is. Returns
        the record as it now stands.
        """

    @abstractmethod
    async def discard(self, restriction: Restriction) -> bool:
        """Remove the pair's record if it is still the one read: same state and
        created_at (a mute applied again meanwhile is another record, and stays)."""

    @abstractmethod
    async def touch(self, chat_id: int, user_id: int, checked_at: datetime) -> bool:
        """Set checked_at; False when there is no record."""

    @abstractmethod
    async def intents(self, before: datetime, limit: int) -> list[Restriction]:
        """INTENT records last worked on before `before` (or never), longest ago first."""

    @abstractmethod
    async def least_checked(self, limit: int) -> list[Restriction]:
        """ACTIVE records, never checked first, then longest ago."""

    @abstractmethod
    async def get(self, chat_id: int, user_id: int) -> Restriction | None: ...

    @abstractmethod
    async def remove(self, chat_id: int, user_id: int) -> bool: ...

    @abstractmethod
    async def for_user(self, user_id: int) -> list[Restriction]: ...

    @abstractmethod
    async def for_chat(self, chat_id: int, limit: int = 1000) -> list[Restriction]:
        """Oldest first."""

    @abstractmethod
    async def count_active(self, now: datetime) -> int: ...


class AuditRepository(ABC):
    @abstractmethod
    async def add(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def recent(self, chat_id: int, limit: int = 20) -> list[AuditEntry]: ...

    @abstractmethod
    async def counts(self) -> dict[str, int]:
        """Entries per kind."""

    @abstractmethod
    async def count_since(self, chat_id: int, kind: AuditKind, since: datetime) -> int:
        """The group's entries of `kind` written at or after `since`."""


class UnitOfWork(ABC):
    """One transaction over every repository; services open one per use case."""

    groups: GroupRepository
    owners: OwnerRepository
    users: BotUserRepository
    exempt: ExemptRepository
    managers: ManagerRepository
    restrictions: RestrictionRepository
    audit: AuditRepository

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Anything not committed explicitly is rolled back.
        await self.rollback()

    @abstractmethod
    async def commit(self) -> None: ...

    @abstractmethod
    async def rollback(self) -> None: ...


class UnitOfWorkFactory(ABC):
    @abstractmethod
    def __call__(self) -> UnitOfWork: ...

    @abstractmethod
    async def ping(self) -> None:
        """Raise when the database is unreachable (readiness)."""


# --------------------------------------------------------------------------- cache


class CacheUnavailable(Exception):
    """The shared cache (Redis) cannot be reached: the work is retried once it is back."""


class StoreUnavailable(Exception):
    """The database cannot be reached (connection refused, lost, timed out)."""


class GateState(StrEnum):
    GROUP_UNKNOWN = "group_unknown"  # configuration not cached: load it
    UNPROTECTED = "unprotected"
    ADMINS_UNKNOWN = "admins_unknown"  # admin list not cached: load it
    ADMIN = "admin"
    EXEMPT = "exempt"
    VERIFIED = "verified"  # every linked channel cached as joined
    CHECK = "check"  # some channels need a look-up or are cached as not joined


@dataclass(frozen=True, slots=True)
class GateLookup:
    state: GateState
    unknown: tuple[int, ...] = ()  # channels with no cached result
    missing: tuple[int, ...] = ()  # channels cached as not joined


class GateCache(ABC):
    """Cached group configuration and admin lists: the per-message fast path."""

    @abstractmethod
    async def lookup(self, chat_id: int, user_id: int) -> GateLookup:
        """Everything the gate needs for a message, in one round trip.

        Raises CacheUnavailable when the cache cannot be reached.
        """

    @abstractmethod
    async def get_group(self, chat_id: int) -> tuple[bool, ProtectedGroup | None]:
        """(cached?, group). A cached None means "known not protected"."""

    @abstractmethod
    async def put_group(
        self, chat_id: int, group: ProtectedGroup | None, exempt: Sequence[int], ttl: int
    ) -> None: ...

    @abstractmethod
    async def drop_group(self, chat_id: int) -> None: ...

    @abstractmethod
    async def put_admins(self, chat_id: int, user_ids: Sequence[int], ttl: int) -> None: ...

    @abstractmethod
    async def drop_admins(self, chat_id: int) -> None: ...


class MembershipCache(ABC):
    """verify:{user_id}:{channel_id}: whether a user is in a channel."""

    @abstractmethod
    async def get(self, user_id: int, channel_id: int) -> bool | None: ...

    @abstractmethod
    async def put(self, user_id: int, channel_id: int, subscribed: bool) -> None:
        """Joined results live VERIFY_CACHE_TTL +/- jitter; not-joined ones briefly."""

    @abstractmethod
    async def drop(self, user_id: int, channel_id: int) -> None: ...


class WarningStore(ABC):
    """warn:{chat_id}:{user_id}: the offence messages a member was warned for.

    Counted by message id, so a redelivered update or a retried action counts once.
    """

    @abstractmethod
    async def record(self, chat_id: int, user_id: int, message_id: int) -> int:
        """Count the offence `message_id` (once) and return the member's count; the
        count lives WARNING_TTL from its latest offence."""

    @abstractmethod
    async def count(self, chat_id: int, user_id: int) -> int: ...

    @abstractmethod
    async def reset(self, chat_id: int, user_id: int) -> None:
        """Forget the member's warnings (they verified)."""


class Throttle(ABC):
    """Cross-instance "at most once per period" guards."""

    @abstractmethod
    async def acquire(self, key: str, seconds: float) -> bool:
        """True for the first caller in the period, False while it is held."""

    @abstractmethod
    async def remaining(self, key: str) -> float:
        """Seconds until `key` is free again; 0.0 when it is not held."""

    @abstractmethod
    async def release(self, key: str) -> None: ...


class JobLock(ABC):
    """Fleet-wide locks: a background job's sweep runs on one instance at a time."""

    @abstractmethod
    async def hold(self, name: str, seconds: float) -> str | None:
        """Take lock `name` for `seconds`: a token when taken, None while another
        holder has it. Raises CacheUnavailable when the lock store cannot be reached."""

    @abstractmethod
    async def release(self, name: str, token: str) -> bool:
        """Free the lock if `token` still holds it (a lapsed hold frees nothing)."""


class MenuStore(ABC):
    """The fingerprint of the command menus last registered with Telegram, fleet-wide."""

    @abstractmethod
    async def registered(self) -> str | None:
        """The last registered menus' hash (None before the first registration)."""

    @abstractmethod
    async def remember(self, digest: str) -> None:
        """Record that the menus with this hash are now registered."""


class InputKind(StrEnum):
    """What the settings panel asked a user to send in private."""

    CHANNEL = "channel"  # a channel to link: @username, link, id or a forwarded post
    EXEMPT = "exempt"  # a user to exempt: numeric id or a forwarded message
    SETTING = "setting"  # a free-text setting's new value


@dataclass(frozen=True, slots=True)
class PendingInput:
    chat_id: int  # the group whose panel asked
    kind: InputKind
    key: str = ""  # the setting, for InputKind.SETTING


class PendingInputs(ABC):
    """The answer each user's private chat awaits, one per user, fleet-wide (the next
    message may reach any instance); forgotten after its ttl."""

    @abstractmethod
    async def expect(self, user_id: int, pending: PendingInput, ttl: int) -> None:
        """Await this from the user (replaces what was awaited before)."""

    @abstractmethod
    async def awaited(self, user_id: int) -> PendingInput | None: ...

    @abstractmethod
    async def drop(self, user_id: int) -> PendingInput | None:
        """Stop awaiting; what was awaited (None: nothing)."""


@dataclass(frozen=True, slots=True)
class DueDeletion:
    chat_id: int
    message_id: int
    user_id: int | None = None  # the prompt's subject, to clear its prompt slot


class PromptStore(ABC):
    """One live prompt per (group, user) and the schedule that deletes prompts."""

    @abstractmethod
    async def claim(self, chat_id: int, user_id: int, ttl: int, owner: int | None = None) -> bool:
        """True when no prompt is live for the user; reserves the slot.

        `owner` (the message that triggers the prompt) makes the claim re-entrant: a
        redelivery of the same message, after a crash or a deferred send between the
        claim and the prompt, may claim again while the prompt is not sent yet.
        """

    @abstractmethod
    async def attach(self, chat_id: int, user_id: int, message_id: int, ttl: int) -> None: ...

    @abstractmethod
    async def current(self, chat_id: int, user_id: int) -> int | None: ...

    @abstractmethod
    async def clear(self, chat_id: int, user_id: int) -> int | None:
        """Free the slot; returns the prompt's message id if one was attached."""

    @abstractmethod
    async def schedule_deletion(self, item: DueDeletion, at: float) -> None: ...

    @abstractmethod
    async def claim_due(self, now: float, limit: int = 100) -> list[DueDeletion]:
        """Take due deletions; each is handed to exactly one caller."""


class Outbox(ABC):
    """The fleet-wide, durable list of actions to carry out.

    Every instance consumes it; an entry taken by a consumer that died is handed
    to another after a while. Entries come out highest priority first.
    """

    @abstractmethod
    async def record(self, actions: Sequence[Action]) -> int:
        """Durably record the actions whose keys were never recorded; returns how many.

        An action with a `delay` is handed out once that many seconds have passed
        (fleet-wide: whichever consumer takes then), and its key is remembered that much
        longer, so recording it again meanwhile records nothing.

        Raises CacheUnavailable when the outbox cannot be reached.
        """

    @abstractmethod
    async def take(
        self,
        consumer: str,
        count: int,
        block_ms: int = 0,
        *,
        priorities: Sequence[Priority] | None = None,
    ) -> list[OutboxEntry]:
        """Up to `count` entries for this consumer, highest priority first: entries of
        consumers idle past the claim timeout, then new ones (waiting up to `block_ms`
        for some). Only the given priorities when named (all by default). Entries
        already settled are dropped, never handed out."""

    @abstractmethod
    async def settle(self, entries: Sequence[OutboxEntry]) -> int:
        """Carried out (or permanently refused): never hand these keys out again.

        Fenced: an entry handed to another consumer since it was taken (this one was
        presumed dead) is left to that consumer. Returns how many were settled."""

    @abstractmethod
    async def postpone(self, entries: Sequence[OutboxEntry], delay: float) -> int:
        """A transient failure: hand these out again, to any consumer, once `delay`
        seconds have passed (their attempts counted on). Entries no longer this
        consumer's (taken over meanwhile) are left alone; returns how many were moved."""

    @abstractmethod
    async def extend(self, consumer: str, entries: Sequence[OutboxEntry]) -> list[OutboxEntry]:
        """Still at work on these: restart their claim timeout, so they are not handed
        to another consumer. Entries taken over by another consumer (or handed out
        again) meanwhile are left to it; returns those still this consumer's."""

    @abstractmethod
    async def forget(self, keys: Sequence[str]) -> None:
        """Let these keys be recorded again (a lifted mute may be needed again later)."""

    @abstractmethod
    async def backlog(self) -> int:
        """Entries recorded and not yet settled (new and handed out)."""


class RateLimiter(ABC):
    """Telegram's flood limits, shared by every instance (token buckets in Redis)."""

    @abstractmethod
    async def acquire(self, limits: Sequence[str], priority: Priority) -> float:
        """Take one token from each named limit, or none of them.

        Returns 0 when taken, else the seconds to wait before asking again. Lower
        priorities leave a reserve in each bucket for higher ones.
        """

    @abstractmethod
    async def hold(self, limit: str, seconds: float) -> None:
        """Telegram answered 429 for this limit: hold it back for `seconds`
        (a longer hold already in place is kept)."""


class RaidPhase(StrEnum):
    CALM = "calm"  # prompt the member on their own
    STARTED = "started"  # this member started a raid: post the shared notice
    ONGOING = "ongoing"  # a raid is on: the shared notice speaks for everyone


@dataclass(frozen=True, slots=True)
class RaidSignal:
    phase: RaidPhase
    gated: int  # members gated in the window (calm) or since the raid began
    notice_id: int | None = None  # the shared notice, once posted
    edit_due: bool = False  # the caller won the right to refresh the notice now


@dataclass(frozen=True, slots=True)
class EndedRaid:
    chat_id: int
    started_at: float
    gated: int
    notice_id: int | None


class RaidWatch(ABC):
    """Per-group raid state, shared by every instance."""

    @abstractmethod
    async def gated(
        self,
        chat_id: int,
        user_id: int,
        now: float,
        *,
        threshold: int,
        window: float,
        edit_every: float,
    ) -> RaidSignal:
        """A member was gated. A raid starts once `threshold` distinct members were
        gated within `window` seconds (0: never; 1: at the first). Exactly one caller
        sees STARTED; while a raid is on, at most one caller per `edit_every` seconds
        gets `edit_due` when the count changed."""

    @abstractmethod
    async def prompt_reserve(self, chat_id: int, user_id: int, ttl: float) -> bool:
        """A per-member prompt is about to be sent. False when a raid is on (no prompt
        then). A reservation not followed by prompt_shown/prompt_dropped lapses."""

    @abstractmethod
    async def prompt_shown(self, chat_id: int, user_id: int, message_id: int, ttl: float) -> bool:
        """The reserved prompt is on screen. False when a raid began meanwhile: the
        caller removes the prompt (the shared notice replaces it)."""

    @abstractmethod
    async def prompt_dropped(self, chat_id: int, user_id: int) -> None:
        """The reserved prompt was not sent."""

    @abstractmethod
    async def take_prompts(self, chat_id: int) -> tuple[list[tuple[int, int]], int]:
        """(user, message) of the per-member prompts on screen, handed to the raid's
        starter to remove, and how many reserved prompts are still on their way (the
        starter waits for those before it posts the notice)."""

    @abstractmethod
    async def claim_notice(self, chat_id: int, hold: float) -> bool:
        """Only one instance posts the notice; a claim lapses after `hold` seconds."""

    @abstractmethod
    async def release_notice(self, chat_id: int) -> None:
        """Posting the notice failed: let the next caller try at once."""

    @abstractmethod
    async def notice_posted(self, chat_id: int, message_id: int, shown: int) -> bool:
        """Record the notice; False when the raid already ended (remove the notice)."""

    @abstractmethod
    async def notice_shown(self, chat_id: int, shown: int) -> None:
        """The notice now shows `shown` members."""

    @abstractmethod
    async def active(self, chat_id: int) -> RaidSignal | None:
        """The raid going on in the group, or None."""

    @abstractmethod
    async def stale_notices(self, now: float, edit_every: float) -> list[tuple[int, int, int]]:
        """(chat, notice, gated) for notices showing an old count, each claimed for
        one caller for `edit_every` seconds."""

    @abstractmethod
    async def without_notice(self) -> list[tuple[int, int]]:
        """(chat, gated) of raids going on whose notice is not posted (its poster may
        have died); the caller claims the notice before posting it."""

    @abstractmethod
    async def end_calm(self, now: float, calm: float) -> list[EndedRaid]:
        """End raids with no member gated for `calm` seconds; each is handed out once."""


class HealthProbe(ABC):
    @abstractmethod
    async def ping(self) -> None:
        """Raise when the backing service is unreachable."""


# --------------------------------------------------------------------------- telegram


class TelegramGateway(ABC):
    """The Bot API calls GMBot makes, in domain terms.

    Raises the TelegramError subclasses of gmbot.domain.telegram.
    """

    @abstractmethod
    async def get_me(self) -> BotIdentity: ...

    @abstractmethod
    async def get_chat(self, chat: int | str) -> ChatInfo: ...

    @abstractmethod
    async def get_member(self, chat_id: int, user_id: int) -> MemberInfo: ...

    @abstractmethod
    async def get_admins(self, chat_id: int) -> list[MemberInfo]: ...

    @abstractmethod
    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        thread_id: int | None = None,
    ) -> int:
        """Send HTML text; returns the message id."""

    @abstractmethod
    async def delete_message(self, chat_id: int, message_id: int) -> bool:
        """False when the message was already gone."""

    @abstractmethod
    async def restrict(
        self, chat_id: int, user_id: int, permissions: Permissions, until: datetime | None = None
    ) -> None: ...

    @abstractmethod
    async def delete_messages(self, chat_id: int, message_ids: Sequence[int]) -> None:
        """Delete 1-100 messages of one chat in one call (deleteMessages).

        Telegram skips messages that are gone or too old and answers True; it
        refuses the call only when the bot may not delete in the chat at all.
        """

    @abstractmethod
    async def edit_message(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> bool:
        """Replace an HTML message's text (editMessageText); False when it is gone.

        An edit that changes nothing is not an error.
        """

    @abstractmethod
    async def edit_keyboard(self, chat_id: int, message_id: int, keyboard: Keyboard | None) -> bool:
        """Replace (None: remove) a message's inline keyboard (editMessageReplyMarkup);
        False when the message is gone. An edit that changes nothing is not an error."""

    @abstractmethod
    async def ban(
        self,
        chat_id: int,
        user_id: int,
        *,
        until: datetime | None = None,
        revoke_messages: bool = False,
    ) -> None:
        """banChatMember. In a basic group Telegram only removes the user (no ban list)."""

    @abstractmethod
    async def unban(self, chat_id: int, user_id: int, *, only_if_banned: bool = True) -> None:
        """unbanChatMember (supergroups and channels only). only_if_banned=False would
        also remove a user who is in the chat."""

    async def kick(self, chat_id: int, user_id: int) -> None:
        """Remove the user from the group, free to come back: ban, then lift the ban."""
        await self.ban(chat_id, user_id)
        try:
            await self.unban(chat_id, user_id, only_if_banned=True)
        except TelegramError as err:
            # A basic group keeps no ban list: the ban only removed them, nothing to lift.
            if "supergroup and channel chats only" not in err.description.lower():
                raise

    @abstractmethod
    async def set_commands(
        self,
        commands: Sequence[tuple[str, str]],
        scope: CommandScope,
        language: str | None = None,
    ) -> None:
        """setMyCommands: (command, description) pairs; empty clears the list."""

    @abstractmethod
    async def get_commands(
        self, scope: CommandScope, language: str | None = None
    ) -> list[tuple[str, str]]: ...

    @abstractmethod
    async def answer_callback(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None: ...

    @abstractmethod
    async def create_invite_link(self, chat_id: int) -> str: ...
