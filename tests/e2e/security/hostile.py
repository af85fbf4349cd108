"""Hostile functions: the helpers their code shares inside the sandbox, and how the tests call them.

Every attack handler returns what it observed as JSON, one entry per attempt: "refused: EPERM" when the
sandbox stopped it, "ok: ..." when it got through. An assertion failure then shows what leaked.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from tests.server_process import FireboxServer
from tests.zips import make_zip

# Shipped as `probe.py` in every hostile function's zip. Standard library only: it runs in the sandbox.
PROBE = '''
import ctypes
import errno
import os
import platform
import time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

SYSCALLS = {
    "x86_64": {"pivot_root": 155, "init_module": 175, "finit_module": 313, "kexec_load": 246, "bpf": 321,
               "perf_event_open": 298, "keyctl": 250, "reboot": 169,
               "process_vm_readv": 310, "clock_settime": 227, "syslog": 103, "open_by_handle_at": 304,
               "userfaultfd": 323, "personality": 135},
    "aarch64": {"pivot_root": 41, "init_module": 105, "finit_module": 273, "kexec_load": 104, "bpf": 280,
                "perf_event_open": 241, "keyctl": 219, "reboot": 142,
                "process_vm_readv": 270, "clock_settime": 112, "syslog": 116, "open_by_handle_at": 265,
                "userfaultfd": 282, "personality": 92},
}[platform.machine()]


def attempt(action, *args):
    """What one hostile call achieved: "ok: <result>", or "refused: <errno name>"."""
    try:
        result = action(*args)
    except OSError as exc:
        refused = "refused: " + (errno.errorcode.get(exc.errno or 0) or type(exc).__name__)
        said = exc.strerror if exc.errno is None or exc.strerror != os.strerror(exc.errno) else None
        return refused + (" (" + str(said)[:200] + ")" if said else "")
    return "ok: " + repr(result)[:300]


def in_child(action, *args):
    """attempt(action, *args) in a forked child: what changes its own process (a chroot, a namespace) or
    what seccomp may kill for stays there."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.write(write_end, attempt(action, *args).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    said = b""
    while True:
        more = os.read(read_end, 4096)
        if not more:
            break
        said += more
    os.close(read_end)
    status = os.waitpid(child, 0)[1]
    return said.decode() or "refused: killed by signal " + str(os.WTERMSIG(status))


def syscall(name, *args):
    """A raw system call by name; raises OSError as the os module does."""
    result = libc.syscall(SYSCALLS[name], *args)
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def checked(result):
    """A libc call's result, or the OSError its errno means."""
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
    return result


def walk(top, skip=(), budget_s=3.0):
    """Every file path under `top`, not descending into `skip`, for at most `budget_s` seconds."""
    deadline = time.monotonic() + budget_s
    for directory, subdirectories, files in os.walk(top):
        subdirectories[:] = [d for d in subdirectories if os.path.join(directory, d) not in skip]
        for name in files:
            yield os.path.join(directory, name)
        if time.monotonic() > deadline:
            return


def read(path):
    with open(path, "rb") as f:
        return f.read(4096).decode("utf-8", "replace")
'''


ROLE = "arn:aws:iam::000000000000:role/firebox-test"

# A function that must keep answering whatever the others do.
CANARY = "def handler(event, context):\n    return {'echo': event, 'pid': __import__('os').getpid()}\n"


@dataclass(frozen=True, slots=True)
class Outcome:
    payload: Any
    function_error: str | None
    log_tail: str = ""  # with LogType="Tail": the end of the invocation's log

    @property
    def error_type(self) -> str | None:
        return self.payload.get("errorType") if isinstance(self.payload, dict) else None


def invoke(client: Any, name: str, event: Any = None, **extra: Any) -> Outcome:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **extra)
    tail = base64.b64decode(response.get("LogResult", "")).decode("utf-8", "replace")
    return Outcome(json.loads(response["Payload"].read()), response.get("FunctionError"), tail)


def client_of(server: FireboxServer) -> Any:
    """A Lambda client with connections of its own, which gives up soon on a server that no longer answers."""
    return boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 0}, connect_timeout=5, read_timeout=30),
        **server.credentials,
    )


def deploy_on(server: FireboxServer, name: str, source: str, **config: Any) -> str:
    """Create a hostile function on a server of the test's own (the `deploy` fixture uses the session's)."""
    client_of(server).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": source, "probe.py": PROBE})},
        **config,
    )
    return name


def succeeded(observed: dict[str, str]) -> dict[str, str]:
    """The attempts that got through."""
    return {what: result for what, result in observed.items() if not result.startswith("refused")}


def wait_for(condition: Callable[[], Any], deadline_s: float, what: str) -> Any:
    """Poll `condition` until it returns something truthy; fail naming `what` past the deadline."""
    limit = time.monotonic() + deadline_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > limit:
            raise AssertionError(f"{what}: not within {deadline_s:.0f} s")
        time.sleep(0.05)


def logged(logs: Any, name: str, text: str) -> list[str]:
    """Messages of the function's log that contain `text`; none while its log group does not exist yet."""
    try:
        response = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{text}"')
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [event["message"] for event in response["events"]]


@dataclass(frozen=True, slots=True)
class HostProcess:
    pid: int
    parent: int
    uid: int
    name: str
    command: str  # argv[0]


def host_processes() -> dict[int, HostProcess]:
    """Every process of the host, as the test (outside every sandbox) sees it."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(line.split(":\t", 1) for line in (entry / "status").read_text().splitlines() if ":\t" in line)
            command = (entry / "cmdline").read_bytes().split(b"\0")[0].decode("utf-8", "replace")
        except OSError:
            continue  # ended while we looked
        pid = int(entry.name)
        found[pid] = HostProcess(
            pid, int(fields["PPid"]), int(fields["Uid"].split()[0]), fields["Name"].strip(), command
        )
    return found


def descendants(pid: int, processes: dict[int, HostProcess]) -> list[HostProcess]:
    below, todo = [], [pid]
    while todo:
        parent = todo.pop()
        children = [p for p in processes.values() if p.parent == parent]
        below += children
        todo += [child.pid for child in children]
    return below
