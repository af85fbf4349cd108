"""Reading what a sandbox writes to stdout and stderr, line by line, without ever blocking or buffering
without bound.

The pipe is read from the event loop's readiness callback; `drain()` reads whatever is already in the
pipe synchronously, so everything a runtime printed before it posted a response is attributed to that
invocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable

_CHUNK = 65536
MAX_LINE_BYTES = 262_144  # a longer line is cut into pieces, as CloudWatch Logs caps an event at 256 KB


class OutputReader:
    def __init__(self, fd: int, on_line: Callable[[bytes], None], loop: asyncio.AbstractEventLoop) -> None:
        self._fd = fd
        self._on_line = on_line
        self._loop = loop
        self._partial = bytearray()
        self._closed = asyncio.Event()
        loop.add_reader(fd, self.drain)

    def drain(self) -> None:
        """Read and deliver everything the pipe holds now; a trailing partial line waits for its end."""
        while not self._closed.is_set():
            try:
                chunk = os.read(self._fd, _CHUNK)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._finish()
                return
            self._split(chunk)

    def _split(self, chunk: bytes) -> None:
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            if end < 0:
                break
            if self._partial:
                self._partial += chunk[start:end]
                self._emit(bytes(self._partial))
                self._partial.clear()
            else:
                self._emit(chunk[start:end])
            start = end + 1
        self._partial += chunk[start:]
        while len(self._partial) >= MAX_LINE_BYTES:
            self._emit(bytes(self._partial[:MAX_LINE_BYTES]))
            del self._partial[:MAX_LINE_BYTES]

    def _emit(self, line: bytes) -> None:
        self._on_line(line[:-1] if line.endswith(b"\r") else line)

    def _finish(self) -> None:
        if self._partial:
            self._emit(bytes(self._partial))
            self._partial.clear()
        self.close()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._fd)

    async def wait_closed(self) -> None:
        await self._closed.wait()
