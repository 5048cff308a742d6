"""What a raid left behind (a Trace), the figures it comes to, and the targets.

The real bot's Trace is read from the emulator (bench/raid_bench.py); the ideal and naive
bots' Traces come from bench/raid_model.py. Times are seconds from the raid's start.
A message still visible at the end of the observation counts as exposed until then, so a
bot that leaves messages behind gets exposure figures that are lower bounds (marked "≥").
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

Life = tuple[float, float | None]  # (posted, deleted or None)


@dataclass
class Trace:
    raid: list[Life]  # the raiders' messages that were posted
    member: list[Life]
    bot: list[Life]  # the bot's messages in the group, sent after the raid started
    mutes: dict[int, float]  # raider -> when first muted (restricted or banned)
    raiders: int
    calls: Counter[str]  # method -> calls, 429s included
    too_many: int  # calls answered 429
    acks: list[tuple[float, float]]  # (answer latency, answered at) per 2xx delivery
    end: float  # when the observation ended
    waits: list[float] = field(default_factory=list)  # per 2xx delivery: queued before it
    refused_posts: int = 0  # raiders' posts refused because they were muted
    duplicate_restricts: int = 0  # restrict/ban calls beyond one per raider (429s aside)
    duplicate_deletes: int = 0  # deletion requests naming a message again (429s aside)
    failed_deliveries: int = 0  # webhook attempts not answered 2xx
    notes: list[str] = field(default_factory=list)


@dataclass
class Figures:
    raid_messages: int
    refused_posts: int
    exposure_p50: float
    exposure_p95: float
    exposure_max: float
    exposure_censored: bool  # some message was still visible: exposures are lower bounds
    never_removed: int
    raiders: int
    raiders_muted: int
    last_mute: float | None
    raiders_never_muted: int
    calls: dict[str, int]
    calls_total: int
    too_many: int
    bot_sent: int
    bot_visible_end: int
    bot_peak_visible: int
    member_messages: int
    members_removed: int
    ack_p50: float | None
    ack_p99: float | None
    last_ack: float | None
    wait_p50: float | None
    wait_p99: float | None
    failed_deliveries: int
    duplicate_restricts: int
    duplicate_deletes: int
    observed_until: float
    notes: list[str]

    @property
    def too_many_share(self) -> float:
        return self.too_many / self.calls_total if self.calls_total else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"too_many_share": self.too_many_share}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def peak_visible(lives: list[Life]) -> int:
    events = []
    for posted, deleted in lives:
        events.append((posted, 1))
        if deleted is not None:
            events.append((deleted, -1))
    # A deletion at the very moment of a send is counted first: they did not overlap.
    events.sort(key=lambda e: (e[0], e[1]))
    peak = current = 0
    for _, step in events:
        current += step
        peak = max(peak, current)
    return peak


def figures(trace: Trace) -> Figures:
    exposures = [(d if d is not None else trace.end) - p for p, d in trace.raid]
    never = sum(1 for _, d in trace.raid if d is None)
    mutes = sorted(trace.mutes.values())
    latencies = [latency for latency, _ in trace.acks]
    return Figures(
        raid_messages=len(trace.raid),
        refused_posts=trace.refused_posts,
        exposure_p50=percentile(exposures, 50) if exposures else 0.0,
        exposure_p95=percentile(exposures, 95) if exposures else 0.0,
        exposure_max=max(exposures, default=0.0),
        exposure_censored=never > 0,
        never_removed=never,
        raiders=trace.raiders,
        raiders_muted=len(mutes),
        last_mute=mutes[-1] if mutes else None,
        raiders_never_muted=trace.raiders - len(mutes),
        calls=dict(sorted(trace.calls.items())),
        calls_total=sum(trace.calls.values()),
        too_many=trace.too_many,
        bot_sent=len(trace.bot),
        bot_visible_end=sum(1 for _, d in trace.bot if d is None),
        bot_peak_visible=peak_visible(trace.bot),
        member_messages=len(trace.member),
        members_removed=sum(1 for _, d in trace.member if d is not None),
        ack_p50=percentile(latencies, 50) if latencies else None,
        ack_p99=percentile(latencies, 99) if latencies else None,
        last_ack=max((at for _, at in trace.acks), default=None),
        wait_p50=percentile(trace.waits, 50) if trace.waits else None,
        wait_p99=percentile(trace.waits, 99) if trace.waits else None,
        failed_deliveries=trace.failed_deliveries,
        duplicate_restricts=trace.duplicate_restricts,
        duplicate_deletes=trace.duplicate_deletes,
        observed_until=trace.end,
        notes=list(trace.notes),
    )


# ----- targets ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    label: str
    passed: bool


def targets(bot: Figures, ideal: Figures) -> list[Check]:
    p95_limit = 2 * ideal.exposure_p95
    mute_limit = 2 * ideal.last_mute if ideal.last_mute is not None else 0.0
    calls_limit = 1.3 * ideal.calls_total
    muted_in_time = (
        bot.raiders_never_muted == 0 and bot.last_mute is not None and bot.last_mute <= mute_limit
    )
    return [
        Check(f"every raid message removed ({bot.never_removed} left)", bot.never_removed == 0),
        Check(
            f"p95 exposure {_s(bot.exposure_p95, bot.exposure_censored)} <= 2x ideal "
            f"({p95_limit:.2f}s) and max {_s(bot.exposure_max, bot.exposure_censored)} < 5s",
            bot.exposure_p95 <= p95_limit and bot.exposure_max < 5.0 and not bot.exposure_censored,
        ),
        Check(
            f"every raider muted ({bot.raiders_never_muted} not) within 2x ideal "
            f"({_s(bot.last_mute)} <= {mute_limit:.2f}s)",
            muted_in_time,
        ),
        Check(
            f"429 answers {bot.too_many_share:.1%} of calls < 1%",
            bot.too_many_share < 0.01,
        ),
        Check(
            f"<= 2 bot messages visible at once (peak {bot.bot_peak_visible})",
            bot.bot_peak_visible <= 2,
        ),
        Check(f"no member message removed ({bot.members_removed})", bot.members_removed == 0),
        Check(
            f"p99 webhook ack {_ms(bot.ack_p99)} < 100 ms",
            bot.ack_p99 is not None and bot.ack_p99 < 0.1,
        ),
        Check(
            f"Bot API calls {bot.calls_total} <= 1.3x ideal ({calls_limit:.0f})",
            bot.calls_total <= calls_limit,
        ),
    ]


# ----- printing ---------------------------------------------------------------------------------


def _s(value: float | None, censored: bool = False) -> str:
    if value is None:
        return "-"
    return f"{'≥' if censored else ''}{value:.2f}s"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.1f} ms" if value < 10 else f"{value:.1f}s"


def _n(value: int) -> str:
    return f"{value:,}"


def rows(f: Figures) -> list[tuple[str, str]]:
    """(label, value) lines of one bot's figures, the same labels for every bot."""
    calls = ", ".join(f"{method} {count}" for method, count in f.calls.items()) or "none"
    return [
        ("raid messages posted (refused: muted)", f"{_n(f.raid_messages)} ({_n(f.refused_posts)})"),
        ("exposure p50 / p95 / max", " / ".join(
            _s(v, f.exposure_censored) for v in (f.exposure_p50, f.exposure_p95, f.exposure_max)
        )),
        ("raid messages never removed", _n(f.never_removed)),
        ("raiders muted / never muted", f"{f.raiders_muted} / {f.raiders_never_muted}"),
        ("last raider muted (from raid start)", _s(f.last_mute)),
        ("Bot API calls (total)", _n(f.calls_total)),
        ("  by method", calls),
        ("429 answers", f"{_n(f.too_many)} ({f.too_many_share:.1%})"),
        ("bot messages sent / visible at end / peak", (
            f"{f.bot_sent} / {f.bot_visible_end} / {f.bot_peak_visible}"
        )),
        ("member messages (removed)", f"{_n(f.member_messages)} ({f.members_removed})"),
        ("webhook ack p50 / p99", f"{_ms(f.ack_p50)} / {_ms(f.ack_p99)}"),
        ("last update acknowledged (from raid start)", _s(f.last_ack)),
        ("update queued before its delivery p50 / p99", f"{_ms(f.wait_p50)} / {_ms(f.wait_p99)}"),
        ("failed webhook attempts", _n(f.failed_deliveries)),
        ("done twice: restricts / deletions", f"{f.duplicate_restricts} / {f.duplicate_deletes}"),
        ("observed until (from raid start)", _s(f.observed_until)),
    ]  # fmt: skip


def table(columns: list[tuple[str, Figures]]) -> str:
    """The figures of several bots side by side."""
    labelled = [rows(f) for _, f in columns]
    by_method = next(i for i, (label, _) in enumerate(labelled[0]) if label == "  by method")
    label_width = max(len(label) for label, _ in labelled[0])
    value_widths = [
        max(len(name), *(len(v) for j, (_, v) in enumerate(r) if j != by_method))
        for (name, _), r in zip(columns, labelled, strict=True)
    ]
    header = " " * label_width + "".join(
        f"  {name:<{w}}" for (name, _), w in zip(columns, value_widths, strict=True)
    )
    lines = [header]
    for i, (label, _) in enumerate(labelled[0]):
        if i == by_method:
            continue  # too wide for a column: printed under the table
        values = "".join(f"  {r[i][1]:<{w}}" for r, w in zip(labelled, value_widths, strict=True))
        lines.append(f"{label:<{label_width}}{values}")
    for (name, _), r in zip(columns, labelled, strict=True):
        lines.append(f"calls by method, {name}: {r[by_method][1]}")
    return "\n".join(lines)
