"""The baseline server: aiohttp (Firebox's HTTP stack) on uvloop answering every POST with its body."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvloop
from aiohttp import web

from tests.server_process import free_port

_START_DEADLINE_S = 10.0


@contextmanager
def running_bare_server() -> Iterator[int]:
    """This server in a child process, listening on the port it yields once it accepts connections."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "bench.bare_http_server", str(port)])
    try:
        wait_until_accepting(port)
        yield port
    finally:
        server.terminate()
        server.wait()


def wait_until_accepting(port: int) -> None:
    """Return once a server accepts connections on `port` of loopback; ConnectionRefusedError if none does
    within a few seconds."""
    deadline = time.monotonic() + _START_DEADLINE_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


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
