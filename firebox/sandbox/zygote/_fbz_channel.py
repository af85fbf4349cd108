"""The sandbox side of the worker's channels: sending messages, and reporting how children ended.

Shared by the zygote and by SnapStart templates, the two kinds of process that fork sandboxes. The worker's
side is `firebox/sandbox/messages.py`; this twin of its sender exists because this code runs under the
function's interpreter, where Firebox's packages are not importable.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
from typing import Any

MAX_MESSAGE = 1 << 20
MAX_FDS = 4


def send(channel: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(channel, [data], fds)
    else:
        channel.send(data)


class ChildExits:
    """Reaps this process's children and reports each watched one's exit status on its own channel.

    Register `fileno()` with a selector: it is readable after a SIGCHLD, and `reap()` is then due.
    """

    def __init__(self) -> None:
        self._reports: dict[int, socket.socket] = {}  # child pid -> the channel its end is reported on
        self._wakeup_read, self._wakeup_write = os.pipe()
        for fd in (self._wakeup_read, self._wakeup_write):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self._wakeup_write)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)  # a handler, so the wakeup fd hears of it

    def fileno(self) -> int:
        return self._wakeup_read

    def watch(self, pid: int, report: socket.socket) -> None:
        self._reports[pid] = report

    def reap(self) -> list[int]:
        """Reap every child that has ended, report the watched ones; returns the pids reaped."""
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wakeup_read, 512):
                pass
        reaped: list[int] = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return reaped
            if pid == 0:
                return reaped
            reaped.append(pid)
            report = self._reports.pop(pid, None)
            if report is not None:
                with contextlib.suppress(OSError):  # the worker may have given up on this child already
                    send(report, {"exit": os.waitstatus_to_exitcode(status)})
                report.close()

    def close_in_child(self) -> None:
        """In a forked child that goes on as a sandbox: none of this is its business."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for report in self._reports.values():
            report.close()
        self._reports.clear()
        for fd in (self._wakeup_read, self._wakeup_write):
            os.close(fd)
