"""Where an instance's CPU time goes, from py-spy's raw (collapsed stack) output.

    py-spy record --pid PID --format raw --output stacks.txt --nonblocking --duration 10
    python bench/profile_summary.py stacks.txt [--rps 1234]

Each line of the input is `frame;frame;...;leaf COUNT`, a frame `function (file:line)`.
Printed: the share of samples by component of the leaf frame (self time: in which
library the CPU was), by stage of the webhook request (inclusive: which step it was in),
and the top functions by self time. With --rps (the server's core being saturated), the
shares are also given as microseconds of CPU per request.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

# Leaf frame's file -> component (first match wins).
COMPONENTS: list[tuple[str, str]] = [
    ("uvloop/", "event loop: uvloop C code, socket I/O"),
    ("asyncio/", "asyncio (tasks, timeouts, futures)"),
    ("aiohttp/", "aiohttp (HTTP server, request, response)"),
    ("multidict/", "aiohttp (HTTP server, request, response)"),
    ("yarl/", "aiohttp (HTTP server, request, response)"),
    ("json/", "json (stdlib) encode/decode"),
    ("pydantic_core/", "pydantic (validation, serialization)"),
    ("pydantic/", "pydantic (validation, serialization)"),
    ("aiogram/", "aiogram (dispatcher, routers, filters, types)"),
    ("magic_filter/", "aiogram (dispatcher, routers, filters, types)"),
    ("redis/", "redis-py client (commands, pool, parser)"),
    ("hiredis/", "redis-py client (commands, pool, parser)"),
    ("structlog/", "structlog"),
    ("prometheus_client/", "prometheus_client"),
    ("gmbot/", "gmbot's own code"),
    ("contextvars", "stdlib: other"),
]

Frames = list[str]

# Request steps, innermost first: a sample belongs to the first step (from the leaf
# up) one of whose markers appears in a frame, e.g. a structlog call made by the
# middleware counts for the middleware. Markers are substrings of py-spy frames.
STAGES: list[tuple[str, tuple[str, ...]]] = [
    (
        "thread pool: aiogram runs sync filters via asyncio.to_thread",
        (
            "to_thread (asyncio/threads.py",
            "(concurrent/futures/",
            "Thread._bootstrap",
            "_chain_future",
            "_copy_future_state",
            "_call_check_cancel",
            "(threading.py",
        ),
    ),
    ("RedisGateCache.lookup (gate: 1 EVALSHA)", ("RedisGateCache.lookup",)),
    ("RedisUpdateClaims.claim (1 EVALSHA)", ("RedisUpdateClaims.claim",)),
    ("RedisUpdateClaims.finish (1 EVALSHA)", ("RedisUpdateClaims.finish",)),
    (
        "GateService.on_message and translate (python)",
        ("GateService.on_message", "(gmbot/bot/translate.py", "(gmbot/bot/routers/messages.py"),
    ),
    (
        "aiogram filters (magic F, Command)",
        ("FilterObject", "HandlerObject.check", "(magic_filter/", "Command."),
    ),
    ("UpdateContextMiddleware (log context, metrics)", ("UpdateContextMiddleware",)),
    (
        "aiogram dispatch (routers, observers, its middlewares)",
        ("(aiogram/dispatcher/", "Dispatcher."),
    ),
    ("UpdateGuard (admit/run: lease timer, ticket)", ("UpdateGuard.",)),
    ("Update.model_validate (pydantic)", ("model_validate (pydantic/",)),
    ("aiogram types (Update.event, properties)", ("(aiogram/types/", "(aiogram/client/")),
    (
        "WebhookHandler (read, json.loads, timeout, response)",
        ("WebhookHandler.", "_chat_id (gmbot/web/"),
    ),
    ("redis-py (step not in the sampled stack)", ("(redis/",)),
    ("aiohttp server (parse request, write response)", ("(aiohttp/",)),
    ("event loop (uvloop: I/O, callbacks, scheduling)", ("Runner.run (asyncio/", "(uvloop/")),
]


def stage(frames: Frames) -> str:
    for frame in reversed(frames):
        for label, markers in STAGES:
            if any(m in frame for m in markers):
                return label
    return "other"


def parse(text: str) -> list[tuple[Frames, int]]:
    samples = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples.append((stack.split(";"), int(count)))
    return samples


def _split(frame: str) -> tuple[str, str]:
    match = _FRAME.match(frame)
    if not match:
        return frame, ""
    return match.group("func"), match.group("file")


def component(leaf: str) -> str:
    _func, file = _split(leaf)
    for prefix, name in COMPONENTS:
        if file.startswith(prefix) or f"/{prefix}" in file:
            return name
    return "stdlib / other" if file else "native / unknown"


def summarize(text: str, *, rps: float | None = None, top: int = 15) -> str:
    samples = parse(text)
    total = sum(n for _, n in samples)
    if not total:
        return "profile: no samples"
    per_request = 1e6 / rps if rps else None

    def row(label: str, n: int) -> str:
        share = 100.0 * n / total
        cost = f"{share * per_request / 100:8.0f} us" if per_request else ""
        return f"  {label:58}{share:6.1f}%{cost}"

    lines = [
        f"profile: {total} samples of the instance's CPU under load"
        + (
            f", {rps:,.0f} requests/s => about {per_request:.0f} us of CPU per request"
            if per_request
            else ""
        ),
        "by component (self time: where the CPU was)",
    ]
    by_component: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    for frames, n in samples:
        by_component[component(frames[-1])] += n
        func, file = _split(frames[-1])
        by_function[f"{func} ({file})"] += n
    lines += [row(name, n) for name, n in by_component.most_common()]
    lines.append("by step of the request (innermost step in the sampled stack)")
    by_stage: Counter[str] = Counter()
    for frames, n in samples:
        by_stage[stage(frames)] += n
    lines += [row(name, n) for name, n in by_stage.most_common()]
    lines.append(f"top {top} functions by self time")
    lines += [row(name[:58], n) for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--rps", type=float, help="requests/s during the sampling")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarize(args.stacks.read_text(), rps=args.rps, top=args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
