"""Prometheus metrics of one instance, in a registry of its own.

Every series carries `instance_id` (from INSTANCE_ID) besides the `instance` label
Prometheus adds per scrape target, so dashboards can group by either.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

GaugeSource = Callable[[], dict[str, int]]
# Label values of bot_verifications{result} and bot_cache_lookups{cache}.
VerificationResult = Literal["member", "not_member", "unknown", "verified", "button_missing"]
CacheName = Literal["group", "admins", "verify"]
# Label values of bot_mutes_reconciled{outcome}: what the mute reconciler did with a record.
ReconcileOutcome = Literal[
    "confirmed",  # an intent Telegram had applied: now active
    "completed",  # an intent Telegram had not applied: restricted now, active
    "dropped",  # an intent with nothing to mute (member left, admin, group gone)
    "released",  # an active record Telegram holds no restriction for: forgotten
    "checked",  # an active record Telegram agrees with
    "skipped",  # Telegram could not tell now: looked at again later
]
ActionOutcome = Literal["done", "refused", "retry", "given_up", "fenced"]


class Metrics:
    def __init__(self, instance_id: str) -> None:
        self.instance_id = instance_id
        self.registry = CollectorRegistry(auto_describe=True)
        r, i = self.registry, ["instance_id"]
        self.updates = Counter(
            "bot_updates",
            "Updates handled, by type and outcome",
            [*i, "type", "outcome"],
            registry=r,
        )
        self.update_latency = Histogram(
            "bot_update_duration_seconds",
            "Time to handle one update",
            [*i, "type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.verifications = Counter(
            "bot_verifications", "Membership decisions by result", [*i, "result"], registry=r
        )
        self.duplicates = Counter(
            "bot_duplicate_updates", "Re-deliveries of an update already claimed", i, registry=r
        )
        self.poison = Counter(
            "bot_poison_updates",
            "Updates acknowledged after failing every attempt",
            i,
            registry=r,
        )
        self.cache = Counter(
            "bot_cache_lookups",
            "Cache look-ups by cache and result",
            [*i, "cache", "result"],
            registry=r,
        )
        self.api_calls = Counter(
            "bot_api_calls", "Bot API calls by method", [*i, "method"], registry=r
        )
        self.api_errors = Counter(
            "bot_api_errors",
            "Bot API errors by method and kind",
            [*i, "method", "error"],
            registry=r,
        )
        self.api_429 = Counter(
            "bot_api_retry_after",
            "429 answers (retry_after) by method",
            [*i, "method"],
            registry=r,
        )
        self.fail_open = Counter(
            "bot_fail_open",
            "Messages let through because membership was unknown",
            i,
            registry=r,
        )
        self.actions = Counter("bot_gate_actions", "Gate actions taken", [*i, "action"], registry=r)
        self.outbox = Counter(
            "bot_outbox_actions",
            "Outbox actions by kind and outcome (done, refused, retry, given_up, fenced)",
            [*i, "kind", "outcome"],
            registry=r,
        )
        self.refusals = Counter(
            "bot_action_refusals",
            "Actions Telegram refused for good, by kind and reason",
            [*i, "kind", "reason"],
            registry=r,
        )
        self.raids = Counter("bot_raids", "Raids started and ended", [*i, "event"], registry=r)
        self.verify_timeouts = Counter(
            "bot_verify_timeouts",
            "Verification timeouts that fired, by what they found (removed, verified, ...)",
            [*i, "outcome"],
            registry=r,
        )
        self.dry_runs = Counter(
            "bot_dry_run",
            "Gate decisions a dry run recorded instead of acting, by the action it would take",
            [*i, "would"],
            registry=r,
        )
        self.reconciled = Counter(
            "bot_mutes_reconciled",
            "Mute records the reconciler compared with Telegram, by outcome",
            [*i, "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "bot_leader", "1 while this instance holds the polling leader lease", i, registry=r
        )
        self.webhook_inflight = Gauge(
            "bot_webhook_requests_in_flight", "Webhook requests being handled", i, registry=r
        )
        self.dependency_degraded = Gauge(
            "bot_dependency_degraded",
            "1 while updates are refused until Redis and the database pass readiness",
            i,
            registry=r,
        )
        self.dependency_refusals = Counter(
            "bot_dependency_refusals",
            "Updates answered 503 because a dependency was unreachable, by dependency",
            [*i, "dependency"],
            registry=r,
        )
        self._sources: dict[str, tuple[str, GaugeSource]] = {}
        # labels() takes a lock and builds a key on every call: hot paths reuse children.
        self._update_children: dict[tuple[str, str], Any] = {}
        self._latency_children: dict[str, Any] = {}
        self._children: dict[tuple[Counter, tuple[str, ...]], Counter] = {}
        self.registry.register(_SourceCollector(self))

    def gauge_source(self, name: str, doc: str, source: GaugeSource) -> None:
        """Expose `source()`'s {label: value} as gauge `name{kind=label}` at scrape time."""
        self._sources[name] = (doc, source)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    # Shortcuts used on hot paths; labels() is a cached dict lookup.
    def count_update(self, kind: str, outcome: str) -> None:
        child = self._update_children.get((kind, outcome))
        if child is None:
            child = self.updates.labels(self.instance_id, kind, outcome)
            self._update_children[(kind, outcome)] = child
        child.inc()

    def observe_latency(self, kind: str, seconds: float) -> None:
        child = self._latency_children.get(kind)
        if child is None:
            child = self._latency_children[kind] = self.update_latency.labels(
                self.instance_id, kind
            )
        child.observe(seconds)

    # What the services count, one method per event: the services never see the
    # Prometheus client, and each series' labels are spelled in one place.
    def membership_decided(self, result: VerificationResult) -> None:
        self._child(self.verifications, result).inc()

    def cache_looked_up(self, cache: CacheName, hit: bool) -> None:
        self._child(self.cache, cache, "hit" if hit else "miss").inc()

    def message_deleted(self, count: int = 1) -> None:
        self._child(self.actions, "delete").inc(count)

    def user_muted(self) -> None:
        self._child(self.actions, "mute").inc()

    def users_unmuted(self, count: int = 1) -> None:
        self._child(self.actions, "unmute").inc(count)

    def user_removed(self, how: Literal["kick", "ban"]) -> None:
        self._child(self.actions, how).inc()

    def user_warned(self) -> None:
        self._child(self.actions, "warn").inc()

    def dry_run_recorded(self, would: str) -> None:
        """`would`: a GateAction's value (a fixed set of labels)."""
        self._child(self.dry_runs, would).inc()

    def verify_timeout(self, outcome: str) -> None:
        """`outcome`: a verify_timeout.TimeoutOutcome's value (a fixed set of labels)."""
        self._child(self.verify_timeouts, outcome).inc()

    def failed_open(self) -> None:
        self._child(self.fail_open).inc()

    def action_done(self, kind: str, outcome: ActionOutcome, count: int = 1) -> None:
        self._child(self.outbox, kind, outcome).inc(count)

    def action_refused(self, kind: str, reason: str, count: int = 1) -> None:
        self._child(self.refusals, kind, reason).inc(count)

    def mute_reconciled(self, outcome: ReconcileOutcome) -> None:
        self._child(self.reconciled, outcome).inc()

    def dependency_refused(self, dependency: str) -> None:
        self._child(self.dependency_refusals, dependency).inc()

    def raid_started(self) -> None:
        self._child(self.raids, "started").inc()

    def raid_ended(self) -> None:
        self._child(self.raids, "ended").inc()

    def _child(self, metric: Counter, *labels: str) -> Counter:
        """`metric`'s child for this instance and `labels`, bound once."""
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(self.instance_id, *labels)
        return child


class _SourceCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (doc, source) in list(self._metrics._sources.items()):
            family = GaugeMetricFamily(name, doc, labels=["instance_id", "kind"])
            try:
                values = source()
            except Exception:  # a scrape must never fail because one source did
                continue
            for kind, value in values.items():
                family.add_metric([self._metrics.instance_id, kind], value)
            yield family

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []
