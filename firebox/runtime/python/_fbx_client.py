"""The Runtime API (2018-06-01) as seen from inside an execution environment.

One keep-alive HTTP/1.1 connection carries every request: the worker's API server lives on the same
machine, so a new TCP handshake per call would be most of the per-invoke cost.
"""

from __future__ import annotations

import http.client
from typing import NamedTuple

_BASE = "/2018-06-01/runtime"
_NEXT = _BASE + "/invocation/next"
_INIT_ERROR = _BASE + "/init/error"
_JSON = "application/json"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_PAYLOAD_TOO_LARGE = 413
# Built once: the warm path should allocate no more than it must.
_NO_HEADERS: dict[str, str] = {}
_CONTENT_TYPE_HEADERS = {
    content_type: {"Content-Type": content_type} for content_type in (_JSON, "application/unknown")
}
# The server may close an idle keep-alive connection at any moment; a request that fails this way on
# a reused connection never reached the server, so it is sent once more on a fresh one.
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


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
    """Blocking client for the four Runtime API calls a runtime makes."""

    def __init__(self, address: str) -> None:
        # timeout=None, not the default: GET next blocks for as long as the function sits idle, and a
        # handler calling socket.setdefaulttimeout() must not give our socket a deadline.
        self._conn = http.client.HTTPConnection(address, timeout=None)
        self._address = address

    def close(self) -> None:
        self._conn.close()

    def next_invocation(self) -> Invocation:
        status, body, headers = self._request("GET", _NEXT, None, _NO_HEADERS)
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
        path = f"{_BASE}/invocation/{request_id}/response"
        headers = _CONTENT_TYPE_HEADERS.get(content_type) or {"Content-Type": content_type}
        self._post(path, payload, headers)

    def post_error(self, request_id: str, error_body: bytes, error_type: str) -> None:
        path = f"{_BASE}/invocation/{request_id}/error"
        self._post(path, error_body, {"Content-Type": _JSON, _ERROR_TYPE_HEADER: error_type})

    def post_init_error(self, error_body: bytes, error_type: str) -> None:
        self._post(_INIT_ERROR, error_body, {"Content-Type": _JSON, _ERROR_TYPE_HEADER: error_type})

    def _post(self, path: str, payload: bytes, headers: dict[str, str]) -> None:
        status, body, _ = self._request("POST", path, payload, headers)
        # 413: the payload was too large; the server has already recorded that as the invoke's error.
        if not 200 <= status < 300 and status != _PAYLOAD_TOO_LARGE:
            raise RuntimeApiError(f"POST {path} answered {status}: {body[:200]!r}")

    def _request(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = self._conn
        reused = conn.sock is not None
        try:
            try:
                return self._exchange(method, path, payload, headers)
            except _STALE_CONNECTION:
                if not reused:
                    raise
                conn.close()
                return self._exchange(method, path, payload, headers)
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise RuntimeApiError(f"{method} http://{self._address}{path} failed: {exc!r}") from exc

    def _exchange(
        self, method: str, path: str, payload: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        conn = self._conn
        conn.request(method, path, payload, headers)
        response = conn.getresponse()
        body = response.read()
        # Header names are case-insensitive; one lowered dict beats repeated scans of the message.
        return response.status, body, {name.lower(): value for name, value in response.getheaders()}
