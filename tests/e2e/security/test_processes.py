"""Processes: a function sees only its own PID namespace, cannot signal anything outside it, inherits no
descriptor from the host, and finds no other function's secrets in the memory its zygote gave it."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
from collections.abc import Callable
from typing import Any

from tests.e2e.security.hostile import client_of, deploy_on, descendants, host_processes, invoke, succeeded
from tests.server_process import FireboxServer

LOOK_AROUND = """
import os
import signal
from probe import attempt, read

def handler(event, context):
    pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    observed = {
        "other pids in /proc": "ok: " + repr(pids) if pids != [1] else "refused: only pid 1",
        "parent": "ok: " + str(os.getppid()) if os.getppid() != 0 else "refused: no parent in this namespace",
    }
    for name, pid in event["pids"].items():
        observed[f"kill({name}, 0)"] = attempt(os.kill, pid, 0)
        observed[f"pidfd_open({name})"] = attempt(os.pidfd_open, pid)
        for what in ("cmdline", "environ", "status"):
            observed[f"/proc/{name}/{what}"] = attempt(read, f"/proc/{pid}/{what}")
    return observed
"""

SIGNAL_OUT = """
import os
import signal
import time
from probe import attempt

def handler(event, context):
    if not event:
        return "warm"
    attempts = {f"SIGKILL {name}": attempt(os.kill, pid, signal.SIGKILL) for name, pid in event["kill"].items()}
    attempts.update({f"SIGSTOP {name}": attempt(os.kill, pid, signal.SIGSTOP) for name, pid in event["kill"].items()})
    attempts.update({f"killpg {name}": attempt(os.killpg, pid, signal.SIGKILL) for name, pid in event["kill"].items()})
    # The test itself only gets harmless signals: a leak must not end the test run.
    attempts.update({f"SIGCONT {name}": attempt(os.kill, pid, signal.SIGCONT) for name, pid in event["poke"].items()})
    child = os.fork()
    if child == 0:
        while True:
            time.sleep(1)
    # Every process this one may signal: its own child, and nothing outside its PID namespace. Outside a PID
    # namespace of its own, or as root, kill(-1) would take the host down with it: then it only reports.
    if os.getpid() == 1 and os.getuid() != 0:
        everything = attempt(os.kill, -1, signal.SIGKILL)
    else:
        everything = "not tried: not alone in a PID namespace as an unprivileged user"
        os.kill(child, signal.SIGKILL)
    return {"attempts": attempts, "kill(-1, SIGKILL)": everything, "child": os.waitpid(child, 0)[1]}
"""

FDS = """
import os

def handler(event, context):
    own = set()
    for table in ("unix", "tcp", "tcp6", "udp", "udp6", "netlink"):
        with open("/proc/net/" + table) as f:
            lines = f.read().splitlines()[1:]
        column = 6 if table == "unix" else (-1 if table == "netlink" else 9)
        own.update(line.split()[column] for line in lines if len(line.split()) > abs(column))
    observed = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # the directory's own descriptor, closed by now
        if target.startswith("socket:["):
            inside = target[len("socket:["):-1] in own
            observed[fd] = ("refused: " if inside else "ok: from outside this sandbox: ") + target
        elif target.startswith(("pipe:", "anon_inode:")) or target in ("/dev/null", "/proc/self/fd"):
            observed[fd] = "refused: " + target
        else:
            observed[fd] = "ok: " + target
    return observed
"""

CHANNELS = """
import ctypes
import socket
from probe import attempt, checked, libc

IPC_CREAT = 0o1000
LISTENERS = []  # kept open for the environment's life

def _connect(name):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect("\\0" + name)

def _listed(path, text):
    with open(path) as f:
        lines = [line for line in f.read().splitlines()[1:] if text in line]
    if not lines:
        raise FileNotFoundError(2, "not listed")
    return lines

def _open_channels(key, name, secret):
    segment = checked(libc.shmget(key, 4096, IPC_CREAT | 0o600))
    libc.shmat.restype = ctypes.c_void_p
    ctypes.memmove(libc.shmat(segment, None, 0), secret.encode(), len(secret))
    checked(libc.msgget(key, IPC_CREAT | 0o600))
    checked(libc.semget(key, 1, IPC_CREAT | 0o600))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\\0" + name)
    listener.listen(8)
    LISTENERS.append(listener)

def handler(event, context):
    key, name = event["key"], event["name"]
    if event.get("secret"):
        _open_channels(key, name, event["secret"])
    return {
        "shmget": attempt(lambda: checked(libc.shmget(key, 0, 0))),
        "msgget": attempt(lambda: checked(libc.msgget(key, 0))),
        "semget": attempt(lambda: checked(libc.semget(key, 0, 0))),
        "/proc/sysvipc/shm": attempt(_listed, "/proc/sysvipc/shm", str(key)),
        "connect @" + name: attempt(_connect, name),
        "/proc/net/unix": attempt(_listed, "/proc/net/unix", name),
    }
"""

VICTIM = """
import os

def handler(event, context):
    return os.environ["DB_PASSWORD"]
"""

# Reads every readable page of its own memory, all of it copied from the zygote at fork, and reports what
# follows each occurrence of a secret's known prefix.
SCAN_MEMORY = """
def handler(event, context):
    prefix = event["prefix"].encode()
    found = []
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    with open("/proc/self/mem", "rb", 0) as mem:
        for region in regions:
            if not region[1].startswith("r") or region[-1] in ("[vvar]", "[vsyscall]"):
                continue
            start, end = (int(address, 16) for address in region[0].split("-"))
            try:
                mem.seek(start)
                chunk = mem.read(end - start)
            except (OSError, ValueError, OverflowError):
                continue
            at = chunk.find(prefix)
            while at >= 0:
                found.append(chunk[at:at + len(prefix) + 40].decode("latin-1"))
                at = chunk.find(prefix, at + 1)
    return found
"""


def test_host_processes_are_invisible(deploy: Callable[..., str], lambda_client: Any, server: FireboxServer) -> None:
    assert server.process is not None
    pids = {"server": server.process.pid, "test": os.getpid(), "init": 1}
    outcome = invoke(lambda_client, deploy(LOOK_AROUND), {"pids": pids})
    assert outcome.function_error is None, outcome
    # pid 1 is the sandbox's own first process: what it reads of itself is no leak.
    leaked = {what: result for what, result in succeeded(outcome.payload).items() if "init" not in what}
    assert leaked == {}
    assert "refused" in outcome.payload["kill(server, 0)"], outcome.payload


def test_signals_do_not_reach_outside(start_server: Callable[..., FireboxServer], function_name: str) -> None:
    server = start_server("--keep-alive", "60")
    assert server.process is not None
    client = client_of(server)
    deploy_on(server, function_name, SIGNAL_OUT)
    assert invoke(client, function_name).payload == "warm"  # its environment now exists; find its neighbours
    below = descendants(server.process.pid, host_processes())
    sandbox = next(p for p in below if p.uid != 0)  # its first process, as the host numbers it
    helpers = {f"{p.name} {p.pid} (the server's)": p.pid for p in below if p.uid == 0}
    with subprocess.Popen(["sleep", "60"]) as bystander:
        try:
            targets = {
                "server": server.process.pid,
                **helpers,
                "its own first process, by its host pid": sandbox.pid,
                "bystander": bystander.pid,
            }
            outcome = invoke(client, function_name, {"kill": targets, "poke": {"test": os.getpid()}})
            assert bystander.poll() is None, "a process of the host was killed from inside a sandbox"
        finally:
            bystander.kill()
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload["attempts"]) == {}
    assert outcome.payload["kill(-1, SIGKILL)"] == "ok: None", outcome.payload
    assert os.WTERMSIG(outcome.payload["child"]) == signal.SIGKILL, outcome.payload
    assert server.process.poll() is None, "the server was killed from inside a sandbox"
    assert invoke(client, function_name, {"kill": {}, "poke": {}}).function_error is None  # and still serves


def test_no_descriptor_of_the_host_is_inherited(deploy: Callable[..., str], lambda_client: Any) -> None:
    outcome = invoke(lambda_client, deploy(FDS))
    assert outcome.function_error is None, outcome
    assert succeeded(outcome.payload) == {}


def test_zygote_memory_holds_no_other_functions_secrets(deploy: Callable[..., str], lambda_client: Any) -> None:
    prefix = f"fbx-{secrets.token_hex(4)}-"
    secret = prefix + secrets.token_hex(16)
    # A large environment, so what the zygote held for it is not all overwritten by the next request.
    padding = {f"PADDING_{i}": secrets.token_hex(100) for i in range(16)}
    victim = deploy(VICTIM, "-victim", Environment={"Variables": {**padding, "DB_PASSWORD": secret}})
    assert invoke(lambda_client, victim).payload == secret
    outcome = invoke(lambda_client, deploy(SCAN_MEMORY, "-thief", MemorySize=512, Timeout=20), {"prefix": prefix})
    assert outcome.function_error is None, outcome
    assert secret not in json.dumps(outcome.payload), outcome.payload


def test_no_channel_between_environments(deploy: Callable[..., str], lambda_client: Any) -> None:
    """System V IPC and abstract Unix sockets are per namespace: another function's environment, even one
    made while the first is alive, finds neither."""
    channels = {"key": secrets.randbelow(1 << 30) + 1, "name": f"firebox-{secrets.token_hex(8)}"}
    owner = invoke(lambda_client, deploy(CHANNELS, "-owner"), {**channels, "secret": secrets.token_hex(16)})
    assert owner.function_error is None, owner
    assert succeeded(owner.payload) == owner.payload, "the channels are not even visible where they were made"
    other = invoke(lambda_client, deploy(CHANNELS, "-other"), channels)
    assert other.function_error is None, other
    assert succeeded(other.payload) == {}
