"""Confining a freshly forked process: its own root filesystem, network, hostname and identity.

Runs in the sandbox's first process inside its new namespaces (PID 1 of its PID namespace), as root of
the host, and ends with that process unprivileged: a uid of its own, no capabilities in any namespace,
no_new_privs and a seccomp filter. The plan of mounts comes from the worker; this module only carries it
out, in order.
"""

from __future__ import annotations

import os
import socket
from typing import Any

from . import _fbz_linux as linux

PR_SET_DUMPABLE = 4
_ROOT_OPTIONS = "size=1m,mode=0755"
_FILE_MODE = 0o644


def listen_for_runtime_api(port: int) -> socket.socket:
    """The Runtime API socket, made inside the sandbox's network namespace: nothing else can reach it."""
    linux.loopback_up()
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    return server


def _make_target(path: str, is_file: bool) -> None:
    if is_file:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, _FILE_MODE))
    else:
        os.makedirs(path, exist_ok=True)


def _carry_out(step: dict[str, Any], root: str, attachable: dict[str, int]) -> None:
    kind = step["kind"]
    target = root + step["path"]
    if kind == "dir":
        os.makedirs(target, mode=step.get("mode", 0o755), exist_ok=True)
        os.chmod(target, step.get("mode", 0o755))
    elif kind == "symlink":
        os.makedirs(os.path.dirname(target), exist_ok=True)
        os.symlink(step["to"], target)
    elif kind == "bind":
        _make_target(target, step.get("file", False))
        linux.mount(step["source"], target, None, linux.MS_BIND | linux.MS_REC)
        flags = linux.MS_BIND | linux.MS_REMOUNT | linux.MS_NOSUID
        if not step.get("devices", False):
            flags |= linux.MS_NODEV
        if not step.get("writable", False):
            flags |= linux.MS_RDONLY
        linux.mount(None, target, None, flags)
    elif kind == "tmpfs":
        _make_target(target, False)
        linux.mount("tmpfs", target, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, step["options"])
    elif kind == "attach":  # a file system the worker mounted for this sandbox, sent as a descriptor
        _make_target(target, False)
        linux.move_mount(attachable[step["path"]], target)
    elif kind == "proc":
        _make_target(target, False)
        linux.mount("proc", target, "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
    else:
        raise ValueError(f"unknown mount step {kind!r}")


def build_root(root: str, plan: list[dict[str, Any]]) -> None:
    """Start the sandbox's filesystem: a small tmpfs at `root` holding what every sandbox of this zygote
    sees (the system's directories, the interpreter, /dev, /proc). Done ahead of time by spares."""
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)  # nothing we mount leaks to the host
    linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, _ROOT_OPTIONS)
    for step in plan:
        _carry_out(step, root, {})


def enter_root(root: str, plan: list[dict[str, Any]], attachable: dict[str, int]) -> None:
    """Add the function's own part of the filesystem (its code, its /tmp) and make the root `/`, read-only.
    `attachable` holds the descriptors of mounts the plan attaches, by path."""
    for step in plan:
        _carry_out(step, root, attachable)
    os.chdir(root)
    # pivot_root(".", "."): the old root ends up stacked under the new one, and is detached right away.
    linux.pivot_root(".", ".")
    linux.umount(".", linux.MNT_DETACH)
    os.chdir("/")
    linux.mount(None, "/", None, linux.MS_REMOUNT | linux.MS_BIND | linux.MS_RDONLY | linux.MS_NOSUID | linux.MS_NODEV)


def become(uid: int, gid: int, inside_id: int, *, keep_capabilities: bool = False) -> None:
    """Drop to `uid`/`gid` on the host, then into a user namespace where they read as `inside_id`, with no
    capability anywhere; with `keep_capabilities` (SnapStart templates only), still with every capability
    inside that user namespace, none on the host."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    # Changing uid made the process non-dumpable, which would leave /proc/self owned by root and the
    # user namespace's maps unwritable.
    linux.prctl(PR_SET_DUMPABLE, 1)
    linux.unshare(linux.CLONE_NEWUSER)
    _write("/proc/self/setgroups", "deny")
    _write("/proc/self/uid_map", f"{inside_id} {uid} 1")
    _write("/proc/self/gid_map", f"{inside_id} {gid} 1")
    if not keep_capabilities:
        linux.drop_capabilities()
    linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1)


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)
