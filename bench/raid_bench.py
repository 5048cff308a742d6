"""A raid on a protected group, played against 1 and 2 GMBot instances on the Bot API
emulator with Telegram's flood limits, beside an ideal and a naive bot modelled on the same
raid (bench/raid_model.py).

    .venv/bin/python bench/raid_bench.py [--runs 1,2,2-kill] [--members 50] [--raiders 200]
        [--per-raider 5] [--raid-seconds 10] [--member-interval 2] [--chat-seconds 15]
        [--kill-after 3] [--settle-timeout 60] [--json out.json] [--report-only] [--keep]

Each run gets a fresh emulator (a process of its own), a PostgreSQL database and a Redis
namespace of its own (dropped and deleted after), and GMBot instances (`python -m gmbot run`,
ENVIRONMENT=production, webhook mode) behind nginx (TLS, least_conn: the scale suite's
configuration, tests/scale/nginx.py), to which the emulator posts every update; it keeps
one update in flight per chat and resends it until answered 2xx, as Telegram does.

1. The world: a supergroup linked to a channel, the bot an administrator of both; `members`
   users in both, `raiders` users in the group only (added silently, as if they had joined
   earlier). An administrator sends `/protect @channel`; every member posts once (the bot
   verifies and caches them); then the emulator's flood limits are switched on.
2. The raid (bench/raid_scenario.py, seeded): members keep chatting, raiders post. A
   raider the bot has muted cannot post any more: the emulator refuses a restricted user's
   message as Telegram does. Run "2-kill" SIGKILLs the second instance `--kill-after`
   seconds into the raid and does not restart it.
3. After the last post, the bench waits until the bot is quiet (no update pending or in
   flight, no Bot API call for `--quiet` seconds) and, should it be quiet earlier, until
   the raid is cleared (every raid message deleted, every raider muted: a quiet bot may be
   waiting for a dead instance's lease), at most `--settle-timeout` seconds; then it reads
   the emulator's message log, request journal and webhook deliveries.

Printed per run: the real bot's figures beside the ideal and naive models', then the
targets with PASS/FAIL. The exit code is 1 when a target failed (0 with --report-only).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import gate_bench as gb
from raid_figures import Check, Figures, Trace, figures, table, targets
from raid_model import Limits, ideal, naive
from raid_scenario import Post, Scenario
from redis.asyncio import Redis

from bot_api_emulator import EmulatorClient, EmulatorError

ROOT = Path(__file__).resolve().parents[1]
# gate_bench's bot: its protect() waits for a reply from that bot id.
TOKEN, BOT_ID, BOT_USERNAME = gb.TOKEN, gb.BOT_ID, gb.BOT_USERNAME
WEBHOOK_PATH = "/webhook"
MUTING_METHODS = ("restrictchatmember", "banchatmember")
DELETING_METHODS = ("deletemessage", "deletemessages")
START_TIMEOUT = 90.0


@dataclass(frozen=True)
class RunPlan:
    name: str
    instances: int
    kill_after: float | None = None

    def describe(self) -> str:
        what = f"{self.instances} instance{'s' if self.instances > 1 else ''}"
        if self.kill_after is not None:
            what += f", the second SIGKILLed {self.kill_after:g}s into the raid"
        return what


def plans(names: list[str], kill_after: float) -> list[RunPlan]:
    known = {
        "1": RunPlan("1", 1),
        "2": RunPlan("2", 2),
        "2-kill": RunPlan("2-kill", 2, kill_after),
    }
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown run(s) {unknown}: choose from {sorted(known)}")
    return [known[n] for n in names]


# ----- the world --------------------------------------------------------------------------------


@dataclass
class Population:
    admin: int
    channel: int
    channel_username: str
    group: int
    members: list[int]
    raiders: list[int]

    def user(self, index: int) -> int:
        if index < len(self.members):
            return self.members[index]
        return self.raiders[index - len(self.members)]


async def _gather_chunked(coroutines: list[Any], size: int = 50) -> list[Any]:
    results: list[Any] = []
    for i in range(0, len(coroutines), size):
        results += await asyncio.gather(*coroutines[i : i + size])
    return results


async def build_population(client: EmulatorClient, scenario: Scenario, tag: str) -> Population:
    admin = await client.create_user("Ada", f"ada_{tag}")
    channel = await client.create_chat(
        "channel", f"News {tag}", username=f"news_{tag}", creator_id=admin.id
    )
    await client.set_member(channel.id, BOT_ID, "administrator")
    group = await client.create_chat(
        "supergroup", f"Raided {tag}", creator_id=admin.id, linked_chat_id=channel.id
    )
    await client.set_member(
        group.id, BOT_ID, "administrator", can_delete_messages=True, can_restrict_members=True
    )
    members = await _gather_chunked(
        [client.create_user(f"Member{i}") for i in range(scenario.members)]
    )
    raiders = await _gather_chunked(
        [client.create_user(f"Raider{i}") for i in range(scenario.raiders)]
    )
    joins = [client.set_member(channel.id, m.id, "member", service=False) for m in members]
    joins += [client.set_member(group.id, u.id, "member", service=False) for u in members + raiders]
    await _gather_chunked(joins)
    assert channel.username is not None
    return Population(
        admin.id,
        channel.id,
        channel.username,
        group.id,
        [m.id for m in members],
        [r.id for r in raiders],
    )


async def warm_up(client: EmulatorClient, population: Population, patience: float) -> None:
    """Every member posts once: the bot verifies them and caches it, as in a group where
    they have chatted before."""
    await client.bulk_messages([population.group], population.members, len(population.members))
    _, settled = await wait_quiet(client, quiet=1.0, patience=patience)
    if not settled:
        raise RuntimeError("the bot was still busy with the warm-up messages")


async def wait_quiet(
    client: EmulatorClient,
    *,
    quiet: float,
    patience: float,
    done: Callable[[], Awaitable[bool]] | None = None,
) -> tuple[float, bool]:
    """Until no update is pending or in flight and no Bot API call came for `quiet`
    seconds, and `done()` (when given) holds; (when it was decided, whether it was quiet)
    after at most `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        stats = await client.stats()
        bot = stats["bots"].get(str(BOT_ID), {})
        last = stats.get("last_request_at") or 0.0
        now = time.time()
        idle = bot.get("pending") == 0 and bot.get("in_flight") == 0 and now - last >= quiet
        if idle and (done is None or await done()):
            return now, True
        if time.monotonic() >= deadline:
            return now, False
        await asyncio.sleep(0.5)


def raid_cleared(client: EmulatorClient, population: Population, t0: float) -> Any:
    """Whether every raid message is gone and every raider restricted or banned: while
    not, a quiet bot may only be waiting (for a dead instance's lease to lapse, say)."""
    raiders = set(population.raiders)

    async def cleared() -> bool:
        log = await client.message_log(population.group)
        if any(m.deleted_at is None and m.sender_id in raiders for m in log if m.posted_at >= t0):
            return False
        members = await client.members(population.group)
        held = sum(
            1
            for m in members
            if m["user"]["id"] in raiders and m["status"] in ("restricted", "kicked")
        )
        return held == len(raiders)

    return cleared


# ----- the raid ---------------------------------------------------------------------------------


@dataclass
class Played:
    refused_raider_posts: int = 0
    refused_member_posts: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latest: float = 0.0  # the most a post went out after its scheduled time


async def play(
    client: EmulatorClient, population: Population, posts: list[Post], t0: float
) -> Played:
    played = Played()

    async def one(n: int, post: Post) -> None:
        delay = t0 + post.at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        played.latest = max(played.latest, time.time() - t0 - post.at)
        text = f"raid {n}: join my channel" if post.raider else f"chat {n}"
        try:
            await client.send_message(population.group, population.user(post.user), text)
        except EmulatorError as error:
            if error.status == 403 and post.raider:
                played.refused_raider_posts += 1
            elif error.status == 403:
                played.refused_member_posts += 1
            else:
                played.errors[f"{error.status} {error.message[:60]}"] += 1

    await asyncio.gather(*(one(n, post) for n, post in enumerate(posts)))
    return played


def _ids(params: dict[str, Any], method: str) -> list[int]:
    if method == "deletemessage":
        return [int(params["message_id"])] if "message_id" in params else []
    ids = params.get("message_ids") or []
    if isinstance(ids, str):
        ids = json.loads(ids)
    return [int(i) for i in ids]


def _mutes(params: dict[str, Any], method: str) -> bool:
    if method == "banchatmember":
        return True
    permissions = params.get("permissions") or {}
    if isinstance(permissions, str):
        permissions = json.loads(permissions)
    return not permissions.get("can_send_messages", False)


async def observe(
    client: EmulatorClient, population: Population, t0: float, end: float, played: Played
) -> Trace:
    raiders, members = set(population.raiders), set(population.members)
    log = [m for m in await client.message_log(population.group) if m.posted_at >= t0]

    def lives(select: Any) -> list[tuple[float, float | None]]:
        return [
            (m.posted_at - t0, None if m.deleted_at is None else m.deleted_at - t0)
            for m in log
            if select(m)
        ]

    requests = [r for r in await client.requests(bot_id=BOT_ID) if r.at >= t0]
    mutes: dict[int, float] = {}
    restricts: Counter[int] = Counter()
    deletions: Counter[int] = Counter()
    for r in requests:
        method = r.method.lower()
        if str(r.params.get("chat_id")) != str(population.group):
            continue
        if method in MUTING_METHODS and r.status != 429:
            user = int(r.params.get("user_id", 0))
            restricts[user] += 1
            if r.status == 200 and user in raiders and _mutes(r.params, method):
                mutes.setdefault(user, r.at - t0)
        elif method in DELETING_METHODS and r.status != 429:
            for message_id in _ids(r.params, method):
                deletions[message_id] += 1
    deliveries = [d for d in await client.webhook_deliveries(bot_id=BOT_ID) if d.at >= t0]
    notes = []
    if played.refused_member_posts:
        notes.append(f"{played.refused_member_posts} member posts refused (a member was muted)")
    if played.errors:
        notes.append(f"posts the emulator refused otherwise: {dict(played.errors)}")
    final = await client.members(population.group)
    restricted = sum(
        1 for m in final if m["status"] in ("restricted", "kicked") and m["user"]["id"] in raiders
    )
    notes.append(f"raiders restricted or banned at the end (chat state): {restricted}")
    notes.append(f"posts went out at most {played.latest * 1000:.0f} ms after their schedule")
    return Trace(
        raid=lives(lambda m: m.sender_id in raiders),
        member=lives(lambda m: m.sender_id in members),
        bot=lives(lambda m: m.from_bot and m.sender_id == BOT_ID),
        mutes=mutes,
        raiders=len(raiders),
        calls=Counter(r.method for r in requests),
        too_many=sum(1 for r in requests if r.status == 429),
        acks=[(d.duration, d.at - t0) for d in deliveries if d.ok],
        waits=[d.waited for d in deliveries if d.ok],
        end=end - t0,
        refused_posts=played.refused_raider_posts,
        duplicate_restricts=sum(n - 1 for u, n in restricts.items() if u in raiders and n > 1),
        duplicate_deletes=sum(n - 1 for n in deletions.values() if n > 1),
        failed_deliveries=sum(1 for d in deliveries if not d.ok),
        notes=notes,
    )


# ----- one run ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    plan: RunPlan
    figures: Figures
    checks: list[Check]


def _settings(pairs: list[str]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        values[name] = value
    return values


async def run_one(plan: RunPlan, args: argparse.Namespace, scenario: Scenario) -> Trace:
    tag = uuid.uuid4().hex[:10]
    database = f"gmbot_raid_{tag}"
    namespace = f"gmbot-raid-{tag}:"
    secret = secrets.token_urlsafe(32)
    workdir = Path(tempfile.mkdtemp(prefix=f"gmbot-raid-{plan.name}-"))
    monitor = await asyncpg.connect(gb.admin_url(args.postgres_url))
    await monitor.execute(f'CREATE DATABASE "{database}"')
    redis = Redis.from_url(args.redis_url)
    children: list[gb.Child] = []
    nginx = _nginx()
    try:
        emu_port = gb.free_port()
        emu_url = f"http://127.0.0.1:{emu_port}"
        emulator_env = gb.child_env()
        instance_ports = [gb.free_port() for _ in range(plan.instances)]
        if nginx is not None:
            public_port = gb.free_port()
            public = f"https://127.0.0.1:{public_port}"
            children.append(_start_nginx(nginx, workdir, public_port, instance_ports))
            emulator_env["SSL_CERT_FILE"] = str(workdir / "tls" / "ca.pem")
        else:
            public = f"http://127.0.0.1:{instance_ports[0]}"
        emulator_args = ["--port", str(emu_port), "--token", f"{TOKEN},{BOT_USERNAME}"]
        for pair in args.emulator_set:
            emulator_args += ["--set", pair]
        emulator = gb.Child(
            "emulator",
            [sys.executable, "-m", "bot_api_emulator", *emulator_args],
            cpu=None,
            env=emulator_env,
            workdir=workdir,
        )
        children.append(emulator)
        await gb.wait_http(f"{emu_url}/_emulator/health", child=emulator)
        instances = []
        for i, port in enumerate(instance_ports):
            name = f"gmbot-{chr(ord('a') + i)}"
            settings = {
                "ENVIRONMENT": "production",
                "BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": emu_url,
                "DATABASE_URL": gb.with_database(args.postgres_url, database, "postgresql+asyncpg"),
                "REDIS_URL": args.redis_url,
                "REDIS_NAMESPACE": namespace,
                "WEBHOOK_URL": public,
                "WEBHOOK_PATH": WEBHOOK_PATH,
                "WEBHOOK_SECRET": secret,
                "HOST": "127.0.0.1",
                "PORT": str(port),
                "INSTANCE_ID": f"raid-{tag}-{name}",
                "LOG_FORMAT": "json",
                "LOG_LEVEL": "WARNING",
            }
            env = gb.child_env(**(settings | _settings(args.instance_env)))
            child = gb.Child(
                name, [sys.executable, "-m", "gmbot", "run"], cpu=None, env=env, workdir=workdir
            )
            children.append(child)
            instances.append((child, port))

        async with EmulatorClient(emu_url) as client:
            for child, port in instances:
                await gb.wait_http(
                    f"http://127.0.0.1:{port}/ready", child=child, patience=START_TIMEOUT
                )

            async def webhook_set() -> bool:
                bot = (await client.stats())["bots"].get(str(BOT_ID), {})
                return bool(bot.get("webhook") == public + WEBHOOK_PATH)

            await gb.poll(webhook_set, "the webhook was not registered", START_TIMEOUT)
            population = await build_population(client, scenario, tag)
            world = gb.World(
                population.admin,
                population.channel,
                population.channel_username,
                [population.group],
                population.members,
            )
            await gb.protect(client, world)
            await warm_up(client, population, patience=60)
            await client.set_rate_limits(True)

            posts = scenario.schedule()
            t0 = time.time() + 0.5  # the tasks are all waiting before the first post is due
            killer = None
            killed: list[float] = []
            if plan.kill_after is not None:
                victim = instances[1][0]

                async def kill() -> None:
                    await asyncio.sleep(t0 + plan.kill_after - time.time())  # type: ignore[operator]
                    victim.proc.send_signal(signal.SIGKILL)
                    killed.append(time.time() - t0)

                killer = asyncio.create_task(kill())
            played = await play(client, population, posts, t0)
            if killer is not None:
                await killer
            end, settled = await wait_quiet(
                client,
                quiet=args.quiet,
                patience=args.settle_timeout,
                done=raid_cleared(client, population, t0),
            )
            trace = await observe(client, population, t0, end, played)
            for at in killed:
                trace.notes.append(f"{instances[1][0].name} SIGKILLed {at:.2f}s into the raid")
            if not settled:
                trace.notes.append(
                    f"{args.settle_timeout:g}s after the last post the bot was still busy or "
                    "the raid not cleared: figures are as of then"
                )
            for child, _ in instances:
                if not child.alive() and child.proc.returncode != -signal.SIGKILL:
                    trace.notes.append(f"{child.name} exited with {child.proc.returncode}")
                errors = sum(1 for line in child.tail(1_000_000).splitlines() if _is_error(line))
                if errors:
                    trace.notes.append(f"{child.name} logged {errors} errors")
            if nginx is not None:
                trace.notes.append(_nginx_share(workdir / "nginx", instances, t0))
            await client.set_rate_limits(False)
            return trace
    except BaseException:
        for child in children:
            print(f"--- {child.name} (last lines) ---\n{child.tail(15)}", file=sys.stderr)
        raise
    finally:
        for child in reversed(children):
            child.stop()
        await monitor.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await monitor.close()
        keys = [key async for key in redis.scan_iter(match=f"{namespace}*", count=5000)]
        for i in range(0, len(keys), 5000):
            await redis.delete(*keys[i : i + 5000])
        await redis.aclose()
        if args.keep:
            print(f"logs of run {plan.name} kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _is_error(line: str) -> bool:
    compact = line.replace(" ", "")
    return '"level":"error"' in compact or '"level":"critical"' in compact


def _nginx_share(prefix: Path, instances: list[tuple[gb.Child, int]], t0: float) -> str:
    """Which instance nginx gave the updates of the raid to (its access log)."""
    names = {f"127.0.0.1:{port}": child.name for child, port in instances}
    served: Counter[str] = Counter()
    passed_on = 0
    for line in (prefix / "access.log").read_text().splitlines():
        # tests/scale/nginx.py's log_format: $msec $status $request_time "$upstream_addr" ...
        match = re.match(r'(\S+) \d+ \S+ "([^"]*)"', line)
        if match is None or float(match.group(1)) < t0:
            continue
        addresses = [a.strip() for a in match.group(2).split(",")]
        # Not an instance's address: nginx found none alive and answered itself.
        served[names.get(addresses[-1], "nginx itself")] += 1
        passed_on += len(addresses) > 1
    share = ", ".join(f"{name} {count}" for name, count in sorted(served.items()))
    return f"nginx, webhook requests since the raid began: {share}; {passed_on} passed on"


def _nginx() -> str | None:
    sys.path.insert(0, str(ROOT))
    from tests.scale.nginx import nginx_binary

    return nginx_binary()


def _start_nginx(binary: str, workdir: Path, port: int, upstreams: list[int]) -> gb.Child:
    """nginx with the scale suite's configuration (TLS, least_conn, next upstream on a
    dead instance), its throw-away CA trusted by the emulator through SSL_CERT_FILE."""
    from tests.scale.certificates import make_certificates
    from tests.scale.nginx import nginx_config

    certificates = make_certificates(workdir / "tls")
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_config(prefix, port, upstreams, certificates))
    return gb.Child(
        "nginx",
        [binary, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
        cpu=None,
        env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        workdir=prefix,
    )


# ----- report -----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", default="1,2,2-kill", help="comma-separated: 1, 2, 2-kill")
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--raiders", type=int, default=200)
    parser.add_argument("--per-raider", type=int, default=5, help="messages each raider posts")
    parser.add_argument("--raid-seconds", type=float, default=10.0, help="raiders post within")
    parser.add_argument(
        "--member-interval", type=float, default=2.0, help="mean seconds between a member's posts"
    )
    parser.add_argument(
        "--chat-seconds",
        type=float,
        default=15.0,
        help="members chat this long from the raid's start",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--kill-after", type=float, default=3.0, help="run 2-kill: seconds into the raid"
    )
    parser.add_argument(
        "--quiet", type=float, default=3.0, help="no Bot API call for this long: done"
    )
    parser.add_argument(
        "--settle-timeout", type=float, default=60.0, help="the most to wait after the last post"
    )
    parser.add_argument(
        "--ideal-delete-every",
        type=float,
        default=0.2,
        help="the ideal bot's deletion batches while restrictions wait (bench/raid_model.py)",
    )
    parser.add_argument(
        "--instance-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="GMBot setting (repeatable)",
    )
    parser.add_argument(
        "--emulator-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="emulator setting (repeatable)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="an admin database; each run creates and drops its own next to it",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument("--json", metavar="PATH", help="write every figure to PATH")
    parser.add_argument(
        "--report-only", action="store_true", help="exit 0 even when a target fails"
    )
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()

    scenario = Scenario(
        members=args.members,
        raiders=args.raiders,
        per_raider=args.per_raider,
        raid_seconds=args.raid_seconds,
        member_interval=args.member_interval,
        chat_seconds=args.chat_seconds,
        seed=args.seed,
    )
    horizon = max(args.raid_seconds, args.chat_seconds) + args.settle_timeout
    emulator_settings = _settings(args.emulator_set)
    defaults = Limits()
    limits = Limits(
        int(emulator_settings.get("rate_global_per_second", defaults.writes_per_second)),
        int(emulator_settings.get("rate_reads_per_second", defaults.reads_per_second)),
        int(emulator_settings.get("rate_group_per_minute", defaults.group_messages_per_minute)),
    )
    ideal_figures = figures(ideal(scenario, horizon, limits, delete_every=args.ideal_delete_every))
    naive_figures = figures(naive(scenario, horizon, limits))
    posts = scenario.schedule()
    print(
        f"raid: {scenario.raiders} raiders x {scenario.per_raider} posts within "
        f"{scenario.raid_seconds:g}s; {scenario.members} members chatting (one post every "
        f"{scenario.member_interval:g}s on average, for {scenario.chat_seconds:g}s); "
        f"{len(posts)} posts scheduled (seed {scenario.seed}); emulator flood limits on"
    )
    results: list[RunResult] = []
    for plan in plans([n.strip() for n in args.runs.split(",") if n.strip()], args.kill_after):
        if plan.instances > 1 and _nginx() is None:
            print(
                f"\nrun {plan.name}: skipped, nginx is not installed (apt-get install nginx-light)"
            )
            continue
        print(f"\nrun {plan.name}: {plan.describe()} ...", flush=True)
        started = time.monotonic()
        trace = asyncio.run(run_one(plan, args, scenario))
        bot = figures(trace)
        checks = targets(bot, ideal_figures)
        results.append(RunResult(plan, bot, checks))
        print(f"run {plan.name} took {time.monotonic() - started:.0f}s\n")
        print(
            table(
                [
                    (f"GMBot, run {plan.name}", bot),
                    ("ideal", ideal_figures),
                    ("naive", naive_figures),
                ]
            )
        )
        for note in bot.notes:
            print(f"note: {note}")
        if naive_figures.notes:
            print(f"note (naive): {'; '.join(naive_figures.notes)}")
        print(f"targets, run {plan.name}:")
        for check in checks:
            print(f"  {'PASS' if check.passed else 'FAIL'} {check.label}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "scenario": dataclasses.asdict(scenario),
                    "ideal": ideal_figures.as_dict(),
                    "naive": naive_figures.as_dict(),
                    "runs": {
                        r.plan.name: {
                            "description": r.plan.describe(),
                            "figures": r.figures.as_dict(),
                            "targets": [{"label": c.label, "passed": c.passed} for c in r.checks],
                        }
                        for r in results
                    },
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    failed = any(not c.passed for r in results for c in r.checks)
    return 0 if args.report_only or not failed else 1


if __name__ == "__main__":
    sys.exit(main())
