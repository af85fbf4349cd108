"""The channel between the server and a worker process: length-prefixed msgpack frames over a socket.

Requests carry an id and get one reply each ({"id", "ok"} or {"id", "error": [type, message]}); the worker
also sends events, which carry no id. Records cross as msgpack maps and are rebuilt on the other side with
msgspec.convert, so both sides share their types, not an encoding of their own.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Any

import msgspec

from firebox import errors
from firebox.worker.api import KeptEnvironment
from firebox.worker.snapshots import SnapshotKey, SnapshotStatus

_LENGTH = struct.Struct("!I")
MAX_FRAME = 16 * 1024 * 1024  # an invocation's payload and its result, 6 MB each, with room to spare
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class Hello(msgspec.Struct, frozen=True):
    """What a worker process says first on every connection: who it is, and what it runs."""

    fingerprint: str  # its code and settings: a server adopts only a worker it would have started itself
    pid: int
    environments: list[str]  # every environment it has
    kept: list[KeptEnvironment]  # those a server may adopt
    snapshots: list[tuple[SnapshotKey, SnapshotStatus]]


class ChannelClosed(ConnectionError):
    """The other side went away."""


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any]:
    try:
        (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
        if length > MAX_FRAME:
            raise ChannelClosed(f"a frame of {length} bytes is over the limit")
        message = _decode(await reader.readexactly(length))
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise ChannelClosed("the other side closed the channel") from exc
    if not isinstance(message, dict):
        raise ChannelClosed("a frame was not a map")
    return message


def write_frame(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    body = _encode(message)
    writer.write(_LENGTH.pack(len(body)) + body)


def error_message(exc: BaseException) -> list[str]:
    """How an error crosses: its class's name (a Firebox error, or PlatformFailure) and its message."""
    if isinstance(exc, errors.FireboxError):
        return [type(exc).__name__, exc.message]
    return ["PlatformFailure", f"the worker failed: {type(exc).__name__}: {exc}"]


def rebuild_error(crossed: list[str]) -> errors.FireboxError:
    name, message = crossed
    kind = getattr(errors, name, None)
    if not (isinstance(kind, type) and issubclass(kind, errors.FireboxError)) or kind is errors.Throttled:
        kind = errors.PlatformFailure
    return kind(message)
