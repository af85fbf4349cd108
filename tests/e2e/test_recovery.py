"""A server killed with SIGKILL and started again on its data dir recovers from the journal: the idle
environments its worker processes kept are adopted (the next invocations are warm, in the same processes),
everything else is written off and ended, and nothing is leaked or handed to two invocations."""

from __future__ import annotations

import asyncio
import base64
import json
import signal
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from firebox.journal import EnvironmentJournal
from firebox.store import SqliteStore
from tests.polling import concurrently, poll_until
from tests.server_process import FireboxServer, sandbox_pids_below

SLEEPER = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return "done"
"""
IDLE = {"idle", "frozen"}


def _journal(data_dir: Path) -> dict[str, str]:
    """The journal as the server wrote it: each environment's id and state."""

    async def read() -> dict[str, str]:
        store = SqliteStore(data_dir / "state.db")
        try:
            return {record.env_id: record.state.value for record in await EnvironmentJournal(store).load()}
        finally:
            await store.close()

    return asyncio.run(read())


def _invoke(client: Any, sleep: float = 0.0) -> str:
    """ "warm" or "cold" (from the REPORT line), or the error code."""
    try:
        response = client.invoke(FunctionName="work", Payload=json.dumps({"sleep": sleep}), LogType="Tail")
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    assert "FunctionError" not in response, response["Payload"].read()
    report = [line for line in base64.b64decode(response["LogResult"]).decode().splitlines() if "REPORT" in line]
    return "cold" if "Init Duration" in report[0] else "warm"


def _alive(pid: int) -> bool:
    """Running (a zombie is not: a killed server's workers are reaped by whoever inherits them)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _kill(server: FireboxServer) -> None:
    assert server.process is not None
    server.process.send_signal(signal.SIGKILL)
    server.process.wait()


def _restart(start_server: Callable[..., FireboxServer], killed: FireboxServer, *args: str) -> FireboxServer:
    return start_server(*args, data_dir=killed.data_dir, port=killed.port)


def _serving(start_server: Callable[..., FireboxServer], *args: str) -> tuple[FireboxServer, list[int]]:
    """A server with two worker processes and four idle environments of "work", all in the journal."""
    server = start_server("--workers", "2", "--keep-alive", "60", *args)
    server.create_function("work", SLEEPER)
    assert Counter(concurrently(4, lambda: _invoke(server.client(), 0.5))) == Counter({"cold": 4})
    poll_until(lambda: _journal(server.data_dir), lambda found: len(found) == 4 and set(found.values()) <= IDLE, 10)
    return server, server.worker_pids()


def test_a_restarted_server_adopts_the_idle_environments_its_workers_kept(
    start_server: Callable[..., FireboxServer],
) -> None:
    server, workers = _serving(start_server)
    before = _journal(server.data_dir)
    sandboxes = set(sandbox_pids_below(workers))
    assert len(sandboxes) == 4
    _kill(server)

    successor = _restart(start_server, server, "--workers", "2", "--keep-alive", "60")
    assert successor.worker_pids() == []  # none started: the two it found were adopted
    assert set(_journal(successor.data_dir)) == set(before)
    client = successor.client()
    assert Counter(concurrently(4, lambda: _invoke(client, 0.5))) == Counter({"warm": 4})
    assert set(sandbox_pids_below(workers)) == sandboxes  # the same environments, each used once
    assert _invoke(client, 0) == "warm"

    successor.stop()
    assert (
        poll_until(
            lambda: sandbox_pids_below(workers) + [p for p in workers if _alive(p)],
            lambda left: not left,
            10,
        )
        == []
    )


def test_environments_busy_when_the_server_died_are_ended_and_none_leaks(
    start_server: Callable[..., FireboxServer],
) -> None:
    server, workers = _serving(start_server)
    client = server.client()
    cut_off: list[str] = []

    def invoke_until_cut_off() -> None:
        try:
            _invoke(client, 30.0)
        except Exception as exc:  # the server died under it: no answer comes
            cut_off.append(type(exc).__name__)

    busy = [threading.Thread(target=invoke_until_cut_off) for _ in range(2)]
    for caller in busy:
        caller.start()
    poll_until(lambda: _journal(server.data_dir), lambda found: Counter(found.values())["busy"] == 2, 10)
    _kill(server)
    for caller in busy:
        caller.join()
    assert len(cut_off) == 2

    successor = _restart(start_server, server, "--workers", "2", "--keep-alive", "60")
    # Their invocations cannot be answered any more: the two busy environments ended, the two idle live on.
    journal = poll_until(lambda: _journal(successor.data_dir), lambda found: len(found) == 2, 10)
    assert set(journal.values()) <= IDLE
    assert len(poll_until(lambda: sandbox_pids_below(workers), lambda pids: len(pids) == 2, 10)) == 2
    outcomes = concurrently(4, lambda: _invoke(successor.client(), 0.5))
    assert Counter(outcomes) == Counter({"warm": 2, "cold": 2})
    assert len(_journal(successor.data_dir)) == 4
    assert len(sandbox_pids_below(workers)) == 4


def test_workers_with_other_settings_are_replaced_and_their_environments_written_off(
    start_server: Callable[..., FireboxServer],
) -> None:
    server, workers = _serving(start_server)
    _kill(server)

    successor = _restart(start_server, server, "--workers", "2", "--keep-alive", "30")
    assert not [pid for pid in workers if _alive(pid)]
    assert sandbox_pids_below(workers) == []
    assert len(successor.worker_pids()) == 2
    assert poll_until(lambda: _journal(successor.data_dir), lambda found: not found, 10) == {}
    assert _invoke(successor.client()) == "cold"


def test_worker_processes_end_when_no_server_comes_back(start_server: Callable[..., FireboxServer]) -> None:
    server, workers = _serving(start_server, "--worker-reattach", "1")
    sandboxes = sandbox_pids_below(workers)
    _kill(server)
    gone = poll_until(lambda: [pid for pid in workers + sandboxes if _alive(pid)], lambda left: not left, 15)
    assert gone == []


def test_a_server_with_its_worker_in_process_writes_off_what_it_had(
    start_server: Callable[..., FireboxServer],
) -> None:
    server = start_server("--workers", "0", "--keep-alive", "60")
    server.create_function("work", SLEEPER)
    assert Counter(concurrently(2, lambda: _invoke(server.client(), 0.5))) == Counter({"cold": 2})
    poll_until(lambda: _journal(server.data_dir), lambda found: len(found) == 2, 10)
    _kill(server)  # its environments die with it

    successor = _restart(start_server, server, "--workers", "0", "--keep-alive", "60")
    assert _journal(successor.data_dir) == {}
    assert _invoke(successor.client()) == "cold"
    assert len(poll_until(lambda: _journal(successor.data_dir), lambda found: len(found) == 1, 10)) == 1
