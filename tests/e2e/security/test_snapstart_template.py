"""SnapStart templates: INIT runs with capabilities inside the template's own user namespace (each restored
copy needs them to make its namespaces) and a filter that allows mount and unshare. Nothing of the host
must be within reach of them; the copies keep none of them."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.e2e.security.hostile import invoke

# INIT tries its privileges and keeps what it saw; the restored copy's handler reports it.
TEMPLATE_ESCAPE = """
import ctypes
import os
from probe import attempt, checked, in_child, libc, read

def _mount(source, target, fstype, flags=0, data=None):
    return checked(libc.mount(source.encode(), target.encode(), fstype.encode(), flags,
                              data.encode() if data else None))

def _own_namespaces_then(action, *args):
    def both():
        checked(libc.unshare(0x00020000 | 0x40000000))  # CLONE_NEWNS | CLONE_NEWNET: allowed here
        return action(*args)
    return both

MS_BIND, MS_REMOUNT = 0x1000, 0x20
SEEN_IN_INIT = {
    "status": {line.split(":")[0]: line.split(":", 1)[1].strip() for line in open("/proc/self/status")
               if line.split(":")[0] in ("CapEff", "Uid")},
    "read /etc/shadow": attempt(read, "/etc/shadow"),
    "mount tmpfs over /var/task (template's own mount namespace)": in_child(_mount, "tmpfs", "/var/task", "tmpfs"),
    "remount / read-write": in_child(_mount, "none", "/", "none", MS_REMOUNT | MS_BIND),
    "own namespaces, then sysfs": in_child(_own_namespaces_then(_mount, "sysfs", "/var/task", "sysfs")),
    "own namespaces, then remount /var/task read-write": in_child(
        _own_namespaces_then(_mount, "none", "/var/task", "none", MS_REMOUNT | MS_BIND)),
    "own namespaces, then write /var/task": in_child(
        _own_namespaces_then(lambda: open("/var/task/planted", "w").write("x"))),
    "signal the zygote (host pid 1 of nothing visible)": attempt(os.kill, 2, 0),
    "setns into the host's mount namespace": attempt(lambda: os.setns(os.open("/proc/1/ns/mnt", os.O_RDONLY))),
}

def handler(event, context):
    status = {line.split(":")[0]: line.split(":", 1)[1].strip() for line in open("/proc/self/status")
              if line.split(":")[0] in ("CapEff", "CapPrm", "CapBnd")}
    return {"init": SEEN_IN_INIT, "copy": status, "copy mount": in_child(_mount, "tmpfs", "/tmp", "tmpfs")}
"""


def _active(lambda_client: Any, name: str, version: str) -> str:
    deadline = time.monotonic() + 60
    while True:
        state: str = lambda_client.get_function_configuration(FunctionName=name, Qualifier=version)["State"]
        if state != "Pending" or time.monotonic() > deadline:
            return state
        time.sleep(0.05)


def test_a_templates_privileges_reach_nothing_outside_it(deploy: Callable[..., str], lambda_client: Any) -> None:
    try:
        name = deploy(TEMPLATE_ESCAPE, runtime="python3.12", SnapStart={"ApplyOn": "PublishedVersions"})
    except lambda_client.exceptions.InvalidParameterValueException as exc:
        pytest.skip(str(exc))
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    assert _active(lambda_client, name, version) == "Active"
    outcome = invoke(lambda_client, f"{name}:{version}")
    assert outcome.function_error is None, outcome
    init = outcome.payload["init"]
    assert init["status"]["CapEff"] != "0000000000000000"  # the template did hold capabilities (in its namespace)
    assert init.pop("status")["Uid"].split()[0] == "993"
    leaked = {what: seen for what, seen in init.items() if not seen.startswith("refused")}
    assert not leaked, leaked
    assert outcome.payload["copy"] == {
        "CapEff": "0000000000000000",
        "CapPrm": "0000000000000000",
        "CapBnd": "0000000000000000",
    }
    assert outcome.payload["copy mount"].startswith("refused")
