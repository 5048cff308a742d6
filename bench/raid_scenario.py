"""The raid the benchmark plays: who posts when, the same for the real bot and the models.

Times are seconds from the raid's start. Members chat throughout (each member's messages
a Poisson stream, `member_interval` seconds apart on average); each raider posts
`per_raider` messages at uniformly random moments of the first `raid_seconds`. A post by a
raider who is muted by then is refused (Telegram does not let a restricted user send), so
how many raid messages exist depends on how fast the bot mutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Post:
    at: float  # seconds from the raid's start
    user: int  # index: members are 0..members-1, raiders come after
    raider: bool


@dataclass(frozen=True, slots=True)
class Scenario:
    members: int = 50
    raiders: int = 200
    per_raider: int = 5
    raid_seconds: float = 10.0
    member_interval: float = 2.0
    chat_seconds: float = 15.0  # how long members chat (from the raid's start)
    seed: int = 1

    def raider_indices(self) -> range:
        return range(self.members, self.members + self.raiders)

    def schedule(self) -> list[Post]:
        rng = random.Random(self.seed)
        posts = []
        for member in range(self.members):
            at = rng.expovariate(1 / self.member_interval)
            while at < self.chat_seconds:
                posts.append(Post(at, member, False))
                at += rng.expovariate(1 / self.member_interval)
        for raider in self.raider_indices():
            for _ in range(self.per_raider):
                posts.append(Post(rng.uniform(0, self.raid_seconds), raider, True))
        posts.sort(key=lambda p: p.at)
        return posts
