"""`firebox serve --workers N`: environments in worker processes of their own, spread by placement; a worker
that dies takes only its own invocations with it."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.polling import concurrently, poll_until
from tests.server_process import SANDBOX_FIRST_UID, FireboxServer

SLEEPER = """
import os, time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return os.getuid()
"""
_UIDS_PER_WORKER = 50_000  # the namespace backend's 100,000 sandbox uids, split between 2 workers


def _worker_of_sandbox(pid: int) -> int:
    """Which worker (0 or 1) a sandbox process belongs to, by its host uid's block."""
    return (Path(f"/proc/{pid}").stat().st_uid - SANDBOX_FIRST_UID) // _UIDS_PER_WORKER


def _outcome(client: Any, sleep: float) -> str:
    try:
        response = client.invoke(FunctionName="work", Payload=json.dumps({"sleep": sleep}))
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    assert "FunctionError" not in response, response["Payload"].read()
    return "done"


@pytest.fixture
def two_workers(start_server: Callable[..., FireboxServer]) -> FireboxServer:
    server = start_server("--workers", "2", "--keep-alive", "60")
    assert len(server.worker_pids()) == 2
    server.create_function("work", SLEEPER)
    return server


def test_environments_are_spread_over_the_workers(two_workers: FireboxServer) -> None:
    client = two_workers.client()
    assert Counter(concurrently(6, lambda: _outcome(client, 0.5))) == Counter({"done": 6})
    sandboxes = two_workers.sandbox_pids()
    assert len(sandboxes) == 6
    assert Counter(_worker_of_sandbox(pid) for pid in sandboxes) == Counter({0: 3, 1: 3})
    logs = two_workers.client("logs").filter_log_events(logGroupName="/aws/lambda/work")["events"]
    assert sum(1 for event in logs if event["message"].startswith("REPORT")) == 6  # both workers' lines


def _throttle_or_done(client: Any, name: str, sleep: float) -> str:
    try:
        client.invoke(FunctionName=name, Payload=json.dumps({"sleep": sleep}))
    except ClientError as exc:
        return f"{exc.response['Error']['Code']}: {exc.response.get('Reason')}"
    return "done"


def test_environments_take_memory_slots_and_idle_ones_make_room(start_server: Callable[..., FireboxServer]) -> None:
    # 1,024 MB for environments over two workers: four of 256 MB, two on each.
    server = start_server("--workers", "2", "--memory", "1024", "--keep-alive", "60")
    for name in ("work", "other"):
        server.create_function(name, SLEEPER, MemorySize=256)
    client = server.client()
    outcomes = concurrently(5, lambda: _throttle_or_done(client, "work", 1.5))
    # While four run, a fifth finds no room and nothing idle to end.
    assert Counter(outcomes) == Counter({"done": 4, "TooManyRequestsException: ConcurrentInvocationLimitExceeded": 1})
    assert Counter(_worker_of_sandbox(pid) for pid in server.sandbox_pids()) == Counter({0: 2, 1: 2})
    # Once they are idle, another function's environment takes the place of the one idle the longest.
    assert _throttle_or_done(client, "other", 0) == "done"
    assert poll_until(server.sandbox_pids, lambda pids: len(pids) == 4, 10)
    # Four at once again: three idle environments of "work", and the idle one of "other" ends for the fourth.
    assert Counter(concurrently(4, lambda: _throttle_or_done(client, "work", 0.5))) == Counter({"done": 4})
    assert len(server.sandbox_pids()) == 4


def test_a_worker_that_dies_fails_only_its_own_invocations_and_is_replaced(two_workers: FireboxServer) -> None:
    client = two_workers.client()
    results: list[str] = []
    callers = [threading.Thread(target=lambda: results.append(_outcome(client, 2.0))) for _ in range(6)]
    for caller in callers:
        caller.start()
    poll_until(two_workers.sandbox_pids, lambda pids: len(pids) == 6, 10)  # all six are running
    killed = two_workers.worker_pids()[0]
    doomed = [pid for pid in two_workers.sandbox_pids() if _worker_of_sandbox(pid) == 0]
    os.kill(killed, signal.SIGKILL)
    for caller in callers:
        caller.join()
    assert Counter(results) == Counter({"done": 3, "ServiceException": 3})
    # The dead worker's sandboxes died with it; a new worker process takes its place, and both serve.
    assert poll_until(lambda: [pid for pid in doomed if Path(f"/proc/{pid}").exists()], lambda left: not left, 10) == []
    replaced = poll_until(two_workers.worker_pids, lambda pids: len(pids) == 2 and killed not in pids, 15)
    assert len(replaced) == 2 and killed not in replaced
    assert Counter(concurrently(6, lambda: _outcome(client, 0.5))) == Counter({"done": 6})


def test_snapstart_restores_go_to_the_worker_holding_the_snapshot(two_workers: FireboxServer) -> None:
    client = two_workers.client()
    assert two_workers.publish_snapstart_function("snap", SLEEPER) == ("1", "Active")

    def restore() -> int:
        return int(
            json.loads(client.invoke(FunctionName="snap", Qualifier="1", Payload=b'{"sleep": 0.3}')["Payload"].read())
        )

    assert len(concurrently(4, restore)) == 4  # none refused as "not ready" by a worker without the snapshot


def test_stopping_the_server_ends_its_worker_processes_and_every_sandbox(two_workers: FireboxServer) -> None:
    client = two_workers.client()
    assert Counter(concurrently(4, lambda: _outcome(client, 0.3))) == Counter({"done": 4})
    before = set(two_workers.worker_pids()) | set(two_workers.sandbox_pids())
    assert len(before) == 6
    two_workers.stop()
    left = poll_until(lambda: [pid for pid in before if Path(f"/proc/{pid}").exists()], lambda pids: not pids, 10)
    assert left == []
