"""Waiting for a server to get somewhere, and calling it from several threads at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def poll_until(fetch: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 60.0) -> T:
    """`fetch()` again and again until `done` says so of what it returned, or the time is up; returns the last."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def concurrently(count: int, call: Callable[[], T]) -> list[T]:
    """`call()` from `count` threads started together; what each returned, in the order they finished."""
    results: list[T] = []
    threads = [threading.Thread(target=lambda: results.append(call())) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
