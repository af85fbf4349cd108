"""A scripted Runtime API server, a runner that points the real Python bootstrap at it, and the
interpreters to run it under.

The server hands out the invocations it was given, in order, then answers GET next with 500: the
bootstrap's cue to exit with status 1, which ends every run without a timer.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import textwrap
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from firebox.runtime import PYTHON_BOOTSTRAP

_PYENV = "/root/.pyenv/versions"
_OTHER_PYTHONS = {
    "py3.9": f"{_PYENV}/3.9.18/bin/python3.9",  # the oldest the bootstrap promises to run under
    "py3.12": f"{_PYENV}/3.12.1/bin/python3.12",
    "py3.13": f"{_PYENV}/3.13.0/bin/python3.13",
}
PYTHONS = [
    pytest.param(sys.executable, id="venv"),
    *(
        pytest.param(path, id=name, marks=pytest.mark.skipif(not os.access(path, os.X_OK), reason=f"no {path}"))
        for name, path in _OTHER_PYTHONS.items()
    ),
]
RUN_TIMEOUT_S = 15.0
NEXT_PATH = "/2018-06-01/runtime/invocation/next"
INIT_ERROR_PATH = "/2018-06-01/runtime/init/error"
STOPPED = f"GET {NEXT_PATH} answered 500"


@dataclass(frozen=True, slots=True)
class Invocation:
    request_id: str
    event: object = None
    deadline_ms: int = 0  # 0: one minute from when the invocation is made
    headers: Mapping[str, str] = field(default_factory=dict)  # extra Lambda-Runtime-* headers

    def response_headers(self) -> dict[str, str]:
        deadline = self.deadline_ms or int(time.time() * 1000) + 60_000
        return {
            "Lambda-Runtime-Aws-Request-Id": self.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:fn",
            **self.headers,
        }


@dataclass(frozen=True, slots=True)
class Post:
    path: str
    headers: Mapping[str, str]
    body: bytes
    stdout_on_arrival: bytes  # what the function had written to stdout when this POST arrived

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class RunResult:
    returncode: int
    posts: list[Post]
    next_calls: int
    connection_ports: list[int]  # client port of every request, in order
    stdout: str
    stderr: str

    def post_to(self, suffix: str) -> Post:
        matches = [post for post in self.posts if post.path.endswith(suffix)]
        assert len(matches) == 1, (suffix, self.posts, self.stderr)
        return matches[0]


class FakeRuntimeApi:
    def __init__(
        self,
        invocations: list[Invocation],
        stdout_path: Path,
        post_status: Mapping[str, int],
        drop_after: Collection[str],
    ) -> None:
        self._queue: asyncio.Queue[Invocation | None] = asyncio.Queue()
        for invocation in invocations:
            self._queue.put_nowait(invocation)
        self._queue.put_nowait(None)
        self._stdout_path = stdout_path
        self._post_status = post_status  # request id -> status to answer its response POST with
        # Request ids whose response POST is answered, then has its connection closed without a
        # "Connection: close" header: a keep-alive connection the server dropped while idle.
        self._drop_after = drop_after
        self.posts: list[Post] = []
        self.next_calls = 0
        self.connection_ports: list[int] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(NEXT_PATH, self._next)
        app.router.add_post("/2018-06-01/runtime/invocation/{request_id}/{kind:response|error}", self._post)
        app.router.add_post(INIT_ERROR_PATH, self._post)
        return app

    def release_waiters(self) -> None:
        self._queue.put_nowait(None)

    def _note_connection(self, request: web.Request) -> None:
        assert request.transport is not None
        self.connection_ports.append(request.transport.get_extra_info("peername")[1])

    async def _next(self, request: web.Request) -> web.Response:
        self._note_connection(request)
        self.next_calls += 1
        invocation = await self._queue.get()
        if invocation is None:
            return web.Response(status=500, text="no more invocations")
        body = json.dumps(invocation.event).encode()
        return web.Response(body=body, headers=invocation.response_headers(), content_type="application/json")

    async def _post(self, request: web.Request) -> web.StreamResponse:
        self._note_connection(request)
        stdout = self._stdout_path.read_bytes()
        body = await request.read()
        self.posts.append(Post(request.path, dict(request.headers), body, stdout))
        request_id = request.match_info.get("request_id", "")
        status = 202
        if request.match_info.get("kind") == "response":
            status = self._post_status.get(request_id, 202)
        response = web.Response(status=status, text="{}")
        if request_id in self._drop_after:
            await response.prepare(request)
            await response.write_eof()
            assert request.transport is not None
            request.transport.close()  # sends what is buffered, then FIN
        return response


async def run_against_api(
    app: web.Application,
    command: Sequence[str],
    cwd: Path,
    environ_for: Callable[[int], Mapping[str, str]],
    stdout_path: Path,
    stderr_path: Path,
    before_cleanup: Callable[[], None] = lambda: None,
) -> int:
    """Serve `app` on a port of its own and run `command` (its environment from `environ_for(port)`, its
    output into the two files) until it exits; returns its exit status. `before_cleanup` runs before the
    server stops (to let requests still waiting go)."""
    runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        await web.SockSite(runner, sock).start()
        port = sock.getsockname()[1]
        with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
            process = await asyncio.create_subprocess_exec(
                *command,
                cwd=cwd,
                env=dict(environ_for(port)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
            try:
                return await asyncio.wait_for(process.wait(), RUN_TIMEOUT_S)
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    finally:
        before_cleanup()
        await runner.cleanup()
        sock.close()


async def run_bootstrap(
    python: str,
    task_root: Path,
    handler: str,
    invocations: Sequence[Invocation] = (),
    *,
    env: Mapping[str, str] | None = None,
    post_status: Mapping[str, int] | None = None,
    drop_after: Collection[str] = (),
) -> RunResult:
    """Run the bootstrap under `python` until it exits, serving it `invocations`."""
    logs = task_root.parent / "logs"
    logs.mkdir(exist_ok=True)
    stdout_path, stderr_path = logs / "stdout", logs / "stderr"
    api = FakeRuntimeApi(list(invocations), stdout_path, post_status or {}, drop_after)
    returncode = await run_against_api(
        api.app(),
        [python, str(PYTHON_BOOTSTRAP)],
        task_root,
        lambda port: _lambda_environ(port, task_root, handler, env or {}),
        stdout_path,
        stderr_path,
        before_cleanup=api.release_waiters,
    )
    return RunResult(
        returncode,
        api.posts,
        api.next_calls,
        api.connection_ports,
        stdout_path.read_bytes().decode(),  # bytes: read_text would turn \r into \n
        stderr_path.read_bytes().decode(),
    )


def _lambda_environ(port: int, task_root: Path, handler: str, extra: Mapping[str, str]) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2024/01/01/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
        **extra,
    }


def write(task_root: Path, name: str, source: str) -> Path:
    """Write a (dedented) source file of the function's code; returns its path."""
    path = task_root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip())
    return path


def run(
    python: str, task_root: Path, handler: str, invocations: Sequence[Invocation] = (), **options: Any
) -> RunResult:
    return asyncio.run(run_bootstrap(python, task_root, handler, invocations, **options))


def assert_served_all(result: RunResult) -> None:
    """The run ended the scripted way: every invocation served, then exit 1 on GET next's 500."""
    assert result.returncode == 1, result.stderr
    assert STOPPED in result.stderr, result.stderr
