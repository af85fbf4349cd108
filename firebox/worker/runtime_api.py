"""The Lambda Runtime API (2018-06-01) that one execution environment's runtime talks to.

Each environment gets its own listening socket, so a runtime can only ever see its own invocations.
The server is aiohttp's low-level one: four routes do not need a router, and this is the warm path.
"""

from __future__ import annotations

import asyncio
import re
import socket
from typing import Protocol

from aiohttp import web

from firebox.worker.invocation import Invocation

PREFIX = "/2018-06-01/runtime"
MAX_RESPONSE_BYTES = 6_291_556  # AWS: a synchronous response may be 6 MB (this many bytes)
_MAX_ERROR_BYTES = 1_048_576
MAX_CONNECTIONS = 8  # per environment
_INVOCATION = re.compile(rf"^{PREFIX}/invocation/([^/]+)/(response|error)$")


class RuntimeApiClient(Protocol):
    """What the environment on the other side of the Runtime API does with each call."""

    def runtime_waiting(self) -> None: ...

    def is_current(self, request_id: str) -> bool:
        """Whether `request_id` is the invocation the environment is running now."""
        ...

    async def next_invocation(self) -> tuple[Invocation, int]:
        """The next invocation for the runtime and its deadline in epoch milliseconds."""
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


def _json_error(status: int, error_type: str, message: str) -> web.Response:
    return web.json_response({"errorMessage": message, "errorType": error_type}, status=status)


_ACCEPTED = b'{"status":"OK"}'


async def _read_limited(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None when it is longer than `limit`.

    A declared body up to twice the limit is read and dropped, so that a runtime that sent a too-large
    response still gets its 413 rather than a broken connection mid-send; anything larger, or undeclared, is
    never read. The connection closes after a refused body either way.
    """
    declared = request.content_length
    if declared is not None and declared > limit:
        if declared <= 2 * limit:
            remaining = declared
            while remaining > 0 and (chunk := await request.content.readany()):
                remaining -= len(chunk)
        return None
    body = bytearray()
    while chunk := await request.content.readany():
        if len(body) + len(chunk) > limit:
            return None
        body += chunk
    return bytes(body)


def _closing(response: web.Response) -> web.Response:
    """End the connection after this answer: whatever the runtime still sends is not read."""
    response.force_close()
    return response


class _Refused(asyncio.Protocol):
    """A connection past the environment's limit: closed as soon as it is made."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.close()


class RuntimeApiServer:
    def __init__(self, client: RuntimeApiClient) -> None:
        self._client = client
        self._server: asyncio.Server | None = None
        # lingering_time=0: a body the server chose not to read is never drained (a runtime is not trusted).
        self._http = web.Server(self._handle, access_log=None, lingering_time=0)

    async def start(self, listening: socket.socket) -> None:
        """Serve on the sandbox's listening socket (its backend decides where that socket lives)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._accept, sock=listening)

    def _accept(self) -> asyncio.BaseProtocol:
        # Each connection costs the server a descriptor and buffers: a runtime needs one or two, and a function
        # opening thousands must not use up the server's.
        if len(self._http.connections) >= MAX_CONNECTIONS:
            return _Refused()
        return self._http()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._http.shutdown(0.1)
            self._server = None

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path
        if request.method == "GET" and path == f"{PREFIX}/invocation/next":
            return await self._next()
        if request.method == "GET" and path == f"{PREFIX}/restore/next":
            self._client.snapshot_point()
            return web.Response(status=200, body=b"", content_type="application/json")
        if request.method == "POST":
            match = _INVOCATION.match(path)
            if match is not None:
                request_id, kind = match.groups()
                if kind == "response":
                    return await self._response(request, request_id)
                return await self._error(request, request_id)
            failed = {
                f"{PREFIX}/init/error": self._client.init_failed,
                f"{PREFIX}/restore/error": self._client.init_failed,
            }
            report_failure = failed.get(path)
            if report_failure is not None:
                body = await _read_limited(request, _MAX_ERROR_BYTES) or b""
                report_failure(body, request.headers.get("Lambda-Runtime-Function-Error-Type"))
                return web.Response(status=202, body=_ACCEPTED, content_type="application/json")
        return _json_error(404, "NotFound", f"No Runtime API route for {request.method} {path}")

    async def _next(self) -> web.Response:
        self._client.runtime_waiting()
        invocation, deadline_ms = await self._client.next_invocation()
        headers = {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": invocation.invoked_arn,
            "Lambda-Runtime-Trace-Id": invocation.trace_id,
        }
        if invocation.client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = invocation.client_context
        if invocation.cognito_identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = invocation.cognito_identity
        return web.Response(body=invocation.payload, headers=headers, content_type="application/json")

    async def _response(self, request: web.BaseRequest, request_id: str) -> web.Response:
        body = await _read_limited(request, MAX_RESPONSE_BYTES)
        if body is None:
            if not self._client.respond_too_large(request_id):
                return _unknown_request(request_id)
            return _json_error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
            )
        if not self._client.respond(request_id, body):
            return _unknown_request(request_id)
        return web.Response(status=202, body=_ACCEPTED, content_type="application/json")

    async def _error(self, request: web.BaseRequest, request_id: str) -> web.Response:
        if not self._client.is_current(request_id):
            return _unknown_request(request_id)
        body = await _read_limited(request, _MAX_ERROR_BYTES)
        error_type = request.headers.get("Lambda-Runtime-Function-Error-Type")
        if body is None:
            body = b'{"errorMessage":"The error report was larger than 1 MB","errorType":"Runtime.Unknown"}'
        if not self._client.fail(request_id, body, error_type):
            return _unknown_request(request_id)
        return web.Response(status=202, body=_ACCEPTED, content_type="application/json")


def _unknown_request(request_id: str) -> web.Response:
    return _closing(_json_error(400, "InvalidRequestID", f"Invalid request ID: {request_id}"))
