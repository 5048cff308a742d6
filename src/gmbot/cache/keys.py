"""Redis key names, in one place.

Every key starts with a namespace so several deployments (or test runs) can share one
server. Prefixes are joined once at construction: building a key on the hot path is
then a single f-string.
"""

from __future__ import annotations

DEFAULT_NAMESPACE = "gmbot:"

# Member of admins:{chat_id} that marks the list as cached even when it has no admin.
ADMINS_CACHED = "-"


class CacheKeys:
    """Key names under one namespace."""

    __slots__ = (
        "_admins",
        "_attempts",
        "_exempt",
        "_group",
        "_job",
        "_outbox",
        "_prompt",
        "_throttle",
        "_update",
        "action_prefix",
        "leader",
        "namespace",
        "outbox_due",
        "outbox_later",
        "prompt_due",
        "verify_prefix",
        "webhook_hash",
        "webhook_lock",
    )

    def __init__(self, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.namespace = namespace
        self._group = f"{namespace}grp:"
        self._exempt = f"{namespace}exempt:"
        self._admins = f"{namespace}admins:"
        self._prompt = f"{namespace}prompt:"
        self._throttle = f"{namespace}throttle:"
        # The gate script appends "{user_id}:{channel_id}" to this itself.
        self.verify_prefix = f"{namespace}verify:"
        self.prompt_due = f"{namespace}prompt_due"
        self._update = f"{namespace}update:"
        self._attempts = f"{namespace}update_attempts:"
        self.leader = f"{namespace}leader:polling"
        self._job = f"{namespace}job:"
        self.webhook_hash = f"{namespace}webhook:config"
        self.webhook_lock = f"{namespace}webhook:lock"
        self._outbox = f"{namespace}outbox:"
        # The outbox's take script appends an entry's key to this itself.
        self.action_prefix = f"{namespace}act:"
        # Entries put back after a transient failure wait in this stream, each id in the
        # sorted set at its due time (ms), until a take moves them to their own stream.
        self.outbox_later = f"{namespace}outbox:later"
        self.outbox_due = f"{namespace}outbox:due"

    def group(self, chat_id: int) -> str:
        """Hash: on ("1"/"0"), ch (comma-separated channel ids), full (JSON)."""
        return f"{self._group}{chat_id}"

    def exempt(self, chat_id: int) -> str:
        """Set of exempt user ids."""
        return f"{self._exempt}{chat_id}"

    def admins(self, chat_id: int) -> str:
        """Set of admin user ids plus the ADMINS_CACHED marker."""
        return f"{self._admins}{chat_id}"

    def verify(self, user_id: int, channel_id: int) -> str:
        """String: "1" joined, "0" not joined."""
        return f"{self.verify_prefix}{user_id}:{channel_id}"

    def prompt(self, chat_id: int, user_id: int) -> str:
        """String: "pending", then the prompt's message id."""
        return f"{self._prompt}{chat_id}:{user_id}"

    def throttle(self, key: str) -> str:
        return f"{self._throttle}{key}"

    def update(self, update_id: int) -> str:
        """String: a lease token while an instance handles the update, then "done"."""
        return f"{self._update}{update_id}"

    def attempts(self, update_id: int) -> str:
        """Counter of handling attempts, to recognise a poison update."""
        return f"{self._attempts}{update_id}"

    def outbox(self, priority: int) -> str:
        """Stream of the outbox entries of one priority class."""
        return f"{self._outbox}{priority}"

    @property
    def outbox_prefix(self) -> str:
        """The take script appends a priority to this to name its stream."""
        return self._outbox

    def job_lock(self, name: str) -> str:
        """String: the token of the instance running job `name`'s sweep."""
        return f"{self._job}{name}"

    def action(self, key: str) -> str:
        """String: "1" once an action is recorded, "done" once it is carried out."""
        return f"{self.action_prefix}{key}"
