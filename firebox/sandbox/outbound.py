"""Outbound network access for a sandbox: slirp4netns, a user-mode network stack, attached to the
sandbox's network namespace.

The sandbox gets an interface `tap0` (10.0.2.100, gateway 10.0.2.2, DNS relay 10.0.2.3); its connections are
made by the slirp4netns process through the host's network stack, so it reaches what the host reaches,
except the host's loopback (`--disable-host-loopback`), where Firebox's own ports are.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal

from firebox.errors import SandboxStartFailed
from firebox.sandbox.messages import wait_readable

RESOLV_CONF = "nameserver 10.0.2.3\n"  # slirp4netns relays DNS at this address to the host's resolver
_READY_DEADLINE_S = 10.0
_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def unavailable_reason() -> str | None:
    return None if shutil.which("slirp4netns") else "slirp4netns is not installed (Debian package slirp4netns)"


def _die_with_worker() -> None:
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


async def attach(sandbox_pid: int) -> asyncio.subprocess.Process:
    """Give the network namespace of `sandbox_pid` an outbound interface; returns once it is configured."""
    program = shutil.which("slirp4netns")
    if program is None:
        raise SandboxStartFailed(unavailable_reason() or "slirp4netns is missing")
    ready_read, ready_write = os.pipe()
    try:
        process = await asyncio.create_subprocess_exec(
            program,
            "--configure",
            "--mtu=65520",
            "--disable-host-loopback",
            "--enable-sandbox",
            f"--ready-fd={ready_write}",
            str(sandbox_pid),
            "tap0",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            pass_fds=(ready_write,),
            preexec_fn=_die_with_worker,
        )
    except OSError as exc:
        os.close(ready_read)
        raise SandboxStartFailed(f"could not start slirp4netns: {exc.strerror}") from exc
    finally:
        os.close(ready_write)
    os.set_blocking(ready_read, False)
    try:
        async with asyncio.timeout(_READY_DEADLINE_S):
            await wait_readable(ready_read)
        ready = os.read(ready_read, 1)
    except (TimeoutError, OSError):
        ready = b""
    finally:
        os.close(ready_read)
    if ready != b"1":
        await stop(process)
        raise SandboxStartFailed("slirp4netns did not configure the sandbox's network")
    return process


async def stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
