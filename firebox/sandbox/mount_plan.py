"""What a namespace sandbox's filesystem is made of, as a list of steps the sandbox carries out in order.

The common part is the same for every sandbox of a zygote (built ahead of time by spares); the function's
part comes when the sandbox is given to a function.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

TASK_ROOT = "/var/task"
OPT_ROOT = "/opt"
_SYSTEM_DIRECTORIES = ("/usr", "/bin", "/lib", "/lib64", "/sbin", "/etc")
_DEVICES = ("null", "zero", "full", "random", "urandom")

Step = dict[str, Any]


def common_plan(host_paths: Iterable[str]) -> list[Step]:
    """The host's system directories read-only, `host_paths` (the interpreter, Firebox's runtime client)
    read-only at the same paths, a minimal /dev and the sandbox's own /proc."""
    plan: list[Step] = []
    for directory in _SYSTEM_DIRECTORIES:
        if os.path.islink(directory):
            plan.append({"kind": "symlink", "path": directory, "to": os.readlink(directory)})
        elif os.path.isdir(directory):
            plan.append({"kind": "bind", "path": directory, "source": directory})
    covered = [d for d in _SYSTEM_DIRECTORIES if not os.path.islink(d)]
    # The zygote's already-loaded modules and the interpreter's own lookups refer to these by their host paths.
    for path in dict.fromkeys(os.path.realpath(p) for p in host_paths):
        if not any(path == d or path.startswith(d + "/") for d in covered):
            plan.append({"kind": "bind", "path": path, "source": path})
    plan += [
        {"kind": "dir", "path": OPT_ROOT, "mode": 0o755},
        {"kind": "tmpfs", "path": "/dev", "options": "size=64k,mode=0755"},
        *(
            {
                "kind": "bind",
                "path": f"/dev/{d}",
                "source": f"/dev/{d}",
                "file": True,
                "devices": True,
                "writable": True,
            }
            for d in _DEVICES
        ),
        {"kind": "symlink", "path": "/dev/fd", "to": "/proc/self/fd"},
        {"kind": "symlink", "path": "/dev/stdin", "to": "/proc/self/fd/0"},
        {"kind": "symlink", "path": "/dev/stdout", "to": "/proc/self/fd/1"},
        {"kind": "symlink", "path": "/dev/stderr", "to": "/proc/self/fd/2"},
        {"kind": "proc", "path": "/proc"},
    ]
    return plan


def function_plan(
    task_root: Path, opt_root: Path | None, ephemeral_storage_mb: int, resolver: Path | None, tmp_disk: bool
) -> list[Step]:
    """The function's code read-only at /var/task, its layers read-only at /opt (an empty directory without),
    its private /tmp (its own disk, sent as a mount, or else a tmpfs), and (for outbound access) its resolver."""
    plan: list[Step] = [
        {"kind": "bind", "path": TASK_ROOT, "source": str(task_root)},
        {"kind": "attach", "path": "/tmp"}
        if tmp_disk
        else {"kind": "tmpfs", "path": "/tmp", "options": f"size={ephemeral_storage_mb}m,mode=1777"},
    ]
    if opt_root is not None:
        plan.append({"kind": "bind", "path": OPT_ROOT, "source": str(opt_root)})
    if resolver is not None:
        plan.append({"kind": "bind", "path": "/etc/resolv.conf", "source": str(resolver), "file": True})
    return plan
