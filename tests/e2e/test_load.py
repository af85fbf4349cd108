"""Bounded load on loopback: a burst of cold starts all succeeds (how fast is bench/burst.py's business)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bench.burst import SLEEPER, burst
from tests.server_process import FireboxServer


def test_200_invocations_at_once_all_cold_all_succeed(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server("--keep-alive", "60")
    server.create_function("sleeper", SLEEPER)
    seconds, failed = asyncio.run(burst(server, 200))
    assert failed == 0 and len(seconds) == 200
    assert server.sandbox_processes() == 200  # one environment each, and none more
