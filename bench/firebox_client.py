"""The benchmarks' side of a Firebox server under test: start it, create functions, time Invoke over HTTP.

Invocations go over one keep-alive `http.client` connection, so a sample is a request and its response on
loopback and nothing else. With `tail=True` the request asks for `LogType=Tail`, and the REPORT line Lambda
writes for the invocation is read from the base64 `X-Amz-Log-Result` header: its `Init Duration` is the
server's own account of a cold start.
"""

from __future__ import annotations

import base64
import http.client
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any

from tests.server_process import FireboxServer
from tests.zips import make_zip

ROLE = "arn:aws:iam::000000000000:role/firebox-bench"
RUNTIME = f"python{sys.version_info[0]}.{sys.version_info[1]}"  # this interpreter's version, so it is installed
# One full vCPU on Lambda's scale: a latency figure then measures Firebox, not a small function's CPU share.
FULL_VCPU_MB = 1769
_INVOKE_TIMEOUT_S = 60.0
_STOP_DEADLINE_S = 300.0  # a server with a thousand environments destroys each of them on the way out
_LOG_TAIL_CHARS = 4000  # of the server's log, added to an error raised while it runs


class InvokeFailed(RuntimeError):
    """An invocation did not answer 200 without a function error; the message says what it answered."""


@dataclass(frozen=True, slots=True)
class Invoked:
    latency_ms: float  # request sent to response read, on the client
    report: Mapping[str, str] = field(default_factory=dict)  # the REPORT line's fields, when asked for

    @property
    def init_duration_ms(self) -> float | None:
        """The server's Init Duration: present on a cold start's REPORT line only."""
        value = self.report.get("Init Duration")
        return float(value.removesuffix(" ms")) if value is not None else None


def parse_report(log_tail: str) -> dict[str, str]:
    """The fields of the last REPORT line in `log_tail` ("Duration" -> "1.02 ms"); empty if there is none."""
    reports = [line for line in log_tail.splitlines() if line.startswith("REPORT ")]
    if not reports:
        return {}
    fields = (part.partition(": ") for part in reports[-1].removeprefix("REPORT ").split("\t") if part)
    return {name: value for name, _, value in fields}


@contextmanager
def running_server(data_dir: Path, *args: str) -> Iterator[FireboxServer]:
    """A `firebox serve` with `args` (warning-level logs), stopped when the context ends; an error raised
    meanwhile carries the end of the server's log."""
    data_dir.parent.mkdir(parents=True, exist_ok=True)  # the server's log goes beside its data directory
    server = FireboxServer(data_dir, "--log-level", "warning", *args).start()
    try:
        yield server
    except Exception as exc:
        exc.add_note(f"the server's log ends with:\n{server.log()[-_LOG_TAIL_CHARS:]}")
        raise
    finally:
        server.stop(deadline_s=_STOP_DEADLINE_S)


def create_functions(server: FireboxServer, names: Iterable[str], source: str, memory_mb: int = 128) -> None:
    """Create one Python function per name, each with `source` as its `app.py`, `app.handler` as handler and
    `memory_mb` of memory (128 MB, Lambda's default, unless told)."""
    client = server.client()
    code = make_zip({"app.py": source})
    for name in names:
        client.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": code},
            MemorySize=memory_mb,
        )


def signed_headers(
    server: FireboxServer | None,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    service: str = "lambda",
) -> dict[str, str]:
    """`headers` and the SigV4 signature of the request by the server's administrator, as boto3 signs it (a
    bare server, None, takes the headers as they are). A signature holds for 15 minutes, so a load generator
    may send the same signed request again and again."""
    if server is None:
        return dict(headers or {})
    return dict(server.signed_request(method, path, body, dict(headers or {}), service).header_items())


class InvokeClient:
    """Synchronous invocations over one keep-alive HTTP connection to a server on loopback (a Firebox server,
    whose requests are signed; or a bare server's port)."""

    def __init__(self, target: FireboxServer | int) -> None:
        self._server = target if isinstance(target, FireboxServer) else None
        port = target.port if isinstance(target, FireboxServer) else target
        self._connection = http.client.HTTPConnection("127.0.0.1", port, timeout=_INVOKE_TIMEOUT_S)

    def __enter__(self) -> InvokeClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        self._connection.close()

    def invoke(self, name: str, payload: bytes = b"{}", *, tail: bool = False) -> Invoked:
        """Invoke `name` and time it; raises InvokeFailed unless it answered 200 with no function error."""
        headers = {"Content-Type": "application/json"}
        if tail:
            headers["X-Amz-Log-Type"] = "Tail"
        path = f"/2015-03-31/functions/{name}/invocations"
        headers = signed_headers(self._server, "POST", path, payload, headers)
        started = perf_counter()
        self._connection.request("POST", path, payload, headers)
        reply = self._connection.getresponse()
        body = reply.read()
        latency_ms = (perf_counter() - started) * 1000
        if reply.status != 200 or reply.getheader("X-Amz-Function-Error"):
            error = reply.getheader("X-Amz-Function-Error")
            raise InvokeFailed(f"invoking {name} answered {reply.status} {error or ''}: {body[:500]!r}")
        if not tail:
            return Invoked(latency_ms)
        log_tail = base64.b64decode(reply.getheader("X-Amz-Log-Result") or "").decode(errors="replace")
        return Invoked(latency_ms, parse_report(log_tail))
