"""The reference for bench/gate_bench.py: a bare aiohttp webhook with one Redis round trip.

    python bench/bare_redis_server.py PORT REDIS_URL KEY

POST /webhook reads and parses the JSON body, does one Redis GET of KEY and answers
200 {"ok": true} (what GMBot answers). Same Python, uvloop, one process, the same
redis-py client and pool type as GMBot: everything GMBot does beyond this is its cost.
"""

from __future__ import annotations

import json
import sys

import uvloop
from aiohttp import web
from redis.asyncio import BlockingConnectionPool, Redis


def build_app(redis_url: str, key: str) -> web.Application:
    redis: Redis = Redis.from_pool(
        BlockingConnectionPool.from_url(redis_url, max_connections=50, decode_responses=False)
    )

    async def webhook(request: web.Request) -> web.Response:
        data = json.loads(await request.read())
        if not isinstance(data, dict):
            return web.json_response({"ok": False}, status=400)
        await redis.get(key)
        return web.json_response({"ok": True})

    async def health(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def close(app: web.Application) -> None:
        await redis.aclose()

    app = web.Application(client_max_size=1 << 20)
    app.router.add_post("/webhook", webhook)
    app.router.add_get("/health", health)
    app.on_cleanup.append(close)
    return app


def main() -> None:
    port, redis_url, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    web.run_app(
        build_app(redis_url, key),
        host="127.0.0.1",
        port=port,
        access_log=None,
        print=None,
        backlog=1024,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
