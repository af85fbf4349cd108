"""SnapStart in the Python runtime client: the snapshot_restore_py hooks, run around the sandbox's snapshot.

A SnapStart template is the runtime's main() given a `snapshot` callable, which the sandbox provides
(forking there); here a small driver program passes one that records its call and returns, so the one
process plays the template, then its restored copy. The user's
hooks, the driver and the scripted Runtime API all append to one events file, so the order in which
things happened across the function and the server reads off as one timeline.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiohttp import web

from firebox.runtime import PYTHON_BOOTSTRAP

from .bootstrap_harness import PYTHONS, Invocation, assert_served_all, run, run_against_api, write

RUNTIME_DIR = PYTHON_BOOTSTRAP.parent
BASE = "/2018-06-01/runtime"
ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"

# Started as `python driver.py <runtime dir> <record|predict|none>`: what bootstrap.py does, plus a snapshot.
DRIVER = '''
import os
import sys
import types

package = types.ModuleType("_fbx_runtime")
package.__path__ = [sys.argv[1]]
sys.modules["_fbx_runtime"] = package
from _fbx_runtime._fbx_loop import main


def note(what):
    with open(os.environ["EVENTS"], "a") as events:
        events.write(what + "\\n")


def record():
    note("snapshot")


def predict():
    """Note what the global generator would draw next, were the copy to keep the template's state. Not
    a fork: CPython reseeds `random` in a fork's child by itself, which would hide a missing reseed."""
    import random

    twin = random.Random()
    twin.setstate(random.getstate())
    note("template would draw " + repr(twin.random()))


sys.exit(main({"record": record, "predict": predict, "none": None}[sys.argv[2]]))
'''

# User code registering two hooks of each kind, in both forms; every hook notes its call.
HOOKS_APP = """
import os
from snapshot_restore_py import register_after_restore, register_before_snapshot

def note(what):
    with open(os.environ["EVENTS"], "a") as events:
        events.write(what + "\\n")

@register_before_snapshot
def first_before():
    note("first before")

def second_before(a, b, *, c):
    note(f"second before {a} {b} {c}")
    if os.environ.get("FAIL") == "before":
        raise ValueError("cannot snapshot")

register_before_snapshot(second_before, 1, 2, c=3)

def first_after(a, *, b):
    note(f"first after {a} {b}")
    if os.environ.get("FAIL") == "after":
        raise KeyError("cannot restore")

register_after_restore(first_after, "x", b="y")

@register_after_restore
def second_after():
    note("second after")

def handler(event, context):
    note("handler")
    return event
"""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    port: int  # the client's port: which connection carried it


@dataclass(frozen=True, slots=True)
class SnapStartRun:
    returncode: int
    events: list[str]
    requests: list[Request]
    stdout: str
    stderr: str

    def only(self, method: str, path: str) -> Request:
        matches = [r for r in self.requests if (r.method, r.path) == (method, BASE + path)]
        assert len(matches) == 1, (method, path, self.requests, self.stderr)
        return matches[0]


class SnapStartApi:
    """Answers restore/next with `restore_status`, hands out the invocations then 500, accepts every POST."""

    def __init__(self, events: Path, invocations: Sequence[Invocation], restore_status: int) -> None:
        self._events = events
        self._invocations = list(invocations)
        self._restore_status = restore_status
        self.requests: list[Request] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", BASE + "/{tail:.*}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        assert request.transport is not None
        port = request.transport.get_extra_info("peername")[1]
        body = await request.read()
        self.requests.append(Request(request.method, request.path, dict(request.headers), body, port))
        with self._events.open("a") as events:
            events.write(f"{request.method} {request.path.removeprefix(BASE)}\n")
        if request.path == BASE + "/restore/next":
            return web.Response(status=self._restore_status)
        if request.path == BASE + "/invocation/next":
            if not self._invocations:
                return web.Response(status=500, text="no more invocations")
            invocation = self._invocations.pop(0)
            return web.Response(body=json.dumps(invocation.event).encode(), headers=invocation.response_headers())
        return web.Response(status=202, text="{}")


async def _run_snapstart(
    python: str,
    tmp_path: Path,
    snapshot: str,
    invocations: Sequence[Invocation],
    env: Mapping[str, str],
    restore_status: int,
) -> SnapStartRun:
    task_root = tmp_path / "task"
    driver = write(tmp_path, "driver.py", DRIVER)
    events, stdout_path, stderr_path = tmp_path / "events", tmp_path / "stdout", tmp_path / "stderr"
    events.touch()
    api = SnapStartApi(events, invocations, restore_status)

    def environ_for(port: int) -> dict[str, str]:
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}",
            "_HANDLER": "app.handler",
            "LAMBDA_TASK_ROOT": str(task_root),
            "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start",
            "EVENTS": str(events),
            **env,
        }

    returncode = await run_against_api(
        api.app(), [python, str(driver), str(RUNTIME_DIR), snapshot], task_root, environ_for, stdout_path, stderr_path
    )
    return SnapStartRun(
        returncode,
        events.read_text().splitlines(),
        api.requests,
        stdout_path.read_bytes().decode(),
        stderr_path.read_bytes().decode(),
    )


def run_snapstart(
    python: str,
    tmp_path: Path,
    app: str,
    invocations: Sequence[Invocation] = (),
    *,
    snapshot: str = "record",  # or "predict" (see DRIVER), or "none": main() without a snapshot callable
    env: Mapping[str, str] | None = None,
    restore_status: int = 200,
) -> SnapStartRun:
    """Run the runtime as a SnapStart template whose function is `app` (app.py), serving `invocations`."""
    write(tmp_path / "task", "app.py", app)
    return asyncio.run(_run_snapstart(python, tmp_path, snapshot, invocations, env or {}, restore_status))


def load_hooks_module() -> ModuleType:
    """A fresh copy of the hooks module, so each test starts with no hooks registered."""
    spec = importlib.util.spec_from_file_location("fbx_hooks_under_test", RUNTIME_DIR / "_fbx_snapshot_hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the hooks API -----------------------------------------------------------------------------------


def test_registration_returns_the_function_and_keeps_order_and_arguments() -> None:
    hooks = load_hooks_module()

    def one() -> None: ...
    def two(*args: Any, **kwargs: Any) -> None: ...

    assert hooks.register_before_snapshot(one) is one
    assert hooks.register_before_snapshot(two, 1, "a", key="v") is two
    assert hooks.register_after_restore(two, 2) is two
    assert hooks.register_after_restore(one) is one

    @hooks.register_after_restore
    def decorated() -> None: ...

    assert callable(decorated) and decorated.__name__ == "decorated"
    assert hooks.get_before_snapshot() == [(one, (), {}), (two, (1, "a"), {"key": "v"})]
    assert hooks.get_after_restore() == [(two, (2,), {}), (one, (), {}), (decorated, (), {})]


# --- the snapshot sequence ---------------------------------------------------------------------------


@pytest.mark.parametrize("python", PYTHONS)
def test_hooks_run_around_the_snapshot_in_aws_order(python: str, tmp_path: Path) -> None:
    result = run_snapstart(python, tmp_path, HOOKS_APP, [Invocation("req-1", "ok")])

    assert result.returncode == 1, result.stderr  # the scripted end: GET next answered 500
    assert result.events == [
        "second before 1 2 3",  # last registered, first run
        "first before",
        "GET /restore/next",
        "snapshot",
        "first after x y",
        "second after",
        "GET /invocation/next",
        "handler",
        "POST /invocation/req-1/response",
        "GET /invocation/next",
    ]
    assert result.only("POST", "/invocation/req-1/response").body == b'"ok"'
    # The template's connection was closed before the snapshot: the copy opened its own.
    restore = result.only("GET", "/restore/next")
    assert all(r.port != restore.port for r in result.requests if r is not restore)


def test_failing_before_snapshot_hook_is_an_init_error(tmp_path: Path) -> None:
    result = run_snapstart(sys.executable, tmp_path, HOOKS_APP, env={"FAIL": "before"})

    assert result.returncode == 1
    assert result.events == ["second before 1 2 3", "POST /init/error"]  # no snapshot, no restore
    post = result.only("POST", "/init/error")
    assert post.headers[ERROR_TYPE] == "ValueError"
    body = json.loads(post.body)
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == ("ValueError", "cannot snapshot", "")
    assert body["stackTrace"][-1].endswith('raise ValueError("cannot snapshot")\n')
    assert "[ERROR] ValueError: cannot snapshot\r" in result.stdout


def test_failing_after_restore_hook_posts_restore_error(tmp_path: Path) -> None:
    result = run_snapstart(sys.executable, tmp_path, HOOKS_APP, [Invocation("req-1")], env={"FAIL": "after"})

    assert result.returncode == 1
    assert result.events[2:] == ["GET /restore/next", "snapshot", "first after x y", "POST /restore/error"]
    post = result.only("POST", "/restore/error")
    assert post.headers[ERROR_TYPE] == "KeyError"
    assert post.headers["Content-Type"] == "application/json"
    body = json.loads(post.body)
    assert (body["errorType"], body["errorMessage"], body["requestId"]) == ("KeyError", "'cannot restore'", "")
    assert body["stackTrace"][-1].endswith('raise KeyError("cannot restore")\n')
    assert "[ERROR] KeyError: 'cannot restore'\r" in result.stdout


def test_restore_next_refused_ends_the_template(tmp_path: Path) -> None:
    result = run_snapstart(sys.executable, tmp_path, HOOKS_APP, restore_status=500)

    assert result.returncode == 1
    assert result.events[-1] == "GET /restore/next"  # never snapshotted
    assert f"GET {BASE}/restore/next answered 500" in result.stderr


@pytest.mark.parametrize("python", PYTHONS)
def test_restored_copy_reseeds_random(python: str, tmp_path: Path) -> None:
    app = """
    import random

    def handler(event, context):
        return repr(random.random())
    """
    result = run_snapstart(python, tmp_path, app, [Invocation("req-1")], snapshot="predict")

    assert result.returncode == 1, result.stderr
    predicted = [e.removeprefix("template would draw ") for e in result.events if e.startswith("template would")]
    drawn = json.loads(result.only("POST", "/invocation/req-1/response").body)
    assert len(predicted) == 1 and drawn != predicted[0]


# --- without a snapshot ------------------------------------------------------------------------------


def test_snap_start_without_a_snapshot_callable_runs_no_hooks(tmp_path: Path) -> None:
    result = run_snapstart(sys.executable, tmp_path, HOOKS_APP, [Invocation("req-1", 1)], snapshot="none")

    assert result.returncode == 1, result.stderr
    assert result.events == [
        "GET /invocation/next",
        "handler",
        "POST /invocation/req-1/response",
        "GET /invocation/next",
    ]


@pytest.mark.parametrize("python", PYTHONS)
def test_user_code_imports_snapshot_restore_py_from_the_runtime(python: str, tmp_path: Path) -> None:
    # The plain bootstrap, no SnapStart; a copy the function bundled loses to the runtime's module.
    task_root = tmp_path / "task"
    write(task_root, "snapshot_restore_py.py", "raise ImportError('the bundled copy was imported')\n")
    write(
        task_root,
        "app.py",
        """
        import snapshot_restore_py
        from snapshot_restore_py import get_after_restore, register_after_restore

        @register_after_restore
        def hook():
            pass

        def handler(event, context):
            return [snapshot_restore_py.__name__, [f.__name__ for f, _, _ in get_after_restore()]]
        """,
    )
    result = run(python, task_root, "app.handler", [Invocation("req-1")])

    assert_served_all(result)
    assert result.post_to("/req-1/response").json() == ["_fbx_runtime._fbx_snapshot_hooks", ["hook"]]
