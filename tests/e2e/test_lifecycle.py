"""Execution environments over their life: init failures, timeouts, crashes, memory, reaping, updates."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.server_process import FireboxServer
from tests.zips import make_zip


def _payload(response: dict[str, Any]) -> Any:
    return json.loads(response["Payload"].read())


def _descendants(pid: int) -> set[int]:
    """Every process below `pid`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _wait_until(condition: Callable[[], bool], deadline_s: float = 15.0) -> None:
    limit = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > limit:
            raise AssertionError("condition not met before the deadline")
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"app.py": "def handler(e, c): pass\n"},
            "missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'missing': No module named 'missing'",
        ),
        (
            {"app.py": "def handler(e, c): pass\n"},
            "app.nothere",
            "Runtime.HandlerNotFound",
            "Handler 'nothere' missing on module 'app'",
        ),
        (
            {"app.py": "def handler(e, c) pass\n"},
            "app.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'app'",
        ),
        (
            {"app.py": "import nosuchpackage\n"},
            "app.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'app': No module named 'nosuchpackage'",
        ),
        ({"app.py": "raise RuntimeError('init broke')\n"}, "app.handler", "RuntimeError", "init broke"),
    ],
)
def test_init_errors(
    lambda_client: Any,
    create_function: Any,
    function_name: str,
    files: dict[str, str],
    handler: str,
    error_type: str,
    message: str,
) -> None:
    create_function(files, handler=handler)
    for _ in range(2):  # a failed init leaves nothing behind: the next invoke tries afresh
        response = lambda_client.invoke(FunctionName=function_name)
        assert response["FunctionError"] == "Unhandled"
        error = _payload(response)
        assert error["errorType"] == error_type
        assert error["errorMessage"].startswith(message)


def test_init_is_capped_at_10_seconds(lambda_client: Any, create_function: Any, function_name: str) -> None:
    create_function({"app.py": "import time\ntime.sleep(30)\ndef handler(e, c): return 1\n"}, Timeout=60)
    started = time.monotonic()
    response = lambda_client.invoke(FunctionName=function_name)
    assert 9.5 < time.monotonic() - started < 20
    assert _payload(response)["errorType"] == "Sandbox.Timedout"


def test_timeout_kills_and_the_next_invoke_works(lambda_client: Any, create_function: Any, function_name: str) -> None:
    create_function(
        {"app.py": "import time\nSTARTS = 0\ndef handler(e, c):\n    time.sleep(e['s'])\n    return 'ok'\n"},
        Timeout=1,
    )
    response = lambda_client.invoke(FunctionName=function_name, Payload=b'{"s": 5}', LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = _payload(response)
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert "Status: timeout" in __import__("base64").b64decode(response["LogResult"]).decode()
    assert _payload(lambda_client.invoke(FunctionName=function_name, Payload=b'{"s": 0}')) == "ok"


def test_crash_is_a_runtime_exit_error(lambda_client: Any, create_function: Any, function_name: str) -> None:
    create_function({"app.py": "import os\ndef handler(e, c):\n    if e.get('die'): os._exit(3)\n    return 'alive'\n"})
    response = lambda_client.invoke(FunctionName=function_name, Payload=b'{"die": true}')
    error = _payload(response)
    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith("Runtime exited with error: exit status 3")
    assert _payload(lambda_client.invoke(FunctionName=function_name)) == "alive"


def test_memory_limit_is_enforced(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer
) -> None:
    create_function(
        {"app.py": "def handler(e, c):\n    block = bytearray(e['mb'] * 1024 * 1024)\n    return len(block)\n"},
        MemorySize=128,
    )
    assert _payload(lambda_client.invoke(FunctionName=function_name, Payload=b'{"mb": 32}')) == 32 * 1024 * 1024
    response = lambda_client.invoke(FunctionName=function_name, Payload=b'{"mb": 256}', LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    error = _payload(response)
    assert error["errorType"] == "Runtime.OutOfMemory"
    report = __import__("base64").b64decode(response["LogResult"]).decode().splitlines()[-1]
    assert "Error Type: Runtime.OutOfMemory" in report
    assert int(report.split("Max Memory Used: ")[1].split()[0]) >= 120
    assert _payload(lambda_client.invoke(FunctionName=function_name, Payload=b'{"mb": 1}')) == 1024 * 1024
    assert server.process is not None and server.process.poll() is None


def _create_and_invoke(server: FireboxServer, name: str) -> None:
    client = server.client()
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role="arn:aws:iam::000000000000:role/x",
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c): return 1\n"})},
    )
    client.invoke(FunctionName=name)


def test_idle_environments_are_reaped(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--keep-alive", "0.5")
    _create_and_invoke(server, "reaped")
    assert server.sandbox_pids()
    _wait_until(lambda: not server.sandbox_pids())


def test_update_sends_new_invokes_to_new_environments(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer
) -> None:
    create_function(
        {"app.py": "import time\ndef handler(e, c):\n    time.sleep(e.get('s', 0))\n    return 'old'\n"},
        Timeout=10,
    )
    assert _payload(lambda_client.invoke(FunctionName=function_name)) == "old"
    results: list[Any] = []
    slow = threading.Thread(
        target=lambda: results.append(_payload(lambda_client.invoke(FunctionName=function_name, Payload=b'{"s": 2}')))
    )
    slow.start()
    logs = server.client("logs")

    def slow_one_started() -> bool:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}", filterPattern='"START"')
        return len(found["events"]) == 2

    _wait_until(slow_one_started)
    lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'new'\n"})
    )
    assert _payload(lambda_client.invoke(FunctionName=function_name)) == "new"
    slow.join(10)
    assert results == ["old"]


def test_huge_output_is_truncated_and_memory_stays_bounded(
    lambda_client: Any, create_function: Any, function_name: str, server: FireboxServer
) -> None:
    assert server.process is not None
    status = Path(f"/proc/{server.process.pid}/status")

    def rss_mb() -> int:
        line = next(x for x in status.read_text().splitlines() if x.startswith("VmRSS:"))
        return int(line.split()[1]) // 1024

    create_function(
        {
            "app.py": "import sys\ndef handler(e, c):\n    line = 'y' * 1023 + '\\n'\n"
            "    for _ in range(100 * 1024):\n        sys.stdout.write(line)\n    return 'printed'\n"
        },
        Timeout=120,
    )
    before = rss_mb()
    response = lambda_client.invoke(FunctionName=function_name, LogType="Tail")
    assert _payload(response) == "printed"
    tail = __import__("base64").b64decode(response["LogResult"]).decode()
    assert "bytes of log output dropped" in tail
    assert rss_mb() - before < 60


def test_ctrl_c_ends_every_sandbox(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    _create_and_invoke(server, "stays")
    assert server.process is not None
    sandboxes = _descendants(server.process.pid)
    assert sandboxes
    assert server.stop(signal.SIGINT) == 0
    for pid in sandboxes:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert os.path.exists(server.data_dir / "state.db")


_FREEZER_PATH = """
def handler(event, context):
    for line in open("/proc/self/cgroup").read().splitlines():
        _, controllers, path = line.split(":", 2)
        if "freezer" in controllers.split(","):
            return path
    return None
"""


def test_idle_environment_is_frozen_and_thawed_for_the_next_invocation(
    lambda_client: Any, create_function: Any, function_name: str
) -> None:
    create_function({"app.py": _FREEZER_PATH})
    path = _payload(lambda_client.invoke(FunctionName=function_name))
    state = Path("/sys/fs/cgroup/freezer") / str(path).lstrip("/") / "freezer.state"
    if path is None or not state.exists():
        pytest.skip("no cgroup v1 freezer to observe here")
    _wait_until(lambda: state.read_text().strip() == "FROZEN")
    assert _payload(lambda_client.invoke(FunctionName=function_name)) == path
