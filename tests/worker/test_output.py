"""OutputReader: lines out of a non-blocking pipe, whatever the chunking."""

from __future__ import annotations

import asyncio
import os

from firebox.worker.output import MAX_LINE_BYTES, OutputReader


async def _read_all(writes: list[bytes]) -> list[bytes]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    lines: list[bytes] = []
    reader = OutputReader(read_fd, lines.append, asyncio.get_running_loop())
    for chunk in writes:
        os.write(write_fd, chunk)
        reader.drain()
    os.close(write_fd)
    async with asyncio.timeout(5):
        await reader.wait_closed()
    os.close(read_fd)
    return lines


def test_lines_split_across_writes_are_joined() -> None:
    assert asyncio.run(_read_all([b"one\ntw", b"o\nthr", b"ee"])) == [b"one", b"two", b"three"]


def test_carriage_return_line_endings_are_dropped() -> None:
    assert asyncio.run(_read_all([b"windows\r\nunix\n"])) == [b"windows", b"unix"]


def test_a_line_longer_than_the_cap_is_cut() -> None:
    line = b"z" * (MAX_LINE_BYTES + 10) + b"\n"
    pieces = [line[i : i + 32768] for i in range(0, len(line), 32768)]  # each fits in the pipe
    lines = asyncio.run(_read_all(pieces))
    assert [len(line) for line in lines] == [MAX_LINE_BYTES, 10]


def test_drain_delivers_what_is_in_the_pipe_now() -> None:
    async def scenario() -> list[bytes]:
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        lines: list[bytes] = []
        reader = OutputReader(read_fd, lines.append, asyncio.get_running_loop())
        os.write(write_fd, b"before the response\n")
        reader.drain()  # no event-loop turn in between: the line must already be delivered
        seen = list(lines)
        reader.close()
        os.close(write_fd)
        os.close(read_fd)
        return seen

    assert asyncio.run(scenario()) == [b"before the response"]
