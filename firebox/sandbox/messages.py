"""JSON messages, with file descriptors attached, over SOCK_SEQPACKET sockets: how the worker talks to
its zygotes and to each sandbox.

The zygote side (`zygote/_fbz_main.py`) has its own sender: it runs under the function's interpreter, where
Firebox's packages are not importable."""

from __future__ import annotations

import asyncio
import json
import os
import socket
from typing import Any

MAX_MESSAGE = 1 << 20
MAX_FDS = 4


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
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(channel, MAX_MESSAGE, MAX_FDS)
        except BlockingIOError:
            await wait_readable(channel.fileno())
            continue
        except ConnectionResetError as exc:
            raise ChannelClosed("the other end reset the channel") from exc
        if not data:
            for fd in fds:
                os.close(fd)
            raise ChannelClosed("the other end closed the channel")
        message = json.loads(data)
        if not isinstance(message, dict):
            raise ChannelClosed(f"unexpected message {message!r}")
        return message, fds


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
