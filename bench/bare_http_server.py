"""The baseline server: aiohttp (Firebox's HTTP stack) on uvloop answering every POST with its body."""

from __future__ import annotations

import sys

import uvloop
from aiohttp import web


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type="application/json")


def main() -> None:
    app = web.Application(handler_args={"access_log": None})
    app.router.add_route("*", "/{path:.*}", echo)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=None,
        access_log=None,
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
