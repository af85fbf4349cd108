"""SnapStart: published versions restored from a snapshot of their INIT, through a real server and boto3."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.polling import poll_until

SNAP_START = {"ApplyOn": "PublishedVersions"}
RUNTIME = "python3.12"

# INIT leaves traces a copy must inherit (a module global, a file in /tmp) and registers hooks; the handler
# reports what its environment sees.
HOOKED = """
import os, random, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

EVENTS = []
INIT_PID = os.getpid()
INIT_AT = time.time()
with open("/tmp/from-init", "w") as f:
    f.write("written during INIT")


@register_before_snapshot
def first_registered():
    EVENTS.append("before:first")


@register_before_snapshot
def second_registered():
    EVENTS.append("before:second")


def restored(label, *, suffix):
    EVENTS.append(f"after:{label}{suffix}")


register_after_restore(restored, "first", suffix="!")
register_after_restore(restored, "second", suffix="?")


def handler(event, context):
    time.sleep(event.get("hold", 0))  # keeps this environment busy, so a concurrent call needs another
    if event.get("write"):
        with open("/tmp/" + event["write"], "w") as f:
            f.write("x")
    return {
        "events": EVENTS,
        "init_at": INIT_AT,
        "random": random.random(),
        "tmp": sorted(os.listdir("/tmp")),
        "pid": os.getpid(),
        "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "initialization_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"],
        "log_stream": context.log_stream_name,
    }
"""


def _wait_state(lambda_client: Any, name: str, version: str) -> dict[str, Any]:
    return poll_until(
        lambda: lambda_client.get_function_configuration(FunctionName=name, Qualifier=version),
        lambda config: config["State"] != "Pending",
    )


def _invoke(lambda_client: Any, name: str, qualifier: str, event: dict[str, Any] | None = None) -> tuple[Any, str]:
    response = lambda_client.invoke(
        FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event or {}), LogType="Tail"
    )
    tail = base64.b64decode(response["LogResult"]).decode()
    return json.loads(response["Payload"].read()), tail


@pytest.fixture
def snap_function(
    create_function: Callable[..., dict[str, Any]], lambda_client: Any, function_name: str
) -> Callable[..., str]:
    """Create a SnapStart function from `source`, publish it, and wait for its snapshot; returns the version."""

    def make(source: str = HOOKED, **extra: Any) -> str:
        try:
            create_function({"app.py": source}, runtime=RUNTIME, SnapStart=SNAP_START, **extra)
        except lambda_client.exceptions.InvalidParameterValueException as exc:
            if "not supported by this Firebox host" in str(exc):
                pytest.skip(f"{RUNTIME} is not installed here")
            raise
        published = lambda_client.publish_version(FunctionName=function_name)
        assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
        version: str = published["Version"]
        return version

    return make


def test_a_published_version_is_pending_then_active_and_latest_runs_without_snapshot(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    version = snap_function()
    assert _wait_state(lambda_client, function_name, version)["State"] == "Active"
    latest = lambda_client.get_function_configuration(FunctionName=function_name)
    assert latest["State"] == "Active"
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    payload, tail = _invoke(lambda_client, function_name, "$LATEST")
    assert payload["initialization_type"] == "on-demand"
    assert payload["events"] == []  # no snapshot, so no hook ran
    assert "Init Duration" in tail and "Restore Duration" not in tail


def test_a_restore_skips_init_runs_hooks_in_aws_order_and_reports_restore_duration(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    version = snap_function()
    _wait_state(lambda_client, function_name, version)
    payload, tail = _invoke(lambda_client, function_name, version)
    # Before-snapshot hooks in reverse order of registration, after-restore hooks in order, with arguments.
    assert payload["events"] == ["before:second", "before:first", "after:first!", "after:second?"]
    assert payload["initialization_type"] == "snap-start"
    assert "from-init" in payload["tmp"]  # the snapshot keeps what INIT wrote to /tmp
    assert re.search(r"Restore Duration: \d+\.\d\d ms\tBilled Restore Duration: \d+ ms", tail), tail
    assert "Init Duration" not in tail
    assert payload["init_at"] < time.time()


def test_each_restored_copy_is_its_own_environment(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    """Copies share INIT's memory but not their /tmp, processes, random numbers or log stream."""
    version = snap_function()
    _wait_state(lambda_client, function_name, version)
    results: list[Any] = []

    def call(marker: str) -> None:
        results.append(_invoke(lambda_client, function_name, version, {"write": marker, "hold": 1.0})[0])

    threads = [threading.Thread(target=call, args=(f"copy-{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2
    first, second = results
    assert first["init_at"] == second["init_at"]  # one INIT, shared
    assert first["random"] != second["random"]  # reseeded in each copy
    assert first["log_stream"] != second["log_stream"]
    written = {name for r in results for name in r["tmp"] if name.startswith("copy-")}
    assert written == {"copy-0", "copy-1"}
    assert all(len([n for n in r["tmp"] if n.startswith("copy-")]) == 1 for r in results)  # private /tmp
    assert first["pid"] == second["pid"] == 1  # each is PID 1 of a PID namespace of its own
    assert first["processes"] == [1] and second["processes"] == [1]


def test_a_failing_after_restore_hook_is_a_snapstart_exception(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    source = (
        "from snapshot_restore_py import register_after_restore\n\n"
        "@register_after_restore\ndef broken():\n    raise RuntimeError('no connection after restore')\n\n"
        "def handler(event, context):\n    return 'unreachable'\n"
    )
    version = snap_function(source)
    assert _wait_state(lambda_client, function_name, version)["State"] == "Active"
    with pytest.raises(lambda_client.exceptions.SnapStartException, match="no connection after restore"):
        lambda_client.invoke(FunctionName=function_name, Qualifier=version)
    # $LATEST never restores, so the hook never runs there.
    assert lambda_client.invoke(FunctionName=function_name)["Payload"].read() == b'"unreachable"'


def test_a_failing_init_fails_the_version(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    version = snap_function("raise ValueError('bad configuration')\n")
    config = _wait_state(lambda_client, function_name, version)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "FunctionError.RuntimeInitError"
    assert "bad configuration" in config["StateReason"]
    with pytest.raises(lambda_client.exceptions.ResourceConflictException, match="Failed"):
        lambda_client.invoke(FunctionName=function_name, Qualifier=version)


def test_invoking_while_the_snapshot_is_made_is_refused_as_not_ready(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    version = snap_function("import time\ntime.sleep(3)\n\ndef handler(event, context):\n    return 'ready'\n")
    with pytest.raises(lambda_client.exceptions.SnapStartNotReadyException):
        lambda_client.invoke(FunctionName=function_name, Qualifier=version)
    assert _wait_state(lambda_client, function_name, version)["State"] == "Active"
    response = lambda_client.invoke(FunctionName=function_name, Qualifier=version)
    assert response["Payload"].read() == b'"ready"'


def test_snapstart_is_refused_where_aws_refuses_it(
    create_function: Callable[..., dict[str, Any]], lambda_client: Any
) -> None:
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException, match="not supported for SnapStart"):
        create_function(runtime="python3.11", SnapStart=SNAP_START)
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException, match="ephemeral storage"):
        create_function(runtime=RUNTIME, SnapStart=SNAP_START, EphemeralStorage={"Size": 1024})
    with pytest.raises(lambda_client.exceptions.ClientError, match="ValidationException"):
        create_function(runtime=RUNTIME, SnapStart={"ApplyOn": "Always"})


def test_snapshots_are_made_again_after_a_restart(start_server: Callable[..., Any]) -> None:
    server = start_server()
    client = server.client()
    version, _ = server.publish_snapstart_function("snap-restart", HOOKED)
    assert _wait_state(client, "snap-restart", version)["State"] == "Active"
    data_dir, port = server.data_dir, server.port
    server.stop()
    restarted = start_server(data_dir=data_dir, port=port).client()
    assert _wait_state(restarted, "snap-restart", version)["State"] == "Active"
    payload, tail = _invoke(restarted, "snap-restart", version)
    assert payload["events"][-2:] == ["after:first!", "after:second?"]
    assert "Restore Duration" in tail


CONFINEMENT_PROBE = """
import ctypes, errno, os

libc = ctypes.CDLL(None, use_errno=True)


def attempt(call):
    try:
        call()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    return "allowed"


def mount_tmpfs():
    if libc.mount(b"tmpfs", b"/var/task", b"tmpfs", 0, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")


def handler(event, context):
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return {
        "cap_eff": status["CapEff"].strip(),
        "cap_prm": status["CapPrm"].strip(),
        "seccomp_filters": status.get("Seccomp_filters", "").strip(),
        "unshare": attempt(lambda: os.unshare(os.CLONE_NEWNS)),
        "mount": attempt(mount_tmpfs),
        "uid": os.getuid(),
    }
"""


def test_a_restored_copy_is_as_confined_as_any_sandbox(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    """The template keeps capabilities in its user namespace to make copies; a copy keeps none, and runs
    under the full seccomp filter on top of the template's."""
    version = snap_function(CONFINEMENT_PROBE)
    assert _wait_state(lambda_client, function_name, version)["State"] == "Active"
    payload, _ = _invoke(lambda_client, function_name, version)
    assert payload["cap_eff"] == payload["cap_prm"] == "0000000000000000"
    assert payload["seccomp_filters"] == "2"
    assert payload["unshare"] == "EPERM"
    assert payload["mount"] == "EPERM"
    assert payload["uid"] == 993


def test_a_restored_copy_has_its_own_memory_limit(
    snap_function: Callable[..., str], lambda_client: Any, function_name: str
) -> None:
    hog = (
        "def handler(event, context):\n"
        "    blocks = [bytearray(1 << 20) for _ in range(event['mb'])]\n"
        "    return len(blocks)\n"
    )
    version = snap_function(hog, MemorySize=128)
    assert _wait_state(lambda_client, function_name, version)["State"] == "Active"
    small = lambda_client.invoke(FunctionName=function_name, Qualifier=version, Payload=json.dumps({"mb": 8}))
    assert json.loads(small["Payload"].read()) == 8
    big = lambda_client.invoke(FunctionName=function_name, Qualifier=version, Payload=json.dumps({"mb": 400}))
    assert big["FunctionError"] == "Unhandled"
    assert json.loads(big["Payload"].read())["errorType"] == "Runtime.OutOfMemory"
    # The template survived its copy's death: the next cold start is a restore again.
    again, tail = _invoke(lambda_client, function_name, version, {"mb": 1})
    assert again == 1 and "Restore Duration" in tail


def test_deleting_a_version_ends_its_template_and_copies(start_server: Callable[..., Any]) -> None:
    server = start_server("--snapstart-ready-copies", "1")
    client = server.client()
    version, _ = server.publish_snapstart_function("snap-delete", HOOKED)
    assert _wait_state(client, "snap-delete", version)["State"] == "Active"
    _invoke(client, "snap-delete", version)
    deadline = time.monotonic() + 10
    while server.sandbox_processes() < 3 and time.monotonic() < deadline:  # template, copy, ready copy
        time.sleep(0.05)
    assert server.sandbox_processes() >= 3
    client.delete_function(FunctionName="snap-delete")
    deadline = time.monotonic() + 15
    while server.sandbox_processes() > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.sandbox_processes() == 0


def test_the_process_backend_fails_snapstart_versions_with_the_reason(start_server: Callable[..., Any]) -> None:
    server = start_server("--sandbox", "process")
    client = server.client()
    version, _ = server.publish_snapstart_function("snap-process", HOOKED)
    config = _wait_state(client, "snap-process", version)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "InternalError"
    assert "namespace sandbox backend" in config["StateReason"]
    # $LATEST runs as usual, INIT and all.
    assert "Init Duration" in _invoke(client, "snap-process", "$LATEST")[1]
