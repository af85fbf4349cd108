"""When a failed try of an asynchronous event is made again."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Lambda waits about a minute after a function's first error and two after its second; after a
    throttle or an error of its own it backs off from a second, doubling up to five minutes, until the event
    is too old. `retry_delay_s` is that minute: every delay scales with it, so a test can run the same
    schedule a hundred times faster."""

    retry_delay_s: float = 60.0

    def after_function_error(self, attempts: int) -> float:
        """The delay before the next attempt, after `attempts` runs that all failed."""
        return self.retry_delay_s * attempts

    def backoff(self, failures: int) -> float:
        """The delay after `failures` throttles, system errors or failed deliveries in a row."""
        first = self.retry_delay_s / 60
        return float(min(first * 2 ** max(failures - 1, 0), self.retry_delay_s * 5))
