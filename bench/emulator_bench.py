"""Throughput of the Telegram emulator, in one run:

1. a trivial webhook receiver (separate process) and its capacity measured with wrk;
2. the emulator (separate process) delivering N updates spread over many chats by webhook
   to that receiver;
3. the emulator answering getChatMember under concurrent load from a plain aiohttp client
   (and from wrk, for its raw capacity).

    .venv/bin/python bench/emulator_bench.py [--updates 50000] [--chats 500] [--calls 50000]

Processes are pinned to different cores where the machine has two or more.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
TOKEN = "777000111:BenchSecretToken_abcdefghijklmnopqrstu"
SAMPLE_UPDATE = {
    "update_id": 1,
    "message": {
        "message_id": 1,
        "from": {"id": 100000001, "is_bot": False, "first_name": "Alice"},
        "date": 1700000000,
        "chat": {"id": -1001000000001, "type": "supergroup", "title": "Room 0"},
        "text": "hello",
    },
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cores() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def pinned(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def start(args: list[str], cpu: int | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *args], preexec_fn=pinned(cpu), stdout=subprocess.DEVNULL
    )


async def wait_http(url: str, patience: float = 20.0) -> None:
    deadline = time.monotonic() + patience
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


def run_wrk(url: str, cpu: int | None, connections: int, seconds: int, script: str | None) -> float:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if script:
        command[1:1] = ["-s", script]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command] if shutil.which("taskset") else command
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(match.group(1)) if match else 0.0


async def control(
    session: aiohttp.ClientSession,
    base: str,
    method: str,
    path: str,
    payload: dict[str, Any] | None = None,
) -> Any:
    async with session.request(method, f"{base}/_emulator{path}", json=payload) as response:
        data = await response.json()
        if response.status >= 400:
            raise RuntimeError(f"{path}: {data}")
        return data


async def build_world(
    session: aiohttp.ClientSession, base: str, chats: int
) -> tuple[int, list[int]]:
    user = await control(session, base, "POST", "/users", {"first_name": "Alice"})
    bot_id = int(TOKEN.split(":")[0])
    chat_ids = []
    for i in range(chats):
        chat = await control(
            session, base, "POST", "/chats", {"type": "supergroup", "title": f"Room {i}"}
        )
        for user_id, status in ((bot_id, "administrator"), (user["id"], "member")):
            await control(
                session,
                base,
                "PUT",
                f"/chats/{chat['id']}/members/{user_id}",
                {"status": status, "service": False},
            )
        chat_ids.append(chat["id"])
    return user["id"], chat_ids


async def webhook_phase(
    base: str, receiver: str, updates: int, chat_ids: list[int], user_id: int
) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/bot{TOKEN}/setWebhook",
            json={"url": f"{receiver}/hook", "drop_pending_updates": True},
        ) as r:
            assert (await r.json())["ok"]
        await control(session, base, "POST", "/delivery/pause")
        injected = await control(
            session,
            base,
            "POST",
            "/bulk/messages",
            {"chat_ids": chat_ids, "user_ids": [user_id], "count": updates},
        )
        async with session.post(f"{receiver}/reset") as r:
            await r.read()
        started = time.perf_counter()
        await control(session, base, "POST", "/delivery/resume")
        while True:
            stats = await control(session, base, "GET", "/stats")
            bot = next(iter(stats["bots"].values()))
            if bot["pending"] == 0 and bot["in_flight"] == 0:
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        async with session.get(f"{receiver}/count") as r:
            received = (await r.json())["count"]
        async with session.post(f"{base}/bot{TOKEN}/deleteWebhook") as r:
            await r.read()
    return {
        "updates_per_s": updates / elapsed,
        "seconds": elapsed,
        "received": received,
        "injected_per_s": updates / injected["seconds"],
    }


async def get_chat_member_phase(
    base: str, calls: int, concurrency: int, chat_ids: list[int], user_id: int
) -> dict[str, float]:
    url = f"{base}/bot{TOKEN}/getChatMember"
    connector = aiohttp.TCPConnector(limit=concurrency)
    failures = 0
    next_call = 0
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            nonlocal failures, next_call
            while next_call < calls:
                i = next_call
                next_call += 1
                body = {"chat_id": chat_ids[i % len(chat_ids)], "user_id": user_id}
                async with session.post(url, json=body) as response:
                    await response.read()
                    failures += response.status != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"calls_per_s": calls / elapsed, "seconds": elapsed, "failures": failures}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=50_000)
    parser.add_argument("--chats", type=int, default=500)
    parser.add_argument("--calls", type=int, default=50_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument("--spec", help="api.json: run the emulator with parameter checking")
    args = parser.parse_args()

    cpus = cores()
    emu_cpu, other_cpu = (cpus[0], cpus[1]) if len(cpus) >= 2 else (None, None)
    if other_cpu is not None:
        os.sched_setaffinity(0, {other_cpu})  # this process generates load beside the receiver
    has_wrk = shutil.which("wrk") is not None
    receiver_port, emu_port = free_port(), free_port()
    receiver_url, emu_url = f"http://127.0.0.1:{receiver_port}", f"http://127.0.0.1:{emu_port}"
    receiver = start([str(HERE / "webhook_receiver.py"), str(receiver_port)], other_cpu)
    emulator_args = ["-m", "bot_api_emulator", "--port", str(emu_port)]
    emulator_args += ["--token", f"{TOKEN},bench_load_bot"]
    if args.spec:
        emulator_args += ["--spec", args.spec]
    emulator = start(emulator_args, emu_cpu)
    figures: dict[str, Any] = {"cpus": len(cpus)}
    try:
        await wait_http(f"{receiver_url}/count")
        await wait_http(f"{emu_url}/_emulator/health")
        if has_wrk:
            with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
                body = json.dumps(SAMPLE_UPDATE).replace("'", "\\'")
                script.write(
                    f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
                    "wrk.headers['Content-Type'] = 'application/json'\n"
                )
            figures["receiver_wrk_rps"] = run_wrk(
                f"{receiver_url}/hook", emu_cpu, 40, args.wrk_seconds, script.name
            )
            os.unlink(script.name)
        else:
            print("wrk not found (apt-get install wrk): skipping the receiver capacity figure")
        async with aiohttp.ClientSession() as session:
            user_id, chat_ids = await build_world(session, emu_url, args.chats)
        figures["webhook"] = await webhook_phase(
            emu_url, receiver_url, args.updates, chat_ids, user_id
        )
        receiver.terminate()
        figures["get_chat_member"] = await get_chat_member_phase(
            emu_url, args.calls, args.concurrency, chat_ids, user_id
        )
        if has_wrk:
            query = f"chat_id={chat_ids[0]}&user_id={user_id}"
            figures["get_chat_member_wrk_rps"] = run_wrk(
                f"{emu_url}/bot{TOKEN}/getChatMember?{query}",
                other_cpu,
                args.concurrency,
                args.wrk_seconds,
                None,
            )
    finally:
        for process in (receiver, emulator):
            process.terminate()
            process.wait(timeout=10)
    report(figures, args)
    return 0


def report(figures: dict[str, Any], args: argparse.Namespace) -> None:
    webhook, gcm = figures["webhook"], figures["get_chat_member"]
    print(f"cores: {figures['cpus']} (emulator and receiver/load generator on separate cores)")
    print(f"parameter checking against api.json: {'on' if args.spec else 'off'}")
    wrk = figures.get("receiver_wrk_rps")
    if wrk:
        print(f"receiver capacity (wrk, 40 connections):   {wrk:10,.0f} requests/s")
    print(
        f"webhook delivery ({args.updates} updates, {args.chats} chats, 40 connections): "
        f"{webhook['updates_per_s']:10,.0f} updates/s "
        f"({webhook['seconds']:.2f}s, receiver got {webhook['received']})"
    )
    print(f"  update creation through the control API:  {webhook['injected_per_s']:10,.0f} /s")
    if wrk:
        print(f"  ratio emulator delivery / receiver (wrk): {webhook['updates_per_s'] / wrk:.2f}")
    print(
        f"getChatMember (aiohttp client, {args.concurrency} concurrent): "
        f"{gcm['calls_per_s']:10,.0f} calls/s ({gcm['failures']} failures)"
    )
    gcm_wrk = figures.get("get_chat_member_wrk_rps")
    if gcm_wrk:
        print(f"getChatMember (wrk, {args.concurrency} connections): {gcm_wrk:10,.0f} calls/s")
        if wrk:
            print(f"  ratio getChatMember (wrk) / receiver (wrk): {gcm_wrk / wrk:.2f}")
    if wrk:
        print(f"  ratio getChatMember (aiohttp) / receiver (wrk): {gcm['calls_per_s'] / wrk:.2f}")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
