"""The floor under a warm Invoke: Firebox's three processes and their hops, with no platform work in them.

    python -m bench.relay_floor front PORT SOCKET | relay SOCKET RUNTIME_PORT | sandbox RUNTIME_PORT

- front: aiohttp on uvloop (as the bare server) that sends each request's body to the relay as a frame on
  a unix socket (Firebox's own `FrameChannel`, as the server talks to a worker) and answers with the reply;
- relay: hands each frame to an idle sandbox as the answer to its `GET .../invocation/next`, and each
  sandbox's `POST .../response` back as the frame's reply (as a worker's Runtime API does);
- sandbox: a plain process (no namespaces, cgroups or seccomp) running a no-op handler in a loop on a
  blocking socket, its response and next request sent together (as Firebox's Python runtime does).

No authentication, validation, routing, assignment, journal, logs or reports: what is left is the cost of
the topology that issue 4 asks for (a server, worker processes, a sandbox per environment) on this stack.
`bench.throughput` measures it beside the bare server and Firebox, so each gap is seen for what it is.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, cast

import uvloop
from aiohttp import web

from firebox.cli.serve import schedule_as_batch
from firebox.worker.channel import FrameChannel
from tests.server_process import free_port

_START_DEADLINE_S = 10.0
_NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: relay\r\n\r\n"


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
    runtime = await loop.create_server(lambda: _SandboxConnection(relay), "127.0.0.1", runtime_port)
    front = await loop.create_unix_server(relay.front_connected, socket_path)
    async with runtime, front:
        await asyncio.Future()  # until terminated


# -- sandbox -------------------------------------------------------------------------------------------


def _handler(event: Any, context: Any) -> Any:
    return None


def _read_response(sock: socket.socket, buffer: bytes) -> tuple[dict[bytes, bytes], bytes, bytes]:
    """(headers, body, what came after them) of the next response on `sock`."""
    while (end := buffer.find(b"\r\n\r\n")) < 0:
        buffer += sock.recv(65536)
    headers = dict(line.lower().split(b": ", 1) for line in buffer[:end].split(b"\r\n")[1:])
    length = int(headers.get(b"content-length", b"0"))
    while len(buffer) < end + 4 + length:
        buffer += sock.recv(65536)
    return headers, buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]


def _run_sandbox(runtime_port: int) -> None:
    sock = socket.create_connection(("127.0.0.1", runtime_port))
    sock.sendall(_NEXT)
    buffer = b""
    while True:
        headers, body, buffer = _read_response(sock, buffer)
        request_id = headers[b"lambda-runtime-aws-request-id"].decode()
        result = json.dumps(_handler(json.loads(body), None)).encode()
        post = f"POST /2018-06-01/runtime/invocation/{request_id}/response HTTP/1.1\r\nHost: relay\r\n"
        sock.sendall(f"{post}Content-Length: {len(result)}\r\n\r\n".encode() + result + _NEXT)
        _, _, buffer = _read_response(sock, buffer)  # the POST's 202


# -- all three -----------------------------------------------------------------------------------------


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port)).close()
    except ConnectionRefusedError:
        return False
    return True


def _wait_for(ready: Any, what: str) -> None:
    deadline = time.monotonic() + _START_DEADLINE_S
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the relay floor's {what} did not start")
        time.sleep(0.05)


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
        _wait_for(lambda: Path(socket_path).exists() and _accepts(runtime_port), "relay")
        for _ in range(sandboxes):
            start("sandbox", str(runtime_port))
        start("front", str(port), socket_path)
        _wait_for(lambda: _accepts(port), "front")
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
