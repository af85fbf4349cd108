"""The Lambda Runtime API (2018-06-01) that one execution environment's runtime talks to.

Each environment gets its own listening socket, so a runtime can only ever see its own invocations.
Two of the three HTTP exchanges of every invocation happen here, so the server is a small asyncio protocol
rather than aiohttp: it serves six routes of HTTP/1.1 and nothing else, and a request costs a few bytes
operations where aiohttp built a request, a response, a stream reader and a writer for each. Our runtime
sends its response and its next GET next at once (pipelined); the answer to the first then goes out with
the next invocation, one write (and one wake-up of the runtime) for both.

The runtime is not trusted, so everything it sends is bounded: a request head may be 64 KiB, a body only as
long as its route allows (decided from the head, before any of the body is kept; a declared body over the
limit is refused, or read and dropped when it is at most twice the limit so that the runtime still gets its
413), a chunked body at most 65,536 chunks, and a connection serves one request at a time: while one waits
(GET next), reading pauses and whatever the runtime sends meanwhile stays in the kernel's buffers.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from typing import Protocol, cast

import msgspec

from firebox.worker.invocation import Invocation

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6_291_556  # AWS: a synchronous response may be 6 MB (this many bytes)
_MAX_ERROR_BYTES = 1_048_576
MAX_CONNECTIONS = 8  # per environment
MAX_HEAD_BYTES = 65_536  # request line and headers, as aiohttp allowed
MAX_CHUNKS = 65_536  # per chunked body: each costs the event loop a few operations
_MAX_CHUNK_LINE_BYTES = 1024  # a chunk's size line, extensions included
_MAX_LENGTH_DIGITS = 18

_NEXT = f"{PREFIX}/invocation/next"
_RESTORE_NEXT = f"{PREFIX}/restore/next"
_INIT_ERROR = f"{PREFIX}/init/error"
_RESTORE_ERROR = f"{PREFIX}/restore/error"
_INVOCATION = f"{PREFIX}/invocation/"
_ACCEPTED = b'{"status":"OK"}'
_REASONS = {200: b"OK", 202: b"Accepted", 400: b"Bad Request", 404: b"Not Found", 413: b"Request Entity Too Large"}
_encode_json = msgspec.json.Encoder().encode
_LARGE_ERROR = b'{"errorMessage":"The error report was larger than 1 MB","errorType":"Runtime.Unknown"}'
_ERROR_TYPE = "lambda-runtime-function-error-type"  # a request header, in lower case as parsed


class _TooLarge:
    """A body that went past its limit while it was read."""


_TOO_LARGE = _TooLarge()


class RuntimeApiClient(Protocol):
    """What the environment on the other side of the Runtime API does with each call."""

    def runtime_waiting(self) -> None: ...

    def is_current(self, request_id: str) -> bool:
        """Whether `request_id` is the invocation the environment is running now."""
        ...

    def next_invocation(self) -> asyncio.Future[tuple[Invocation, int]]:
        """The next invocation for the runtime and its deadline in epoch milliseconds, once there is one.

        Cancelling the future (the runtime hung up) leaves the invocation for the next request."""
        ...

    def respond(self, request_id: str, payload: bytes) -> bool: ...

    def respond_too_large(self, request_id: str) -> bool: ...

    def fail(self, request_id: str, payload: bytes, error_type: str | None) -> bool: ...

    def init_failed(self, payload: bytes, error_type: str | None) -> None:
        """INIT failed (POST init/error), or, in a SnapStart copy, an after-restore hook (POST restore/error)."""
        ...

    def snapshot_point(self) -> None:
        """SnapStart: the runtime finished INIT and its before-snapshot hooks (GET restore/next)."""
        ...


class _BadRequest(Exception):
    """The runtime sent something that is not HTTP/1.1 as this server reads it: answered 400, then closed."""


@dataclass(slots=True)
class _Head:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    keep_alive: bool
    chunked: bool
    length: int  # declared Content-Length; 0 when chunked or absent


def _parse_head(raw: bytes) -> _Head:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or parts[2] not in ("HTTP/1.1", "HTTP/1.0"):
        raise _BadRequest(f"bad request line {lines[0][:100]!r}")
    method, target, version = parts
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        # No whitespace in or around a name: that also refuses obsolete line folding.
        if not colon or not name or name != name.strip() or " " in name or "\t" in name:
            raise _BadRequest(f"bad header line {line[:100]!r}")
        key = name.lower()
        value = value.strip(" \t")
        if key in headers and key in ("content-length", "transfer-encoding") and headers[key] != value:
            raise _BadRequest(f"conflicting {name} headers")  # the smuggling of requests starts this way
        headers[key] = value
    encoding = headers.get("transfer-encoding")
    declared = headers.get("content-length")
    if encoding is not None and (encoding.lower() != "chunked" or declared is not None):
        raise _BadRequest(f"unsupported Transfer-Encoding {encoding[:100]!r}")
    length = 0
    if declared is not None:
        if not (declared.isascii() and declared.isdigit() and len(declared) <= _MAX_LENGTH_DIGITS):
            raise _BadRequest(f"bad Content-Length {declared[:100]!r}")
        length = int(declared)
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    path = target.partition("?")[0]
    return _Head(method, path, headers, keep_alive, encoding is not None, length)


def _response(status: int, body: bytes, headers: list[tuple[str, str]] | None = None, close: bool = False) -> bytes:
    head = [
        b"HTTP/1.1 ",
        str(status).encode(),
        b" ",
        _REASONS.get(status, b"Error"),
        b"\r\nContent-Type: application/json\r\nContent-Length: ",
        str(len(body)).encode(),
        b"\r\n",
    ]
    for name, value in headers or ():
        # A value that is not ours (client context, identity) could hold a line break: it must not end the
        # header. In the JSON these values carry, a line break outside a string is whitespace like a space.
        head.append(f"{name}: {value}\r\n".encode() if value.isprintable() else _sanitised(name, value))
    if close:
        head.append(b"Connection: close\r\n")
    head.append(b"\r\n")
    head.append(body)
    return b"".join(head)


def _sanitised(name: str, value: str) -> bytes:
    kept = "".join(c if c.isprintable() else " " for c in value)
    return f"{name}: {kept}\r\n".encode()


def _json_error(error_type: str, message: str) -> bytes:
    return _encode_json({"errorMessage": message, "errorType": error_type})


def _invocation_route(head: _Head) -> tuple[str, str] | None:
    """(request id, "response" or "error") of a POST about an invocation, else None."""
    if head.method != "POST" or not head.path.startswith(_INVOCATION):
        return None
    request_id, _, kind = head.path[len(_INVOCATION) :].partition("/")
    return (request_id, kind) if request_id and kind in ("response", "error") else None


def _body_limit(head: _Head) -> int:
    route = _invocation_route(head)
    if route is not None:
        return MAX_RESPONSE_BYTES if route[1] == "response" else _MAX_ERROR_BYTES
    if head.method == "POST" and head.path in (_INIT_ERROR, _RESTORE_ERROR):
        return _MAX_ERROR_BYTES
    return 0


class _Refused(asyncio.Protocol):
    """A connection past the environment's limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class RuntimeApiServer:
    def __init__(self, client: RuntimeApiClient) -> None:
        self.client = client
        self._server: asyncio.Server | None = None
        self.connections: set[_Connection] = set()

    async def start(self, listening: socket.socket) -> None:
        """Serve on the sandbox's listening socket (its backend decides where that socket lives)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, sock=listening)

    def _accept(self) -> asyncio.BaseProtocol:
        # Each connection costs the server a descriptor and buffers: a runtime needs one or two, and a function
        # opening thousands must not use up the server's.
        if len(self.connections) >= MAX_CONNECTIONS:
            return _Refused()
        return _Connection(self)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.connections):
            connection.abort()


class _Connection(asyncio.Protocol):
    """One connection of the runtime: its requests read and answered one at a time."""

    def __init__(self, server: RuntimeApiServer) -> None:
        self._server = server
        self._client = server.client
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._head: _Head | None = None  # of the request whose body is being read
        self._discard = 0  # bytes of a refused body still to be read and dropped
        self._chunks: _ChunkedBody | None = None
        self._waiting: asyncio.Future[tuple[Invocation, int]] | None = None  # a GET next being served
        self._writing_paused = False  # the runtime does not read its answers: neither do we read its requests
        self._keep_alive = True
        # Answers not sent yet: those to requests the runtime sent together with a GET next (our runtime sends
        # its response and its next GET next at once) go out with that request's answer, in one write.
        self._held: list[bytes] = []

    # -- asyncio.Protocol -------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # a stream transport (uvloop's is no subclass)
        self._server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        self._transport = None
        self._held.clear()
        if self._waiting is not None:
            self._waiting.cancel()  # the invocation stays for the runtime's next request
            self._waiting = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._serve_buffered()

    def pause_writing(self) -> None:
        self._writing_paused = True
        if self._transport is not None:
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._writing_paused = False
        self._go_on()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- reading requests -------------------------------------------------------------------------------

    def _serve_buffered(self) -> None:
        """Serve the complete requests in the buffer in turn; stop at a partial one or one that waits."""
        try:
            while self._waiting is None and not self._writing_paused and self._open():
                if self._head is None and not self._read_head():
                    return
                body = self._read_body()
                if body is None:
                    return
                head, self._head = self._head, None
                assert head is not None
                self._serve(head, body if isinstance(body, bytes) else None)
        except _BadRequest as exc:
            self._keep_alive = False
            self._answer(400, _json_error("InvalidRequest", f"Malformed request: {exc}"))
        finally:
            if self._waiting is None:
                self._send_held()

    def _open(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def _read_head(self) -> bool:
        """Take the next request's head from the buffer: False when it is not all there, or when the request
        was answered from its head alone."""
        end = self._buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
        if end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadRequest(f"request head longer than {MAX_HEAD_BYTES} bytes")
            return False
        head = _parse_head(bytes(self._buffer[:end]))
        del self._buffer[: end + 4]
        self._keep_alive = head.keep_alive
        route = _invocation_route(head)
        if route is not None and not self._client.is_current(route[0]):
            # Refused before its body is read: a runtime posting for another invocation gets nothing buffered.
            self._keep_alive = False
            self._answer(400, _json_error("InvalidRequestID", f"Invalid request ID: {route[0]}"))
            return False
        limit = _body_limit(head)
        if head.length > limit:
            if not limit or head.length > 2 * limit:
                self._keep_alive = False  # its body is never read
                self._serve(head, None)
                return False
            self._discard = head.length  # read and dropped, so that the runtime gets its answer
        self._head = head
        self._chunks = _ChunkedBody(limit) if head.chunked else None
        return True

    def _read_body(self) -> bytes | _TooLarge | None:
        """The current request's body once all of it is in, _TOO_LARGE past its limit, None until then."""
        head = self._head
        assert head is not None
        if self._discard:
            dropped = min(self._discard, len(self._buffer))
            del self._buffer[:dropped]
            self._discard -= dropped
            return None if self._discard else _TOO_LARGE
        if self._chunks is not None:
            body = self._chunks.feed(self._buffer)
            if body is _TOO_LARGE:
                self._keep_alive = False  # the rest of it is never read
            return body
        if len(self._buffer) < head.length:
            return None
        body_bytes = bytes(self._buffer[: head.length])
        del self._buffer[: head.length]
        return body_bytes

    # -- answering --------------------------------------------------------------------------------------

    def _serve(self, head: _Head, body: bytes | None) -> None:
        """Answer one request; `body` is None when it was longer than its route allows."""
        client = self._client
        method, path = head.method, head.path
        route = _invocation_route(head)
        if route is not None:
            self._invocation_result(head, *route, body)
        elif method == "GET" and path == _NEXT:
            client.runtime_waiting()
            self._wait_for(client.next_invocation())
        elif method == "GET" and path == _RESTORE_NEXT:
            client.snapshot_point()
            self._answer(200, b"")
        elif method == "POST" and path in (_INIT_ERROR, _RESTORE_ERROR):
            client.init_failed(body or b"", head.headers.get(_ERROR_TYPE))
            self._answer(202, _ACCEPTED)
        else:
            self._answer(404, _json_error("NotFound", f"No Runtime API route for {method} {path}"))

    def _invocation_result(self, head: _Head, request_id: str, kind: str, body: bytes | None) -> None:
        client = self._client
        if kind == "response":
            settled = client.respond(request_id, body) if body is not None else client.respond_too_large(request_id)
        else:
            settled = client.fail(request_id, _LARGE_ERROR if body is None else body, head.headers.get(_ERROR_TYPE))
        if not settled:  # the invocation ended while its body came in
            self._keep_alive = False
            self._answer(400, _json_error("InvalidRequestID", f"Invalid request ID: {request_id}"))
        elif body is None and kind == "response":
            message = f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."
            self._answer(413, _json_error("RequestEntityTooLarge", message))
        else:
            self._answer(202, _ACCEPTED)

    def _wait_for(self, waiting: asyncio.Future[tuple[Invocation, int]]) -> None:
        self._waiting = waiting
        if waiting.done():
            self._deliver(waiting)
            return
        if self._transport is not None:
            self._transport.pause_reading()  # one request at a time: what comes meanwhile waits in the kernel
        waiting.add_done_callback(self._deliver)

    def _deliver(self, waiting: asyncio.Future[tuple[Invocation, int]]) -> None:
        if waiting.cancelled() or waiting is not self._waiting:
            return
        self._waiting = None
        invocation, deadline_ms = waiting.result()
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", invocation.invoked_arn),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),
        ]
        if invocation.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
        if invocation.cognito_identity is not None:
            headers.append(("Lambda-Runtime-Cognito-Identity", invocation.cognito_identity))
        self._answer(200, invocation.payload, headers)
        self._send_held()
        self._go_on()

    def _go_on(self) -> None:
        """Read and serve again, unless a request still waits or the runtime still does not read."""
        if self._waiting is None and not self._writing_paused and self._open():
            assert self._transport is not None
            self._transport.resume_reading()
            self._serve_buffered()

    def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None) -> None:
        """Answer the request being served; the answer is sent with the next _send_held()."""
        self._held.append(_response(status, body, headers, close=not self._keep_alive))
        if not self._keep_alive:
            self._send_held()
            if self._transport is not None:
                self._transport.close()  # whatever the runtime still sends is never read (it is not trusted)

    def _send_held(self) -> None:
        if not self._held:
            return
        held = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held.clear()
        if self._open():
            assert self._transport is not None
            self._transport.write(held)


class _ChunkedBody:
    """A chunked body, decoded as it arrives and bounded: its size, its chunks and every line it has."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._body = bytearray()
        self._chunks = 0
        self._left = 0  # bytes of the current chunk still to come, then its CRLF
        self._in_chunk = False
        self._trailers = False

    def feed(self, buffer: bytearray) -> bytes | _TooLarge | None:
        """Take what `buffer` holds of the body (removing it); the body once complete, else None."""
        while True:
            if self._in_chunk:
                if len(buffer) < self._left + 2:
                    taken = min(len(buffer), self._left)
                    self._body += buffer[:taken]
                    del buffer[:taken]
                    self._left -= taken
                    return None
                if buffer[self._left : self._left + 2] != b"\r\n":
                    raise _BadRequest("a chunk does not end with CRLF")
                self._body += buffer[: self._left]
                del buffer[: self._left + 2]
                self._in_chunk = False
                continue
            end = buffer.find(b"\r\n", 0, _MAX_CHUNK_LINE_BYTES if not self._trailers else MAX_HEAD_BYTES)
            if end < 0:
                if len(buffer) > (MAX_HEAD_BYTES if self._trailers else _MAX_CHUNK_LINE_BYTES):
                    raise _BadRequest("chunk size line or trailers too long")
                return None
            line = bytes(buffer[:end])
            del buffer[: end + 2]
            if self._trailers:
                if not line:
                    return bytes(self._body)
                continue  # trailers are read and ignored
            size_text = line.split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
                raise _BadRequest(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            if size == 0:
                self._trailers = True
                continue
            self._chunks += 1
            if len(self._body) + size > self._limit or self._chunks > MAX_CHUNKS:
                return _TOO_LARGE
            self._left = size
            self._in_chunk = True
