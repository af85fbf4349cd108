"""The floor under a warm Invoke: Firebox's three processes and their hops, with no platform work in them.

    python -m bench.relay_floor front PORT SOCKET | relay SOCKET RUNTIME_PORT | sandbox RUNTIME_PORT

- front: aiohttp on uvloop (as the bare server) that sends each request's body to the relay as a frame on
  a unix socket (Firebox's own `FrameChannel`, as the server talks to a worker) and answers with the reply;
- relay: hands each frame to an idle sandbox as the answer to its `GET .../invocation/next`, and each
  sandbox's `POST .../response` back as the frame's reply (as a worker's Runtime API does);
- sandbox: a plain process (no namespaces, cgroups or seccomp) running a no-op handler in a loop with
  Firebox's own Runtime API client (its response and next request sent together).

No authentication, validation, routing, assignment, journal, logs or reports: what is left is the cost of
the topology that issue 4 asks for (a server, worker processes, a sandbox per environment) on this stack.
`bench.throughput` measures it beside the bare server and Firebox, so each gap is seen for what it is.
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
from collections.abc import Iterator
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
    def __init__(self, socket_path: str) -> None:
        self._socket_path = socket_path
        self._ids = itertools.count()
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._channel: FrameChannel | None = None

    async def connect(self, app: web.Application) -> None:
        _, self._channel = await asyncio.get_running_loop().create_unix_connection(FrameChannel, self._socket_path)
        self._channel.deliver_to(self._replied)

    def _replied(self, message: dict[str, Any]) -> None:
        waiter = self._pending.pop(message["id"], None)
        if waiter is not None and not waiter.done():
            waiter.set_result(message["ok"])

    async def invoke(self, request: web.Request) -> web.Response:
        assert self._channel is not None
        call_id = next(self._ids)
        waiter = self._pending[call_id] = asyncio.get_running_loop().create_future()
        self._channel.send({"id": call_id, "payload": await request.read()})
        return web.Response(body=await waiter, content_type="application/json")


def _serve_front(port: int, socket_path: str) -> None:
    front = _Front(socket_path)
    app = web.Application(handler_args={"access_log": None})
    app.on_startup.append(front.connect)
    app.router.add_route("*", "/{path:.*}", front.invoke)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=uvloop.new_event_loop())


# -- relay ---------------------------------------------------------------------------------------------


class _Relay:
    def __init__(self) -> None:
        self.channel: FrameChannel | None = None
        self._idle: deque[_SandboxConnection] = deque()  # sandboxes waiting for an invocation
        self._queued: deque[tuple[int, bytes]] = deque()  # invocations waiting for a sandbox

    def front_connected(self) -> FrameChannel:
        self.channel = FrameChannel()
        self.channel.deliver_to(lambda message: self.invocation(message["id"], message["payload"]))
        return self.channel

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

    def responded(self, call_id: int, payload: bytes) -> None:
        if self.channel is not None:
            self.channel.send({"id": call_id, "ok": payload})


class _SandboxConnection(asyncio.Protocol):
    """HTTP/1.1 from one sandbox: requests without a body (GET next) and with a Content-Length (POST)."""

    def __init__(self, relay: _Relay) -> None:
        self._relay = relay
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

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
                assert self._transport is not None
                self._transport.write(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                self._relay.responded(int(path.split(b"/")[-2]), body)
            else:
                self._relay.waiting(self)

    def deliver(self, call_id: int, payload: bytes) -> None:
        assert self._transport is not None
        head = f"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: {call_id}\r\nContent-Length: {len(payload)}\r\n\r\n"
        self._transport.write(head.encode() + payload)


async def _serve_relay(socket_path: str, runtime_port: int) -> None:
    relay = _Relay()
    loop = asyncio.get_running_loop()
    # The front's socket first: once the runtime port accepts, the relay takes both.
    front = await loop.create_unix_server(relay.front_connected, socket_path)
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


# -- all three -----------------------------------------------------------------------------------------


@contextmanager
def running_relay_floor(sandboxes: int) -> Iterator[int]:
    """The three roles, with `sandboxes` sandbox processes, in child processes; yields the front's port."""
    with tempfile.TemporaryDirectory(prefix="firebox-relay-floor-") as scratch, ExitStack() as processes:

        def start(*args: str) -> None:
            child = subprocess.Popen([sys.executable, "-m", "bench.relay_floor", *args])
            processes.callback(child.wait)
            processes.callback(child.terminate)

        socket_path, runtime_port, port = str(Path(scratch) / "relay.sock"), free_port(), free_port()
        start("relay", socket_path, str(runtime_port))
        wait_until_accepting(runtime_port)
        for _ in range(sandboxes):
            start("sandbox", str(runtime_port))
        start("front", str(port), socket_path)
        wait_until_accepting(port)
        yield port


def main() -> None:
    schedule_as_batch()  # as `firebox serve` runs, so that both pay the same hand-overs
    role, *args = sys.argv[1:]
    if role == "front":
        _serve_front(int(args[0]), args[1])
    elif role == "relay":
        uvloop.run(_serve_relay(args[0], int(args[1])))
    else:
        _run_sandbox(int(args[0]))


if __name__ == "__main__":
    main()
