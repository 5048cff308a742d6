"""Parse the channel references admins type: @name, t.me links, numeric ids."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from gmbot.domain.models import LinkedChannel

_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{4,31}$")  # Telegram: 5-32 characters
_LINK = re.compile(r"^(?:https?://)?(?:t\.me|telegram\.me)/([A-Za-z][A-Za-z0-9_]{4,31})/?$")


@dataclass(frozen=True, slots=True)
class ChannelRef:
    text: str  # as typed
    lookup: int | str  # what getChat takes: an id or "@username"

    def matches(self, channel: LinkedChannel) -> bool:
        if isinstance(self.lookup, int):
            return channel.channel_id == self.lookup
        return (channel.username or "").lower() == self.lookup[1:].lower()


def parse_channel_ref(text: str) -> ChannelRef | None:
    raw = text.strip().rstrip(",")
    if re.fullmatch(r"-?\d{5,}", raw):
        return ChannelRef(raw, int(raw))
    link = _LINK.match(raw)
    if link:
        return ChannelRef(raw, "@" + link.group(1))
    name = raw.removeprefix("@")
    if _USERNAME.match(name):
        return ChannelRef(raw, "@" + name)
    return None


def parse_channel_refs(args: Sequence[str]) -> tuple[list[ChannelRef], list[str]]:
    """(valid references without duplicates, arguments that are not references)."""
    refs: list[ChannelRef] = []
    bad: list[str] = []
    seen: set[int | str] = set()
    for arg in args:
        ref = parse_channel_ref(arg)
        if ref is None:
            bad.append(arg)
            continue
        key = ref.lookup.lower() if isinstance(ref.lookup, str) else ref.lookup
        if key not in seen:
            seen.add(key)
            refs.append(ref)
    return refs, bad
