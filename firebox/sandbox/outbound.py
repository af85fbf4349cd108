"""Outbound network access for a sandbox: slirp4netns, a user-mode network stack, attached to the
sandbox's network namespace.

The sandbox gets an interface `tap0` (10.0.2.100, gateway 10.0.2.2, DNS relay 10.0.2.3); its connections are
made by the slirp4netns process through the host's network stack. So that "outbound" means the world outside
the host, the sandbox cannot reach the host itself: not its loopback (`--disable-host-loopback`), not any of
its own addresses (unreachable routes inside the sandbox), and not link-local addresses such as a cloud
metadata service (169.254.0.0/16).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil

from firebox.errors import SandboxStartFailed
from firebox.sandbox.messages import wait_readable
from firebox.sandbox.parent_death import die_with_parent

RESOLV_CONF = "nameserver 10.0.2.3\n"  # slirp4netns relays DNS at this address to the host's resolver
_READY_DEADLINE_S = 10.0


_LINK_LOCAL = "169.254.0.0/16"


def host_addresses() -> list[str]:
    """The host's own IPv4 addresses (slirp4netns gives sandboxes IPv4 only), from /proc/net/fib_trie."""
    found: set[str] = set()
    candidate = ""
    try:
        with open("/proc/net/fib_trie") as trie:
            for line in trie:
                text = line.strip()
                if text.startswith(("|--", "+--")):
                    candidate = text[3:].strip().split("/")[0]
                elif text == "/32 host LOCAL" and candidate:
                    found.add(candidate)
    except OSError:
        return []
    return sorted(a for a in found if not a.startswith("127."))


def unavailable_reason() -> str | None:
    return None if shutil.which("slirp4netns") else "slirp4netns is not installed (Debian package slirp4netns)"


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
            preexec_fn=die_with_parent,
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
    try:
        await _keep_off_the_host(sandbox_pid)
    except SandboxStartFailed:
        await stop(process)
        raise
    return process


async def _keep_off_the_host(sandbox_pid: int) -> None:
    routes = "".join(f"route add unreachable {a}/32\n" for a in host_addresses())
    routes += f"route add unreachable {_LINK_LOCAL}\n"
    nsenter = shutil.which("nsenter")
    if nsenter is None:
        raise SandboxStartFailed("nsenter (util-linux) is needed to keep outbound sandboxes off the host")
    process = await asyncio.create_subprocess_exec(
        nsenter,
        f"--target={sandbox_pid}",
        "--net",
        "ip",
        "-batch",
        "-",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(_READY_DEADLINE_S):
        _, errors = await process.communicate(routes.encode())
    if process.returncode != 0:
        raise SandboxStartFailed(f"could not keep the sandbox off the host's addresses: {errors.decode()[:200]}")


async def stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    await process.wait()
