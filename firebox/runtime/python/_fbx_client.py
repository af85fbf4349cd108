"""The Runtime API (2018-06-01) as seen from inside an execution environment.

One keep-alive HTTP/1.1 connection carries every request: the worker's API server lives on the same
machine, so a new TCP handshake per call would be most of the per-invoke cost. The HTTP is spoken by
`_Connection`, a minimal client for exactly this server, rather than http.client: on the warm path
http.client's header parsing cost about 60 us per response, and importing it (with ssl and email)
added to every cold start (bench/invoke_latency.py measures both).
"""

from __future__ import annotations

import socket
from typing import NamedTuple

_BASE = "/2018-06-01/runtime"
_NEXT = _BASE + "/invocation/next"
_INIT_ERROR = _BASE + "/init/error"
_RESTORE_NEXT = _BASE + "/restore/next"
_RESTORE_ERROR = _BASE + "/restore/error"
_JSON = "application/json"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_PAYLOAD_TOO_LARGE = 413
# Built once: the warm path should allocate no more than it must.
_NO_HEADERS: dict[str, str] = {}
_CONTENT_TYPE_HEADERS = {
    content_type: {"Content-Type": content_type} for content_type in (_JSON, "application/unknown")
}
_MAX_HEAD_BYTES = 65536


class _Disconnected(ConnectionError):
    """The server closed the connection before answering."""


# The server may close an idle keep-alive connection at any moment; a request that fails this way on
# a reused connection never reached the server, so it is sent once more on a fresh one.
_STALE_CONNECTION = (_Disconnected, ConnectionResetError, BrokenPipeError)


class _ProtocolError(Exception):
    """The server's answer was not HTTP/1.1 as this client understands it."""


def _connect(peer: tuple[str, int]) -> socket.socket:
    """Connect without a name lookup when the address is a literal (it always is for Firebox): the first
    getaddrinfo() of a process imports the idna codec, milliseconds of every cold start."""
    host, port = peer
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        connection = socket.socket(family, socket.SOCK_STREAM)
        try:
            connection.connect((host, port))
        except OSError:
            connection.close()
            raise
        return connection
    return socket.create_connection(peer, timeout=None)


class _Connection:
    """HTTP/1.1 over one TCP connection, opened on first use and again after a close."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._peer = (host, int(port))
        self._host_header = address.encode("latin-1")
        self.sock: socket.socket | None = None
        self._buffer = b""

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self._buffer = b""

    def exchange(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str], then: bytes = b""
    ) -> tuple[int, bytes, dict[str, str]]:
        """Send a request and read its answer; `then`, a whole request of its own, goes out with it (HTTP/1.1
        pipelining) and its answer is left for the next read_response()."""
        if self.sock is None:
            # No timeout: GET next blocks for as long as the function sits idle, and a handler calling
            # socket.setdefaulttimeout() must not give our socket a deadline.
            self.sock = _connect(self._peer)
            self.sock.settimeout(None)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        body = payload or b""
        head = [
            f"{method} {path} HTTP/1.1\r\nHost: ".encode("latin-1"),
            self._host_header,
            b"\r\nContent-Length: ",
            str(len(body)).encode("latin-1"),
            b"\r\n",
        ]
        for name, value in headers.items():
            head.append(f"{name}: {value}\r\n".encode("latin-1"))
        head.append(b"\r\n")
        if len(body) < 65536:
            self.sock.sendall(b"".join((*head, body, then)))
        else:
            self.sock.sendall(b"".join(head))
            self.sock.sendall(body + then if len(then) else body)
        return self.read_response()

    def request_bytes(self, method: str, path: str) -> bytes:
        """A request without a body, ready to send."""
        return b"".join((f"{method} {path} HTTP/1.1\r\nHost: ".encode("latin-1"), self._host_header, b"\r\n\r\n"))

    def _receive(self) -> bytes:
        assert self.sock is not None
        chunk = self.sock.recv(262144)
        if not chunk:
            raise _Disconnected("the Runtime API closed the connection")
        return chunk

    def read_response(self) -> tuple[int, bytes, dict[str, str]]:
        data = self._buffer
        while True:
            end = data.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(data) > _MAX_HEAD_BYTES:
                raise _ProtocolError("response head too large")
            data += self._receive()
        lines = data[:end].decode("latin-1").split("\r\n")
        rest = data[end + 4 :]
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
            raise _ProtocolError(f"bad status line {lines[0]!r}")
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, rest = self._read_chunked(rest)
        else:
            length = int(headers.get("content-length", "0"))
            while len(rest) < length:
                rest += self._receive()
            body, rest = rest[:length], rest[length:]
        self._buffer = rest
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body, headers

    def _read_chunked(self, data: bytes) -> tuple[bytes, bytes]:
        body = bytearray()
        while True:
            while b"\r\n" not in data:
                data += self._receive()
            size_line, _, data = data.partition(b"\r\n")
            size = int(size_line.split(b";", 1)[0], 16)
            while len(data) < size + 2:
                data += self._receive()
            body += data[:size]
            data = data[size + 2 :]
            if size == 0:
                return bytes(body), data


class RuntimeApiError(Exception):
    """The Runtime API could not be reached or answered something the runtime cannot go on from."""


class Invocation(NamedTuple):
    """One event handed out by GET /invocation/next; header values stay as the server sent them."""

    request_id: str
    deadline_ms: int
    invoked_function_arn: str | None
    trace_id: str | None
    client_context: str | None
    cognito_identity: str | None
    tenant_id: str | None
    body: bytes


class RuntimeApiClient:
    """Blocking client for the Runtime API calls a runtime makes.

    close() only drops the connection: the next call opens a new one. A SnapStart template closes it
    before the snapshot, so each restored copy opens its own rather than sharing the template's socket.
    """

    def __init__(self, address: str) -> None:
        # timeout=None, not the default: GET next blocks for as long as the function sits idle, and a
        # handler calling socket.setdefaulttimeout() must not give our socket a deadline.
        self._conn = _Connection(address)
        self._address = address
        self._next = self._conn.request_bytes("GET", _NEXT)

    def close(self) -> None:
        self._conn.close()

    def next_invocation(self) -> Invocation:
        return self._invocation(*self._request("GET", _NEXT, None, _NO_HEADERS))

    def respond_and_next(self, request_id: str, payload: bytes, content_type: str) -> Invocation:
        """post_response(), then next_invocation(), with both requests sent at once: the runtime and the
        Runtime API each wake once for the pair instead of twice."""
        conn = self._conn
        self._post(self._response_path(request_id), payload, self._content_type(content_type), then=self._next)
        if conn.sock is not None:  # else the server closed after its answer, and never read GET next
            try:
                return self._invocation(*conn.read_response())
            except _STALE_CONNECTION:
                conn.close()  # dropped after answering the POST: GET next never reached it, so it is asked again
            except (OSError, _ProtocolError, ValueError) as exc:
                conn.close()
                raise RuntimeApiError(f"GET http://{self._address}{_NEXT} failed: {exc!r}") from exc
        return self.next_invocation()

    def _invocation(self, status: int, body: bytes, headers: dict[str, str]) -> Invocation:
        if not 200 <= status < 300:
            raise RuntimeApiError(f"GET {_NEXT} answered {status}: {body[:200]!r}")
        request_id = headers.get("lambda-runtime-aws-request-id")
        if not request_id:
            raise RuntimeApiError(f"GET {_NEXT} answered without Lambda-Runtime-Aws-Request-Id")
        deadline = headers.get("lambda-runtime-deadline-ms")
        return Invocation(
            request_id,
            int(deadline) if deadline else 0,
            headers.get("lambda-runtime-invoked-function-arn"),
            headers.get("lambda-runtime-trace-id"),
            headers.get("lambda-runtime-client-context"),
            headers.get("lambda-runtime-cognito-identity"),
            headers.get("lambda-runtime-aws-tenant-id"),
            body,
        )

    def post_response(self, request_id: str, payload: bytes, content_type: str) -> None:
        self._post(self._response_path(request_id), payload, self._content_type(content_type))

    @staticmethod
    def _response_path(request_id: str) -> str:
        return f"{_BASE}/invocation/{request_id}/response"

    @staticmethod
    def _content_type(content_type: str) -> dict[str, str]:
        return _CONTENT_TYPE_HEADERS.get(content_type) or {"Content-Type": content_type}

    def post_error(self, request_id: str, error_body: bytes, error_type: str) -> None:
        self._post_error_body(f"{_BASE}/invocation/{request_id}/error", error_body, error_type)

    def post_init_error(self, error_body: bytes, error_type: str) -> None:
        self._post_error_body(_INIT_ERROR, error_body, error_type)

    def restore_next(self) -> None:
        """SnapStart: tell the Runtime API the function is ready to be snapshotted (the answer has no body)."""
        status, body, _ = self._request("GET", _RESTORE_NEXT, None, _NO_HEADERS)
        if status != 200:
            raise RuntimeApiError(f"GET {_RESTORE_NEXT} answered {status}: {body[:200]!r}")

    def post_restore_error(self, error_body: bytes, error_type: str) -> None:
        """SnapStart: an after-restore hook failed in this restored copy."""
        self._post_error_body(_RESTORE_ERROR, error_body, error_type)

    def _post_error_body(self, path: str, error_body: bytes, error_type: str) -> None:
        self._post(path, error_body, {"Content-Type": _JSON, _ERROR_TYPE_HEADER: error_type})

    def _post(self, path: str, payload: bytes, headers: dict[str, str], then: bytes = b"") -> None:
        status, body, _ = self._request("POST", path, payload, headers, then)
        # 413: the payload was too large; the server has already recorded that as the invoke's error.
        if not 200 <= status < 300 and status != _PAYLOAD_TOO_LARGE:
            raise RuntimeApiError(f"POST {path} answered {status}: {body[:200]!r}")

    def _request(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str], then: bytes = b""
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = self._conn
        reused = conn.sock is not None
        try:
            try:
                return conn.exchange(method, path, payload, headers, then)
            except _STALE_CONNECTION:
                if not reused:
                    raise
                conn.close()
                return conn.exchange(method, path, payload, headers, then)
        except (OSError, _ProtocolError, ValueError) as exc:
            conn.close()
            raise RuntimeApiError(f"{method} http://{self._address}{path} failed: {exc!r}") from exc
