"""The arithmetic of concurrency slots and scaling buckets, on a clock the test moves."""

from __future__ import annotations

import pytest

from firebox.assignment import Concurrency, ScalingLimit
from firebox.assignment.concurrency import ScalingRate
from firebox.errors import Throttled


def test_a_reservation_is_a_ceiling_for_its_function_and_a_floor_nobody_else_uses() -> None:
    concurrency = Concurrency(account_limit=103)
    concurrency.reserve("reserved", 3)
    assert concurrency.unreserved == 100
    with concurrency.slot("reserved"), concurrency.slot("reserved"), concurrency.slot("reserved"):
        with pytest.raises(Throttled) as throttled, concurrency.slot("reserved"):
            pass
        assert throttled.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    slots = [concurrency.slot(f"other-{i}") for i in range(100)]
    for slot in slots:
        slot.__enter__()
    with pytest.raises(Throttled) as throttled, concurrency.slot("other-extra"):
        pass
    assert throttled.value.reason == "ConcurrentInvocationLimitExceeded"
    with concurrency.slot("reserved"):  # the reservation is still there for its function
        pass
    for slot in slots:
        slot.__exit__(None, None, None)


def test_a_slot_is_given_back_to_the_pool_it_came_from_even_if_the_reservation_changed() -> None:
    concurrency = Concurrency(account_limit=100)
    with concurrency.slot("f"):
        concurrency.reserve("f", 0)  # reserving while an unreserved invocation runs
    concurrency.reserve("f", None)
    slots = [concurrency.slot(f"g{i}") for i in range(100)]
    for slot in slots:
        slot.__enter__()  # all 100 unreserved slots are free again: none leaked
    for slot in slots:
        slot.__exit__(None, None, None)


def test_a_reservation_may_leave_no_less_than_100_unreserved() -> None:
    concurrency = Concurrency(account_limit=1000)
    concurrency.reserve("a", 800)
    assert not concurrency.leaves_too_little("b", 100)
    assert concurrency.leaves_too_little("b", 101)
    assert not concurrency.leaves_too_little("a", 900)  # its own old reservation does not count twice


def test_scaling_allows_a_burst_then_refills_continuously() -> None:
    now = [0.0]
    rate = ScalingRate(ScalingLimit(environments=2, window_s=10.0), clock=lambda: now[0])
    assert rate.take("f") == 0.0
    assert rate.take("f") == 0.0
    assert rate.take("f") == pytest.approx(5.0)  # one start per 5 s after the burst
    assert rate.take("g") == 0.0  # per function
    now[0] = 5.0
    assert rate.take("f") == 0.0
    assert rate.take("f") == pytest.approx(5.0)
    now[0] = 1000.0
    assert [rate.take("f") for _ in range(3)] == [0.0, 0.0, pytest.approx(5.0)]  # never more than the burst
