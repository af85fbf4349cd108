"""The Runtime API server: HTTP/1.1 as runtimes speak it (pipelined, chunked), and bounded for a hostile one."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from firebox.worker.invocation import Invocation
from firebox.worker.runtime_api import MAX_CONNECTIONS, MAX_HEAD_BYTES, MAX_RESPONSE_BYTES, RuntimeApiServer

NEXT = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: api\r\n\r\n"
_DEADLINE_S = 5.0


class _Environment:
    """The environment's side, recording what the runtime reported."""

    def __init__(self) -> None:
        self.current: str | None = None
        self.waiting: asyncio.Future[tuple[Invocation, int]] | None = None
        self.responses: list[tuple[str, bytes | None]] = []
        self.errors: list[tuple[str, bytes, str | None]] = []

    def runtime_waiting(self) -> None:
        pass

    def is_current(self, request_id: str) -> bool:
        return request_id == self.current

    def next_invocation(self) -> asyncio.Future[tuple[Invocation, int]]:
        self.waiting = asyncio.get_running_loop().create_future()
        return self.waiting

    def respond(self, request_id: str, payload: bytes) -> bool:
        self.responses.append((request_id, payload))
        return request_id == self.current

    def respond_too_large(self, request_id: str) -> bool:
        self.responses.append((request_id, None))
        return request_id == self.current

    def fail(self, request_id: str, payload: bytes, error_type: str | None) -> bool:
        self.errors.append((request_id, payload, error_type))
        return request_id == self.current

    def init_failed(self, payload: bytes, error_type: str | None) -> None:
        self.errors.append(("init", payload, error_type))

    def snapshot_point(self) -> None:
        pass

    def invoke(self, request_id: str, payload: bytes = b"{}", client_context: str | None = None) -> None:
        assert self.waiting is not None
        self.current = request_id
        self.waiting.set_result((Invocation(request_id, payload, "arn:fn", "Root=1", client_context), 1234))


class _Runtime:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        """The next answer: its status, headers (names in lower case) and body."""
        async with asyncio.timeout(_DEADLINE_S):
            head = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in head[1:] if line)
            headers = {name.lower(): value for name, value in headers.items()}
            body = await self.reader.readexactly(int(headers["content-length"]))
        return int(head[0].split(" ")[1]), headers, body

    async def closed(self) -> bool:
        async with asyncio.timeout(_DEADLINE_S):
            return await self.reader.read() == b""


@asynccontextmanager
async def _serving() -> AsyncIterator[tuple[_Environment, Callable[[], Awaitable[_Runtime]]]]:
    environment = _Environment()
    server = RuntimeApiServer(environment)
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    await server.start(listening)
    opened: list[_Runtime] = []

    async def connect() -> _Runtime:
        runtime = _Runtime(*await asyncio.open_connection("127.0.0.1", port))
        opened.append(runtime)
        return runtime

    try:
        yield environment, connect
    finally:
        for runtime in opened:
            runtime.writer.close()
        await server.close()


def _post(request_id: str, body: bytes, kind: str = "response", extra: bytes = b"") -> bytes:
    head = f"POST /2018-06-01/runtime/invocation/{request_id}/{kind} HTTP/1.1\r\nHost: api\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n".encode() + extra + b"\r\n" + body


def _run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(test())


def test_an_invocation_and_its_response() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            runtime = await connect()
            await runtime.send(NEXT)
            await _until(lambda: environment.waiting is not None)
            environment.invoke("req-1", b'{"n": 1}')
            status, headers, body = await runtime.answer()
            assert (status, body) == (200, b'{"n": 1}')
            assert headers["lambda-runtime-aws-request-id"] == "req-1"
            assert headers["lambda-runtime-deadline-ms"] == "1234"
            assert headers["lambda-runtime-invoked-function-arn"] == "arn:fn"
            await runtime.send(_post("req-1", b'"done"'))
            assert (await runtime.answer())[0] == 202
            assert environment.responses == [("req-1", b'"done"')]

    _run(test)


def test_a_response_pipelined_with_the_next_get_is_answered_with_the_next_invocation() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            runtime = await connect()
            await runtime.send(NEXT)
            await _until(lambda: environment.waiting is not None)
            first = environment.waiting
            environment.invoke("req-1")
            await runtime.answer()
            await runtime.send(_post("req-1", b"1") + NEXT)
            await _until(lambda: environment.waiting is not first)
            environment.invoke("req-2")
            assert (await runtime.answer())[0] == 202
            status, headers, _ = await runtime.answer()
            assert (status, headers["lambda-runtime-aws-request-id"]) == (200, "req-2")
            assert environment.responses == [("req-1", b"1")]

    _run(test)


def test_a_chunked_response_is_decoded() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            head = b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            await runtime.send(head + b"3;ext=1\r\nabc\r\n")
            await runtime.send(b"2\r\nde\r\n0\r\nTrailer: x\r\n\r\n")
            assert (await runtime.answer())[0] == 202
            assert environment.responses == [("req-1", b"abcde")]

    _run(test)


def test_a_response_for_another_invocation_is_refused_before_its_body() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            await runtime.send(_post("req-0", b"x" * 100)[:-50])  # the body never completes
            status, headers, body = await runtime.answer()
            assert (status, headers["connection"]) == (400, "close")
            assert b"InvalidRequestID" in body
            assert await runtime.closed()
            assert environment.responses == []

    _run(test)


def test_a_response_over_the_limit_is_an_error_of_the_invocation() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            await runtime.send(_post("req-1", b"x" * (MAX_RESPONSE_BYTES + 1)))
            status, _, body = await runtime.answer()
            assert status == 413 and b"RequestEntityTooLarge" in body
            assert environment.responses == [("req-1", None)]
            # It was read and dropped, so the connection serves on.
            await runtime.send(NEXT)
            await _until(lambda: environment.waiting is not None)

    _run(test)


def test_a_response_declared_far_over_the_limit_is_never_read() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            head = b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"
            await runtime.send(head + f"Content-Length: {3 * MAX_RESPONSE_BYTES}\r\n\r\n".encode())
            assert (await runtime.answer())[0] == 413
            assert await runtime.closed()

    _run(test)


def test_a_chunked_response_over_the_limit_ends_the_connection() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            head = b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            await runtime.send(head + f"{MAX_RESPONSE_BYTES + 1:x}\r\n".encode())
            assert (await runtime.answer())[0] == 413
            assert await runtime.closed()
            assert environment.responses == [("req-1", None)]

    _run(test)


def test_an_error_report_keeps_its_type() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            environment.current = "req-1"
            runtime = await connect()
            extra = b"Lambda-Runtime-Function-Error-Type: Custom.Error\r\n"
            await runtime.send(_post("req-1", b'{"errorType": "X"}', "error", extra))
            assert (await runtime.answer())[0] == 202
            assert environment.errors == [("req-1", b'{"errorType": "X"}', "Custom.Error")]

    _run(test)


def test_malformed_requests_are_refused_and_closed() -> None:
    requests = [
        b"GET /2018-06-01/runtime/invocation/next\r\n\r\n",  # no version
        b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nBad Name: x\r\n\r\n",
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: +5\r\n\r\n",
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: " + b"y" * MAX_HEAD_BYTES + b"\r\n\r\n",
    ]

    async def test() -> None:
        async with _serving() as (_, connect):
            for request in requests:
                runtime = await connect()
                await runtime.send(request)
                assert (await runtime.answer())[0] == 400, request[:80]
                assert await runtime.closed()

    _run(test)


def test_unknown_routes_are_not_found() -> None:
    async def test() -> None:
        async with _serving() as (_, connect):
            runtime = await connect()
            await runtime.send(b"GET /2018-06-01/runtime/nothing HTTP/1.1\r\n\r\n")
            status, headers, _ = await runtime.answer()
            assert status == 404 and "connection" not in headers

    _run(test)


def test_a_line_break_in_the_client_context_cannot_add_a_header() -> None:
    async def test() -> None:
        async with _serving() as (environment, connect):
            runtime = await connect()
            await runtime.send(NEXT)
            await _until(lambda: environment.waiting is not None)
            environment.invoke("req-1", client_context='{"a":\r\nInjected: 1}')
            _, headers, _ = await runtime.answer()
            assert "injected" not in headers
            assert headers["lambda-runtime-client-context"] == '{"a":  Injected: 1}'

    _run(test)


def test_connections_past_the_limit_are_closed_at_once() -> None:
    async def test() -> None:
        async with _serving() as (_, connect):
            held = [await connect() for _ in range(MAX_CONNECTIONS)]
            for runtime in held:  # each is served, so each was accepted before the next
                await runtime.send(b"GET /nothing HTTP/1.1\r\n\r\n")
                assert (await runtime.answer())[0] == 404
            extra = await connect()
            assert await extra.closed()

    _run(test)


async def _until(condition: Callable[[], bool]) -> None:
    """Poll `condition` under a deadline: the server serves on the same loop, between our awaits."""
    async with asyncio.timeout(_DEADLINE_S):
        while not condition():
            await asyncio.sleep(0)
