"""Limits: memory, /tmp, processes and log output stay within what the function was given, what it makes
the server hold for it (Runtime API connections and bodies) is bounded too, and going past any limit hurts
only the function that tried."""

from __future__ import annotations

import errno
import resource
import secrets
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from tests.e2e.security.hostile import CANARY, Outcome, client_of, deploy_on, host_processes, invoke, wait_for
from tests.server_process import FireboxServer

MIB = 1024 * 1024

ALLOCATE = """
def handler(event, context):
    blocks = []
    while len(blocks) * 16 < event["mb"]:
        blocks.append(b"x" * (16 * 1024 * 1024))  # written, so every page is really used
    return {"allocated_mb": len(blocks) * 16}
"""

FILL_TMP = """
import errno
import os

def handler(event, context):
    chunk = b"x" * (8 * 1024 * 1024)
    written = 0
    try:
        with open("/tmp/fill", "wb") as f:
            while written < event["give_up_mb"] * 1024 * 1024:
                f.write(chunk)
                f.flush()
                written += len(chunk)
        failure = None
    except OSError as exc:
        failure = exc.errno
    size = os.path.getsize("/tmp/fill")
    os.unlink("/tmp/fill")
    return {"errno": failure, "written": written, "size": size}
"""

FORK_BOMB = """
import os

def handler(event, context):
    if event.get("exit"):
        os._exit(3)  # PID 1 ends, and every process of its namespace with it
    forked, failure = 0, None
    while forked < event["give_up_at"]:
        try:
            child = os.fork()
        except OSError as exc:
            failure = os.strerror(exc.errno)
            break
        if child == 0:
            try:
                os.execv("/bin/sleep", [event["marker"], "120"])  # named so the host can find it
            finally:
                os._exit(0)
        forked += 1
    return {"forked": forked, "failure": failure}
"""

# Connections to its own Runtime API, as many as it can open and from as many processes as it needs: the
# worker accepts each one, so each costs the server a descriptor and some memory.
RUNTIME_API_HOG = """
import os
import resource
import signal
import socket

def _hold(count):
    held = []
    while len(held) < count:
        try:
            held.append(socket.create_connection(("127.0.0.1", 9001), timeout=2))
        except OSError:
            break
    return held

def handler(event, context):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    reports = []
    for _ in range(event["processes"]):
        read_end, write_end = os.pipe()
        if os.fork() == 0:
            held = _hold(event["per_process"])
            os.write(write_end, str(len(held)).encode())
            os.close(write_end)
            while True:
                signal.pause()
        os.close(write_end)
        reports.append(read_end)
    return {"connections": sum(int(os.read(r, 20) or 0) for r in reports), "descriptors each": hard}
"""

# Responses to a request id that is not the current one, all but their last byte sent, on many connections
# at once: each is a body the worker may buffer before it looks at the id.
RUNTIME_API_BODIES = """
import socket

HELD = []  # open for the environment's life

def _send_all_but_the_last_byte(size):
    connection = socket.create_connection(("127.0.0.1", 9001))
    connection.sendall(
        b"POST /2018-06-01/runtime/invocation/not-an-invocation/response HTTP/1.1\\r\\nHost: runtime\\r\\n"
        + f"Content-Length: {size}\\r\\n\\r\\n".encode()
    )
    chunk = b"x" * (1 << 20)
    left = size - 1
    while left:
        left -= connection.send(chunk[:left])
    HELD.append(connection)

def handler(event, context):
    refused = {}
    for _ in range(event["connections"]):
        try:
            _send_all_but_the_last_byte(6291556)  # the largest response the Runtime API takes
        except OSError as exc:
            refused[exc.strerror] = refused.get(exc.strerror, 0) + 1
    return {"held": len(HELD), "refused": refused}
"""

FLOOD = """
import sys

def handler(event, context):
    line = "flood " + "x" * 994 + "\\n"
    block = line * 1000
    for _ in range(event["mb"]):
        sys.stdout.write(block)
    sys.stdout.flush()
    return event["mb"]
"""


def test_memory_limit_kills_the_invocation_and_the_next_one_works(
    deploy: Callable[..., str], lambda_client: Any
) -> None:
    name = deploy(ALLOCATE, MemorySize=128, Timeout=30)
    outcome = invoke(lambda_client, name, {"mb": 256})
    assert outcome.function_error == "Unhandled" and outcome.error_type == "Runtime.OutOfMemory", outcome
    assert invoke(lambda_client, name, {"mb": 16}).payload == {"allocated_mb": 16}


def test_tmp_fills_up_at_its_ephemeral_storage_size(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer
) -> None:
    """/tmp is disk, as on AWS: a 128 MB function fills its 512 MB /tmp up to ENOSPC without running out of
    memory, and what it deletes is given back to the host."""
    name = deploy(FILL_TMP, MemorySize=128, EphemeralStorage={"Size": 512}, Timeout=60)
    free_before = shutil.disk_usage(server.data_dir).free
    outcome = invoke(lambda_client, name, {"give_up_mb": 1024})
    free_after = shutil.disk_usage(server.data_dir).free
    assert outcome.function_error is None, outcome
    assert outcome.payload["errno"] == errno.ENOSPC, outcome.payload
    assert 400 * MIB <= outcome.payload["size"] <= 512 * MIB, outcome.payload
    assert free_before - free_after <= 64 * MIB, "the deleted file's space did not go back to the host"


def test_fork_bomb_is_contained_and_leaves_nothing_behind(
    deploy: Callable[..., str], lambda_client: Any, canary: Callable[[], None], server: FireboxServer
) -> None:
    marker = f"fork-bomb-{secrets.token_hex(8)}"
    name = deploy(FORK_BOMB, MemorySize=1024, Timeout=30)
    outcome = invoke(lambda_client, name, {"marker": marker, "give_up_at": 5000})
    if outcome.function_error is None:  # it reports its fork failures; a crash would be acceptable too
        assert outcome.payload["failure"] is not None and outcome.payload["forked"] < 1024, outcome.payload
        bombs = [p for p in host_processes().values() if p.command == marker]
        assert 0 < len(bombs) < 1024
        canary()  # others keep working while the bomb's processes are all still there
        ended = invoke(lambda_client, name, {"exit": True})
        assert ended.error_type == "Runtime.ExitError", ended
    wait_for(lambda: not any(p.command == marker for p in host_processes().values()), 15, "the bomb's processes ending")
    assert invoke(lambda_client, name, {"marker": marker, "give_up_at": 0}).payload == {"forked": 0, "failure": None}
    assert server.process is not None and server.process.poll() is None


def _memory(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) * 1024 for line in status if line.startswith(("VmRSS", "VmHWM"))}


def test_stdout_flood_is_cut_and_the_server_stays_small(
    deploy: Callable[..., str], lambda_client: Any, server: FireboxServer
) -> None:
    assert server.process is not None
    name = deploy(FLOOD, Timeout=60)
    Path(f"/proc/{server.process.pid}/clear_refs").write_text("5")  # restart the server's peak RSS from now
    before = _memory(server.process.pid)["VmRSS"]
    outcome = invoke(lambda_client, name, {"mb": 100}, LogType="Tail")
    peak = _memory(server.process.pid)["VmHWM"]
    assert outcome.function_error is None and outcome.payload == 100, outcome
    assert peak - before < 48 * MIB, f"the server grew by {(peak - before) // MIB} MiB reading 100 MB of output"
    assert "bytes of log output dropped" in outcome.log_tail, outcome.log_tail[-500:]
    streams = server.client("logs").describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
    assert sum(stream["storedBytes"] for stream in streams) < 12 * MIB, streams


def _open_descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def _invoke_or_error(server: FireboxServer, name: str, event: Any) -> Outcome | str:
    try:
        return invoke(client_of(server), name, event)
    except (BotoCoreError, ClientError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_runtime_api_connections_cannot_exhaust_the_server(
    start_server: Callable[..., FireboxServer], function_name: str
) -> None:
    server = start_server("--keep-alive", "60")
    assert server.process is not None
    pid = server.process.pid
    # A server with a common descriptor limit (many hosts give services 1024), so that the attack, which
    # works the same at any limit, runs in seconds.
    limit = 4096
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    client = client_of(server)
    canaries = [f"{function_name}-warm", f"{function_name}-cold"]
    deploy_on(server, function_name, RUNTIME_API_HOG, MemorySize=1024, Timeout=30)
    for canary in canaries:
        deploy_on(server, canary, CANARY)
    assert invoke(client, canaries[0], "before").payload == {"echo": "before", "pid": 1}
    try:
        hog = invoke(client, function_name, {"processes": 64, "per_process": limit // 48})
        held = _open_descriptors(pid)
        # Others come with connections of their own, and may need a new environment.
        answers = [_invoke_or_error(server, name, "during") for name in canaries]
    finally:
        server.process.kill()  # ends the hog's environment too
    assert hog.function_error is None, hog
    assert answers == [Outcome({"echo": "during", "pid": 1}, None)] * 2, (
        f"{hog.payload['connections']} connections to one environment's Runtime API left the server with"
        f" {held} of its {limit} descriptors in use: {answers}"
    )


def test_runtime_api_bodies_cannot_grow_the_server(
    start_server: Callable[..., FireboxServer], function_name: str
) -> None:
    server = start_server("--keep-alive", "60")
    assert server.process is not None
    deploy_on(server, function_name, RUNTIME_API_BODIES, Timeout=30)
    before = _memory(server.process.pid)["VmRSS"]
    outcome = invoke(client_of(server), function_name, {"connections": 64})
    grown = _memory(server.process.pid)["VmRSS"] - before
    assert outcome.function_error is None, outcome
    assert grown < 64 * MIB, f"64 unfinished 6 MB responses ({outcome.payload}) grew the server by {grown // MIB} MiB"
