"""What the gate answers, and which cached lookups settle a message on their own.

SETTLED is the one definition of "a lookup that needs no further work": the gate
service returns its verdict directly, and the claim-and-lookup script
(cache/gate_claims.py) marks such an update done in the same round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from gmbot.domain.ports import GateState


class Verdict(StrEnum):
    IGNORED = "ignored"  # not a protected group
    PASSED = "passed"
    FAIL_OPEN = "fail_open"  # membership unknown, let through
    REMOVED = "removed"  # removal (and mute, per the group's action) recorded
    QUEUED = "queued"  # a worker looks the sender up, then decides
    CHANNEL_POST_REMOVED = "channel_post_removed"
    DRY_RUN = "dry_run"  # dry run: what would be done recorded, nothing done


# The other states need a load (GROUP_UNKNOWN, ADMINS_UNKNOWN) or a membership
# check (CHECK) before the gate can decide.
SETTLED: Mapping[GateState, Verdict] = {
    GateState.UNPROTECTED: Verdict.IGNORED,
    GateState.ADMIN: Verdict.PASSED,
    GateState.EXEMPT: Verdict.PASSED,
    GateState.VERIFIED: Verdict.PASSED,
}
