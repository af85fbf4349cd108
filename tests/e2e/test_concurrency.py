"""Concurrency as Lambda counts it: reserved concurrency, the account limit, the scaling rate, and 429s."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.polling import concurrently
from tests.server_process import FireboxServer

SLEEPER = "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return 'done'\n"


def _outcome(client: Any, name: str, sleep: float) -> str:
    """'done', or the throttle's Reason."""
    try:
        response = client.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
    except ClientError as exc:
        error = exc.response["Error"]
        assert error["Code"] == "TooManyRequestsException", exc.response
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert int(exc.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
        assert error["Message"] == "Rate Exceeded."
        return str(exc.response["Reason"])
    assert response.get("FunctionError") is None, response
    return str(json.loads(response["Payload"].read()))


def _at_once(client: Any, name: str, count: int, sleep: float) -> Counter[str]:
    return Counter(concurrently(count, lambda: _outcome(client, name, sleep)))


def test_reserved_concurrency_is_stored_reported_and_removed(
    lambda_client: Any, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function()
    before = lambda_client.get_account_settings()["AccountLimit"]
    assert (
        lambda_client.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions") is None
    )
    put = lambda_client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=10)
    assert put["ReservedConcurrentExecutions"] == 10
    assert lambda_client.get_function_concurrency(FunctionName=function_name)["ReservedConcurrentExecutions"] == 10
    assert lambda_client.get_function(FunctionName=function_name)["Concurrency"] == {"ReservedConcurrentExecutions": 10}
    during = lambda_client.get_account_settings()["AccountLimit"]
    assert during["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 10
    assert during["ConcurrentExecutions"] == before["ConcurrentExecutions"] == 1000
    lambda_client.delete_function_concurrency(FunctionName=function_name)
    assert (
        lambda_client.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions") is None
    )
    assert "Concurrency" not in lambda_client.get_function(FunctionName=function_name)
    after = lambda_client.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"]


def test_reservations_are_refused_where_aws_refuses_them(
    lambda_client: Any, raw_lambda_client: Any, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function()
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException, match=r"minimum value of \[100\]"):
        lambda_client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=901)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.put_function_concurrency(FunctionName=f"{function_name}-none", ReservedConcurrentExecutions=1)
    with pytest.raises(ClientError, match="ValidationException"):
        raw_lambda_client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=-1)
    assert (
        lambda_client.get_function_concurrency(FunctionName=function_name).get("ReservedConcurrentExecutions") is None
    )


def test_zero_reserved_throttles_every_invocation(
    lambda_client: Any, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function({"app.py": SLEEPER})
    lambda_client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=0)
    assert _outcome(lambda_client, function_name, 0) == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lambda_client.delete_function_concurrency(FunctionName=function_name)
    assert _outcome(lambda_client, function_name, 0) == "done"


def test_over_reserved_concurrency_only_the_excess_is_throttled(
    lambda_client: Any, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function({"app.py": SLEEPER})
    lambda_client.put_function_concurrency(FunctionName=function_name, ReservedConcurrentExecutions=2)
    outcomes = _at_once(lambda_client, function_name, 6, sleep=1.5)
    assert outcomes == Counter({"done": 2, "ReservedFunctionConcurrentInvocationLimitExceeded": 4})


def test_the_account_limit_is_shared_by_functions_without_reservations(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--account-concurrency", "3")
    client = server.client()
    for name in ("shared-a", "shared-b"):
        server.create_function(name, SLEEPER)
    outcomes: list[str] = []
    calls = [("shared-a", 3), ("shared-b", 2)]
    threads = [
        threading.Thread(target=lambda n=name: outcomes.append(_outcome(client, n, 1.5)))
        for name, count in calls
        for _ in range(count)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(outcomes) == Counter({"done": 3, "ConcurrentInvocationLimitExceeded": 2})
    assert client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 3


def test_over_the_scaling_rate_an_invocation_waits_briefly_for_a_free_environment(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--scaling-rate", "2/60")
    client = server.client()
    server.create_function("scaling", SLEEPER)
    # Two environments may start (started here, so the timing below does not depend on cold starts)...
    assert _at_once(client, "scaling", 2, sleep=0.0) == Counter({"done": 2})
    # ... and a third call at once waits for one of them (each busy for 0.3 s).
    assert _at_once(client, "scaling", 3, sleep=0.3) == Counter({"done": 3})
    # Busy for longer than the wait: the third is throttled, never left hanging.
    outcomes = _at_once(client, "scaling", 3, sleep=2.0)
    assert outcomes == Counter({"done": 2, "FunctionInvocationRateLimitExceeded": 1})
    assert server.sandbox_processes() <= 2


def test_bad_limits_are_refused_at_start(start_server: Callable[..., FireboxServer]) -> None:
    with pytest.raises(RuntimeError, match="--scaling-rate"):
        start_server("--scaling-rate", "fast")


def test_sustained_load_over_the_reservation_gets_only_429s_and_leaks_nothing(
    start_server: Callable[..., FireboxServer],
) -> None:
    """20 callers for 4 s against a function reserving 4: every answer is a success or a 429, never more
    than 4 run at once, and afterwards no environment beyond those 4 is left."""
    server = start_server("--keep-alive", "60")
    client = server.client()
    server.create_function("loaded", SLEEPER)
    client.put_function_concurrency(FunctionName="loaded", ReservedConcurrentExecutions=4)
    outcomes: Counter[str] = Counter()
    running, most = 0, 0
    lock = threading.Lock()
    stop = time.monotonic() + 4.0

    def caller() -> None:
        nonlocal running, most
        while time.monotonic() < stop:
            with lock:
                running += 1
            outcome = _outcome(client, "loaded", 0.05)
            with lock:
                running -= 1
                outcomes[outcome] += 1
                if outcome == "done":
                    most = max(most, running + 1)

    threads = [threading.Thread(target=caller) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(outcomes) == {"done", "ReservedFunctionConcurrentInvocationLimitExceeded"}, outcomes
    assert outcomes["done"] > 20
    assert server.sandbox_processes() <= 4


def test_reservations_survive_a_restart(start_server: Callable[..., FireboxServer]) -> None:
    server = start_server()
    server.create_function("held", SLEEPER)
    server.client().put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
    data_dir, port = server.data_dir, server.port
    server.stop()
    restarted = start_server(data_dir=data_dir, port=port)
    client = restarted.client()
    assert client.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert _outcome(client, "held", 0) == "ReservedFunctionConcurrentInvocationLimitExceeded"
