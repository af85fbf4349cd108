"""JSON messages, with file descriptors attached, over SOCK_SEQPACKET sockets: how the worker talks to
its zygotes and to each sandbox.

The zygote side (`zygote/_fbz_main.py`) has its own sender: it runs under the function's interpreter, where
Firebox's packages are not importable."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import struct
from typing import Any

MAX_MESSAGE = 1 << 20
MAX_FDS = 4
_FD = struct.Struct("i")
_UCRED = struct.Struct("iII")  # struct ucred: pid, uid, gid


class ChannelClosed(ConnectionError):
    """The other end closed the channel (or died) before a message arrived."""


def send(channel: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(channel, [data], fds)
    else:
        channel.send(data)


async def receive(channel: socket.socket) -> tuple[dict[str, Any], list[int]]:
    """The next message on a non-blocking channel and the descriptors that came with it (now ours)."""
    message, fds, _ = await receive_with_sender(channel)
    return message, fds


_ANCILLARY_SPACE = socket.CMSG_SPACE(MAX_FDS * _FD.size) + socket.CMSG_SPACE(_UCRED.size)


async def receive_with_sender(channel: socket.socket) -> tuple[dict[str, Any], list[int], int | None]:
    """As `receive`, and the sender's pid as the kernel vouches for it (translated into our PID namespace),
    where the channel has SO_PASSCRED set (None otherwise)."""
    while True:
        try:
            data, ancillary, _, _ = channel.recvmsg(MAX_MESSAGE, _ANCILLARY_SPACE)
        except BlockingIOError:
            await wait_readable(channel.fileno())
            continue
        except ConnectionResetError as exc:
            raise ChannelClosed("the other end reset the channel") from exc
        fds: list[int] = []
        sender: int | None = None
        for level, kind, payload in ancillary:
            if level != socket.SOL_SOCKET:
                continue
            if kind == socket.SCM_RIGHTS:
                whole = len(payload) - len(payload) % _FD.size
                fds += [fd for (fd,) in _FD.iter_unpack(payload[:whole])]
            elif kind == socket.SCM_CREDENTIALS and len(payload) >= _UCRED.size:
                sender = _UCRED.unpack_from(payload)[0]
        if not data:
            for fd in fds:
                os.close(fd)
            raise ChannelClosed("the other end closed the channel")
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        if not isinstance(message, dict):
            for fd in fds:
                os.close(fd)
            raise ChannelClosed(f"unexpected message {data[:100]!r}")
        return message, fds, sender


async def wait_readable(fd: int) -> None:
    """Return once `fd` has something to read (or its other end closed)."""
    loop = asyncio.get_running_loop()
    readable: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not readable.done():
            readable.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await readable
    finally:
        loop.remove_reader(fd)
