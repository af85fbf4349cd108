"""The floors under a warm Invoke: Firebox's processes and their hops, with no platform work in them.

    python -m bench.relay_floor front PORT SOCKET | relay SOCKET RUNTIME_PORT | direct PORT RUNTIME_PORT
                                | sandbox RUNTIME_PORT

- front: aiohttp on uvloop (as the bare server) that sends each request's body to the relay as a frame on
  a unix socket (Firebox's own `FrameChannel`, as the server talks to a worker) and answers with the reply;
- relay: hands each frame to an idle sandbox as the answer to its `GET .../invocation/next`, and each
  sandbox's `POST .../response` back as the frame's reply (as a worker's Runtime API does);
- direct: the front and the relay in one process, so a body goes from the HTTP server straight to a
  sandbox: the fewest hops any design with the function in a process of its own can make (two);
- sandbox: a plain process (no namespaces, cgroups or seccomp) running a no-op handler in a loop with
  Firebox's own Runtime API client (its response and next request sent together).

No authentication, validation, routing, assignment, journal, logs or reports: what is left is the cost of
the topology that issue 4 asks for (a server, worker processes, a sandbox per environment) on this stack,
and, with `direct`, of the least topology that keeps functions out of the server's process.
`bench.throughput` measures both beside the bare server and Firebox, so each gap is seen for what it is.
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import json
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

import uvloop
from aiohttp import web

from bench.bare_http_server import wait_until_accepting
from firebox.cli.serve import schedule_as_batch
from firebox.runtime import PYTHON_BOOTSTRAP
from firebox.worker.channel import FrameChannel
from tests.server_process import free_port

# -- front ---------------------------------------------------------------------------------------------


class _Front:
    """Each request's body goes out through `forward` (set once the way on is open) with a call id; the
    request is answered when `replied` gets that id back."""

    def __init__(self) -> None:
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self.forward: Callable[[int, bytes], None] | None = None

    def replied(self, call_id: int, payload: bytes) -> None:
        waiter = self._pending.pop(call_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(payload)

    async def invoke(self, request: web.Request) -> web.Response:
        assert self.forward is not None
        call_id = next(self._ids)
        waiter = self._pending[call_id] = asyncio.get_running_loop().create_future()
        self.forward(call_id, await request.read())
        return web.Response(body=await waiter, content_type="application/json")


def _serve_front(port: int, open_the_way: Callable[[_Front], Awaitable[object]]) -> None:
    front = _Front()
    opened: list[object] = []  # the way on stays open (referenced) while the front serves

    async def started(app: web.Application) -> None:
        opened.append(await open_the_way(front))

    app = web.Application(handler_args={"access_log": None})
    app.on_startup.append(started)
    app.router.add_route("*", "/{path:.*}", front.invoke)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=uvloop.new_event_loop())


def _through_relay(socket_path: str) -> Callable[[_Front], Awaitable[object]]:
    """The front's bodies go to the relay process as frames, as the server's go to a worker."""

    async def connect(front: _Front) -> FrameChannel:
        _, channel = await asyncio.get_running_loop().create_unix_connection(FrameChannel, socket_path)
        channel.deliver_to(lambda message: front.replied(message["id"], message["ok"]))
        front.forward = lambda call_id, payload: channel.send({"id": call_id, "payload": payload})
        return channel

    return connect


def _to_sandboxes(runtime_port: int) -> Callable[[_Front], Awaitable[object]]:
    """The front serves the sandboxes' Runtime API itself."""

    async def listen(front: _Front) -> asyncio.Server:
        relay = _Relay(front.replied)
        loop = asyncio.get_running_loop()
        runtime = await loop.create_server(lambda: _SandboxConnection(relay), "127.0.0.1", runtime_port)
        front.forward = relay.invocation
        return runtime

    return listen


# -- relay ---------------------------------------------------------------------------------------------


class _Relay:
    """Invocations matched with sandboxes waiting for one; each sandbox's response goes to `reply`."""

    def __init__(self, reply: Callable[[int, bytes], None]) -> None:
        self.reply = reply
        self._idle: deque[_SandboxConnection] = deque()  # sandboxes waiting for an invocation
        self._queued: deque[tuple[int, bytes]] = deque()  # invocations waiting for a sandbox

    def invocation(self, call_id: int, payload: bytes) -> None:
        if self._idle:
            self._idle.pop().deliver(call_id, payload)
        else:
            self._queued.append((call_id, payload))

    def waiting(self, sandbox: _SandboxConnection) -> None:
        if self._queued:
            sandbox.deliver(*self._queued.popleft())
        else:
            self._idle.append(sandbox)


class _SandboxConnection(asyncio.Protocol):
    """HTTP/1.1 from one sandbox: requests without a body (GET next) and with a Content-Length (POST).

    As a worker's Runtime API does, the answer to a POST that came with a GET next goes out with the answer
    to that GET, so the sandbox wakes once per invocation."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._held = b""  # answers not sent yet
        self._waiting = False  # for an invocation to answer its GET next with

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are no subclass of it

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\r\n\r\n")) >= 0:
            head = self._buffer[:end].split(b"\r\n")
            length = next((int(line[15:]) for line in head if line.lower().startswith(b"content-length:")), 0)
            if len(self._buffer) < end + 4 + length:
                return
            body, self._buffer = self._buffer[end + 4 : end + 4 + length], self._buffer[end + 4 + length :]
            method, path, _ = head[0].split(b" ", 2)
            if method == b"POST":  # .../invocation/ID/response
                self._held += b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n"
                self._relay.reply(int(path.split(b"/")[-2]), body)
            else:
                self._waiting = True
                self._relay.waiting(self)
        if self._held and not self._waiting:
            self._send(b"")

    def deliver(self, call_id: int, payload: bytes) -> None:
        self._waiting = False
        head = f"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {call_id}\r\nContent-Length: {len(payload)}\r\n\r\n"
        self._send(head.encode() + payload)

    def _send(self, answer: bytes) -> None:
        assert self._transport is not None
        self._transport.write(self._held + answer)
        self._held = b""


async def _serve_relay(socket_path: str, runtime_port: int) -> None:
    relay = _Relay(lambda call_id, payload: None)  # nothing to reply to until the front connects

    def front_connected() -> FrameChannel:
        channel = FrameChannel()
        channel.deliver_to(lambda message: relay.invocation(message["id"], message["payload"]))
        relay.reply = lambda call_id, payload: channel.send({"id": call_id, "ok": payload})
        return channel

    loop = asyncio.get_running_loop()
    # The front's socket first: once the runtime port accepts, the relay takes both.
    front = await loop.create_unix_server(front_connected, socket_path)
    runtime = await loop.create_server(lambda: _SandboxConnection(relay), "127.0.0.1", runtime_port)
    async with runtime, front:
        await asyncio.Future()  # until terminated


# -- sandbox -------------------------------------------------------------------------------------------


def _handler(event: Any, context: Any) -> Any:
    return None


def _run_sandbox(runtime_port: int) -> None:
    # Loaded from its file: the runtime's modules are not a package of Firebox (a sandbox gets them alone).
    spec = importlib.util.spec_from_file_location("_fbx_client", PYTHON_BOOTSTRAP.parent / "_fbx_client.py")
    assert spec is not None and spec.loader is not None
    runtime = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runtime)
    client = runtime.RuntimeApiClient(f"127.0.0.1:{runtime_port}")
    invocation = client.next_invocation()
    while True:
        result = json.dumps(_handler(json.loads(invocation.body), None)).encode()
        invocation = client.respond_and_next(invocation.request_id, result, "application/json")


# -- all of them ---------------------------------------------------------------------------------------


@contextmanager
def running_floor(sandboxes: int, direct: bool = False) -> Iterator[int]:
    """The relay floor (front, relay) or with `direct` the direct one, and `sandboxes` sandbox processes, in
    child processes; yields the front's port."""
    with tempfile.TemporaryDirectory(prefix="firebox-relay-floor-") as scratch, ExitStack() as processes:

        def start(*args: str) -> None:
            child = subprocess.Popen([sys.executable, "-m", "bench.relay_floor", *args])
            processes.callback(child.wait)
            processes.callback(child.terminate)

        socket_path, runtime_port, port = str(Path(scratch) / "relay.sock"), free_port(), free_port()
        if direct:
            start("direct", str(port), str(runtime_port))
        else:
            start("relay", socket_path, str(runtime_port))
        wait_until_accepting(runtime_port)
        for _ in range(sandboxes):
            start("sandbox", str(runtime_port))
        if not direct:
            start("front", str(port), socket_path)
        wait_until_accepting(port)
        yield port


def main() -> None:
    schedule_as_batch()  # as `firebox serve` runs, so that both pay the same hand-overs
    role, *args = sys.argv[1:]
    if role == "front":
        _serve_front(int(args[0]), _through_relay(args[1]))
    elif role == "direct":
        _serve_front(int(args[0]), _to_sandboxes(int(args[1])))
    elif role == "relay":
        uvloop.run(_serve_relay(args[0], int(args[1])))
    else:
        _run_sandbox(int(args[0]))


if __name__ == "__main__":
    main()
