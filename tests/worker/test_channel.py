"""FrameChannel: frames across a socket whatever the chunking, held until read, batched per loop turn, bounded."""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import msgspec
import pytest

from firebox.worker.channel import MAX_FRAME, ChannelClosed, FrameChannel


async def _pair() -> tuple[FrameChannel, socket.socket]:
    """A channel over one end of a socket pair, and the other end as a plain blocking socket."""
    ours, theirs = socket.socketpair()
    _, channel = await asyncio.get_running_loop().connect_accepted_socket(FrameChannel, sock=ours)
    return channel, theirs


def _frame(message: Any) -> bytes:
    body = msgspec.msgpack.encode(message)
    return struct.pack("!I", len(body)) + body


async def _received(channel: FrameChannel, count: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    enough = asyncio.Event()

    def receive(message: dict[str, Any]) -> None:
        messages.append(message)
        if len(messages) == count:
            enough.set()

    channel.deliver_to(receive)
    async with asyncio.timeout(5):
        await enough.wait()
    return messages


async def _frames_split_byte_by_byte() -> list[dict[str, Any]]:
    channel, theirs = await _pair()
    for byte in _frame({"id": 1}) + _frame({"id": 2, "ok": b"\x00" * 100}):
        theirs.send(bytes([byte]))
    messages = await _received(channel, 2)
    channel.close()
    theirs.close()
    return messages


def test_frames_split_at_any_byte_arrive_whole() -> None:
    assert asyncio.run(_frames_split_byte_by_byte()) == [{"id": 1}, {"id": 2, "ok": b"\x00" * 100}]


async def _hello_then_the_rest() -> tuple[dict[str, Any], list[dict[str, Any]]]:
    channel, theirs = await _pair()
    theirs.sendall(_frame({"event": "ready"}) + _frame({"event": "ended"}) + _frame({"id": 7}))
    first = await channel.first_frame()
    rest = await _received(channel, 2)
    channel.close()
    theirs.close()
    return first, rest


def test_frames_after_the_first_are_held_for_the_receiver() -> None:
    first, rest = asyncio.run(_hello_then_the_rest())
    assert first == {"event": "ready"}
    assert rest == [{"event": "ended"}, {"id": 7}]


async def _one_turn_of_sends() -> bytes:
    channel, theirs = await _pair()
    for call_id in range(3):
        channel.send({"id": call_id})
    await asyncio.sleep(0)  # the turn of the loop that writes them
    theirs.settimeout(5)
    expected = b"".join(_frame({"id": call_id}) for call_id in range(3))
    data = b""
    while len(data) < len(expected):
        data += theirs.recv(65536)
    channel.close()
    theirs.close()
    return data


def test_sends_of_one_turn_go_out_together() -> None:
    assert asyncio.run(_one_turn_of_sends()) == b"".join(_frame({"id": n}) for n in range(3))


async def _closed_by(data: bytes) -> str:
    channel, theirs = await _pair()
    channel.deliver_to(lambda message: None)
    theirs.sendall(data)
    with pytest.raises(ChannelClosed) as closed:
        async with asyncio.timeout(5):
            await channel.wait_closed()
    theirs.close()
    return str(closed.value)


def test_a_frame_over_the_limit_closes_the_channel() -> None:
    assert "over the limit" in asyncio.run(_closed_by(struct.pack("!I", MAX_FRAME + 1)))


def test_a_frame_that_is_not_a_map_closes_the_channel() -> None:
    assert "not a map" in asyncio.run(_closed_by(_frame([1, 2])))


def test_a_frame_that_is_not_msgpack_closes_the_channel() -> None:
    assert asyncio.run(_closed_by(struct.pack("!I", 1) + b"\xc1"))


async def _first_frame_of_a_closed_channel() -> None:
    channel, theirs = await _pair()
    theirs.close()
    async with asyncio.timeout(5):
        await channel.first_frame()


def test_waiting_for_a_first_frame_that_never_comes_raises() -> None:
    with pytest.raises(ChannelClosed):
        asyncio.run(_first_frame_of_a_closed_channel())
