"""A trivial webhook receiver for benchmarks: answers 200 and counts.

    python bench/webhook_receiver.py PORT

POST /hook counts an update; GET /count returns the count; POST /reset zeroes it.
"""

from __future__ import annotations

import sys

from aiohttp import web

count = 0


async def hook(request: web.Request) -> web.Response:
    global count
    await request.read()
    count += 1
    return web.Response()


async def get_count(request: web.Request) -> web.Response:
    return web.json_response({"count": count})


async def reset(request: web.Request) -> web.Response:
    global count
    count = 0
    return web.json_response({"count": 0})


def main() -> None:
    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/count", get_count)
    app.router.add_post("/reset", reset)
    try:
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        loop_factory = None
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=None,
        print=None,
        loop=loop_factory() if loop_factory else None,
    )


if __name__ == "__main__":
    main()
