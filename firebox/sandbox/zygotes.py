"""Zygote processes, one per interpreter: started on first use, asked to fork each new environment.

The zygote itself lives in `zygote/` and runs under the function's interpreter; this is the worker's side
of the channel to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firebox.errors import SandboxStartFailed
from firebox.sandbox import messages

ZYGOTE_SCRIPT = Path(__file__).resolve().parent / "zygote" / "zygote.py"
_START_DEADLINE_S = 60.0  # preloading a large package (boto3) on a busy host takes seconds
_REPLY_DEADLINE_S = 10.0
_STOP_DEADLINE_S = 5.0


@dataclass(frozen=True, slots=True)
class ZygoteInfo:
    prefixes: tuple[str, ...]  # the interpreter's installation: sandboxes see it at the same paths
    preloaded: tuple[str, ...]
    failed: dict[str, str]  # preloads that could not be imported, and why


class Zygote:
    def __init__(self, interpreter: str, runtime_dir: Path, preload: tuple[str, ...]) -> None:
        self._interpreter = interpreter
        self._runtime_dir = runtime_dir
        self._preload = preload
        self._process: asyncio.subprocess.Process | None = None
        self._channel: socket.socket | None = None
        self._lock = asyncio.Lock()  # one request at a time: each reply belongs to the request before it
        self.info: ZygoteInfo | None = None

    async def start(self) -> ZygoteInfo:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "FBZ_CONTROL_FD": str(theirs.fileno()),
            "FBZ_RUNTIME_DIR": str(self._runtime_dir),
            "FBZ_PRELOAD": ",".join(self._preload),
        }
        try:
            self._process = await asyncio.create_subprocess_exec(
                self._interpreter,
                "-S",
                str(ZYGOTE_SCRIPT),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sys.stderr.fileno(),
                stderr=sys.stderr.fileno(),
                pass_fds=(theirs.fileno(),),
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            ours.close()
            raise SandboxStartFailed(f"could not start a zygote with {self._interpreter}: {exc.strerror}") from exc
        finally:
            theirs.close()
        ours.setblocking(False)
        self._channel = ours
        try:
            async with asyncio.timeout(_START_DEADLINE_S):
                hello, _ = await messages.receive(ours)
        except (TimeoutError, messages.ChannelClosed) as exc:
            await self.close()
            raise SandboxStartFailed(f"the zygote for {self._interpreter} did not start") from exc
        self.info = ZygoteInfo(tuple(hello["prefixes"]), tuple(hello["preloaded"]), dict(hello["failed"]))
        return self.info

    async def spawn(self, request: dict[str, Any], fds: list[int]) -> int:
        """Ask for a new environment (or, with op "spare", a process that will become one); returns the pid
        of its first process."""
        if self._channel is None:
            raise SandboxStartFailed("the zygote is not running")
        async with self._lock:
            try:
                messages.send(self._channel, request, fds)
                async with asyncio.timeout(_REPLY_DEADLINE_S):
                    reply, _ = await messages.receive(self._channel)
            except (OSError, TimeoutError) as exc:
                raise SandboxStartFailed(f"the zygote for {self._interpreter} did not answer: {exc}") from exc
        if "error" in reply:
            raise SandboxStartFailed(f"the zygote could not fork: {reply['error']}")
        return int(reply["pid"])

    @property
    def alive(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def close(self) -> None:
        if self._channel is not None:
            self._channel.close()  # the zygote's loop ends when its channel does
            self._channel = None
        if self._process is not None and self._process.returncode is None:
            try:
                async with asyncio.timeout(_STOP_DEADLINE_S):
                    await self._process.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, 9)
                await self._process.wait()
