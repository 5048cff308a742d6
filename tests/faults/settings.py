"""How the fault suite's instances are configured: the scale suite's settings, with the
leases, retries and timeouts shortened so that a fault and the recovery from it fit in
a few seconds (and so that "stopped past its lease" takes seconds, not minutes).
"""

from __future__ import annotations

from tests.scale.settings import INSTANCE_SETTINGS

INSTANCES = 3

UPDATE_LEASE = 3.0  # an update's claim lapses this long after its holder went silent
OUTBOX_CLAIM_AFTER = 3.0  # a silent consumer's outbox entries move after this long
BODY_TIMEOUT = 2.0  # a webhook body slower than this is cut off (408)
# The gateway's Bot API call timeout (TELEGRAM_TIMEOUT), shortened: a "hang" outlasts it.
CALL_TIMEOUT = 3.0
RECONCILE_AFTER = 15.0

FAULT_SETTINGS = {
    **INSTANCE_SETTINGS,
    "UPDATE_LEASE": str(UPDATE_LEASE),
    "OUTBOX_CLAIM_AFTER": str(OUTBOX_CLAIM_AFTER),
    "OUTBOX_RETRY_BASE": "0.2",
    "OUTBOX_RETRY_CAP": "2",
    # The mute reconciler completes an intent left unconfirmed this long: longer than a live
    # instance may spend on one restrictChatMember (a hung call, CALL_TIMEOUT, and a retry).
    "RECONCILE_INTERVAL": "1",
    "RECONCILE_AFTER": str(RECONCILE_AFTER),
    "DEPENDENCY_RECHECK": "0.5",
    "BODY_TIMEOUT": str(BODY_TIMEOUT),
    "TELEGRAM_TIMEOUT": str(CALL_TIMEOUT),
    "REQUEST_BUDGET": "10",
    "LEADER_LEASE": "2",
}

# Gated members are prompted one by one (raid mode off): each prompt is then a piece of
# work of its own that the suite can follow.
RAID_MODE = "off"
