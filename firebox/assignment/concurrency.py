"""Concurrency and scaling limits as Lambda counts them.

Concurrency is invocations in flight (a cold start counts from the moment it is asked for). A function with
reserved concurrency may have that many and no more, and nobody else may use them; every other function
shares what the account limit leaves unreserved. Over a limit, an invocation is throttled at once.

Scaling is how fast a function may add environments: `ScalingLimit.environments` per `window_s` (Lambda:
1,000 per 10 s per function), refilled continuously. An invocation that needs a new environment when the
function has none left to start waits for a free environment or the next start, briefly, and is throttled
if neither comes in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from firebox.errors import Throttled

MIN_UNRESERVED = 100  # AWS keeps this much of the account's concurrency for functions that reserve none


@dataclass(frozen=True, slots=True)
class ScalingLimit:
    environments: int = 1000  # new environments one function may start per window
    window_s: float = 10.0


class Concurrency:
    def __init__(self, account_limit: int) -> None:
        self.account_limit = account_limit
        self._reserved: dict[str, int] = {}
        self._in_flight: dict[str, int] = {}
        self._unreserved_in_flight = 0

    @property
    def unreserved(self) -> int:
        """What the account limit leaves to functions that reserve nothing."""
        return self.account_limit - sum(self._reserved.values())

    def reserved(self, function: str) -> int | None:
        return self._reserved.get(function)

    def reserve(self, function: str, reserved: int | None) -> None:
        """Set `function`'s reservation (None: none). The caller checks MIN_UNRESERVED first."""
        if reserved is None:
            self._reserved.pop(function, None)
        else:
            self._reserved[function] = reserved

    def leaves_too_little(self, function: str, reserved: int) -> bool:
        """Whether reserving `reserved` for `function` would leave less than MIN_UNRESERVED unreserved."""
        others = sum(n for name, n in self._reserved.items() if name != function)
        return self.account_limit - others - reserved < MIN_UNRESERVED

    @contextmanager
    def slot(self, function: str) -> Iterator[None]:
        """Hold one of `function`'s concurrent executions for the duration; Throttled when none is free."""
        reserved = self._reserved.get(function)
        in_flight = self._in_flight.get(function, 0)
        if reserved is not None:
            if in_flight >= reserved:
                raise Throttled("ReservedFunctionConcurrentInvocationLimitExceeded")
        elif self._unreserved_in_flight >= self.unreserved:
            raise Throttled("ConcurrentInvocationLimitExceeded")
        shared = reserved is None  # remembered: the reservation may change while this invocation runs
        self._in_flight[function] = in_flight + 1
        self._unreserved_in_flight += shared
        try:
            yield
        finally:
            self._unreserved_in_flight -= shared
            left = self._in_flight[function] - 1
            if left:
                self._in_flight[function] = left
            else:
                del self._in_flight[function]


class ScalingRate:
    """A token bucket of environment starts per function."""

    def __init__(self, limit: ScalingLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._clock = clock
        self._per_second = limit.environments / limit.window_s
        self._buckets: dict[str, tuple[float, float]] = {}  # function -> (tokens, when counted)

    def take(self, function: str) -> float:
        """Take one start for `function`: 0.0 when taken, else the seconds until one will be there."""
        now = self._clock()
        tokens, counted = self._buckets.get(function, (float(self._limit.environments), now))
        tokens = min(float(self._limit.environments), tokens + (now - counted) * self._per_second)
        if tokens >= 1.0:
            self._buckets[function] = (tokens - 1.0, now)
            return 0.0
        self._buckets[function] = (tokens, now)
        return (1.0 - tokens) / self._per_second

    def forget(self, function: str) -> None:
        self._buckets.pop(function, None)


def rate_throttle(reserved: bool, wait_s: float) -> Throttled:
    reason = "ReservedFunctionInvocationRateLimitExceeded" if reserved else "FunctionInvocationRateLimitExceeded"
    return Throttled(reason, retry_after_s=max(1, math.ceil(wait_s)))
