"""SnapStart in a namespace sandbox: a template that has run INIT, and the copies forked from it.

    template (ran INIT; PID 1 of its PID namespace; capabilities kept in its own user namespace)
       └─fork─► helper: unshares mount, network, IPC, UTS and PID namespaces, forks, exits
                  └─► restored copy: PID 1 of its own PID namespace; a fresh /proc and /tmp, its own
                      Runtime API socket; drops every capability, takes the full seccomp filter, and goes
                      on from where the template stopped (after INIT), in the control groups the worker
                      put it in

Every copy shares the template's memory copy-on-write, so nothing of INIT runs again. The template keeps
its capabilities (inside its own user namespace only: on the host it is an unprivileged uid) because a
copy must make namespaces and mounts of its own, and a process cannot regain capabilities once dropped;
while INIT runs, its seccomp filter allows `mount` and `unshare` for that reason, and nothing else the
full filter refuses. The copies reach the worker over a channel of their own, which carries their
credentials: the worker learns each copy's host pid from the kernel, not from the copy.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import selectors
import socket
import struct
from typing import Any

from . import _fbz_confine as confine
from . import _fbz_linux as linux
from . import _fbz_seccomp
from ._fbz_channel import MAX_FDS, MAX_MESSAGE, ChildExits, send

_COPY_NAMESPACES = linux.CLONE_NEWNS | linux.CLONE_NEWNET | linux.CLONE_NEWIPC | linux.CLONE_NEWUTS | linux.CLONE_NEWPID
_PID = struct.Struct("=i")


class Template:
    """The serving side of a SnapStart template, given to the runtime as its `snapshot` callable."""

    def __init__(self, control: socket.socket, settings: dict[str, Any]) -> None:
        self._control = control  # from the worker: one message per copy to make
        self._storage_mb = int(settings["ephemeral_storage_mb"])
        self._api_port = int(settings["api_port"])
        self._seccomp = base64.b64decode(settings["seccomp"]) if settings.get("seccomp") else b""

    def __call__(self) -> None:
        """Serve restores until the worker closes the channel (the template then exits); returns only in a
        restored copy, with its environment ready for the runtime to go on."""
        exits = ChildExits()
        selector = selectors.DefaultSelector()
        selector.register(self._control, selectors.EVENT_READ)
        selector.register(exits, selectors.EVENT_READ)
        while True:
            for key, _ in selector.select():
                if key.fileobj is exits:
                    exits.reap()
                    continue
                message, fds, _, _ = socket.recv_fds(self._control, MAX_MESSAGE, MAX_FDS)
                if not message:
                    os._exit(0)
                if len(fds) not in (2, 3):
                    for fd in fds:
                        os.close(fd)
                    continue
                tmp_mount = fds[2] if len(fds) == 3 else None
                if self._restore(fds[0], socket.socket(fileno=fds[1]), tmp_mount, exits):
                    # The restored copy: what the template served with is not its business.
                    selector.close()
                    exits.close_in_child()
                    return

    def _restore(self, output_fd: int, report: socket.socket, tmp_mount: int | None, exits: ChildExits) -> bool:
        """Fork a copy; True in the copy (once it is ready), False in the template."""
        pid_read, pid_write = os.pipe()
        try:
            helper = os.fork()
        except OSError as exc:
            send(report, {"error": f"{type(exc).__name__}: {exc}"})
            for fd in (pid_read, pid_write, output_fd, *([tmp_mount] if tmp_mount is not None else [])):
                os.close(fd)
            report.close()
            return False
        if helper == 0:
            os.close(pid_read)
            try:
                linux.unshare(_COPY_NAMESPACES)
                copy = os.fork()  # the first child after unshare(CLONE_NEWPID) is PID 1 of the new namespace
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    send(report, {"error": f"{type(exc).__name__}: {exc}"})
                os._exit(126)
            if copy != 0:
                os.write(pid_write, _PID.pack(copy))
                os._exit(0)
            os.close(pid_write)
            self._become_copy(output_fd, report, tmp_mount)
            return True
        os.close(pid_write)
        os.close(output_fd)
        if tmp_mount is not None:
            os.close(tmp_mount)
        with os.fdopen(pid_read, "rb") as pid_pipe:
            answer = pid_pipe.read(_PID.size)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(helper, 0)
        if len(answer) == _PID.size:
            exits.watch(_PID.unpack(answer)[0], report)  # its end is reported there when it is reaped
        else:
            report.close()  # the helper failed and said why on the channel
        return False

    def _become_copy(self, output_fd: int, report: socket.socket, tmp_mount: int | None) -> None:
        try:
            # No parent-death signal here: this copy's parent, the helper, is gone at once. The copy dies with
            # the template all the same, as a process in a PID namespace nested in the template's.
            self._control.close()
            # The worker reads this copy's host pid off the message's credentials and puts it in its control
            # groups before it goes on: what it allocates from here on is its own.
            send(report, {"restored": True})
            _expect(report, "placed")
            # This PID namespace's own /proc, and a /tmp of this copy's own holding what INIT left in the
            # template's (a snapshot keeps the disk as well as the memory).
            linux.mount("proc", "/proc", "proc", linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC)
            _fresh_tmp(self._storage_mb, tmp_mount)
            api = confine.listen_for_runtime_api(self._api_port)
            linux.drop_capabilities()
            if self._seccomp:
                _fbz_seccomp.install(self._seccomp)
            send(report, {"api": True}, [api.fileno()])
            api.close()
            # Ready: the worker may keep a copy waiting here, made ahead of the invocation that needs it. What
            # differs between copies (the log stream, the credentials) comes with the word to go on.
            go = _expect(report, "go")
            report.close()
            os.dup2(output_fd, 1)
            os.dup2(output_fd, 2)
            os.close(output_fd)
            os.environ.update(go.get("env", {}))
        except BaseException as exc:
            with contextlib.suppress(OSError):
                send(report, {"error": f"{type(exc).__name__}: {exc}"})
            os._exit(126)


def _expect(channel: socket.socket, word: str) -> dict[str, Any]:
    message = json.loads(channel.recv(MAX_MESSAGE) or b"{}")
    if not isinstance(message, dict) or not message.get(word):
        raise OSError(f"the worker did not say {word!r}")
    return message


def _fresh_tmp(size_mb: int, tmp_mount: int | None) -> None:
    """Mount the copy's own /tmp over the template's: the disk the worker sent, or else a tmpfs."""
    template_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    try:
        left_by_init = os.listdir(template_tmp)
        if tmp_mount is not None:
            linux.move_mount(tmp_mount, "/tmp")
            os.close(tmp_mount)
        else:
            linux.mount("tmpfs", "/tmp", "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"size={size_mb}m,mode=1777")
        if left_by_init:
            import shutil  # only when INIT wrote to /tmp, which few functions do

            for name in left_by_init:  # entry by entry: /tmp itself belongs to the host, its metadata stays
                source = f"/proc/self/fd/{template_tmp}/{name}"
                if os.path.isdir(source) and not os.path.islink(source):
                    shutil.copytree(source, f"/tmp/{name}", symlinks=True)
                else:
                    shutil.copy2(source, f"/tmp/{name}", follow_symlinks=False)
    finally:
        os.close(template_tmp)
