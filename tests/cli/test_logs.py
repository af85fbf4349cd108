"""`firebox logs`: a function's log events, once or followed."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from collections.abc import Callable
from typing import IO, Any

import pytest

from tests.cli import cli_environment, firebox
from tests.server_process import FIREBOX, FireboxServer

APP = """
def handler(event, context):
    print("the handler says", event["word"])
    return None
"""


@pytest.fixture
def talker(create_function: Callable[..., dict[str, Any]], function_name: str) -> str:
    create_function({"app.py": APP})
    return function_name


def _read_until(stream: IO[bytes], text: bytes, deadline_s: float, seen: bytes = b"") -> bytes:
    """seen and what the stream gives after it, up to `text` at least; fails if that does not come in time."""
    limit = time.monotonic() + deadline_s
    while text not in seen:
        remaining = limit - time.monotonic()
        assert remaining > 0, f"{text!r} not printed within {deadline_s} s; printed: {seen!r}"
        ready, _, _ = select.select([stream], [], [], remaining)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            assert chunk, f"the stream ended before {text!r}; printed: {seen!r}"
            seen += chunk
    return seen


def test_shows_the_platform_lines_and_the_handlers_output(
    server: FireboxServer, lambda_client: Any, talker: str
) -> None:
    lambda_client.invoke(FunctionName=talker, Payload=b'{"word": "pumpkin"}')

    result = firebox(server, "logs", talker)

    assert result.returncode == 0, result.stderr
    messages = [line.split(" ", 3)[3] for line in result.stdout.splitlines()]
    assert messages[0].startswith("START RequestId: ")
    assert "the handler says pumpkin" in messages
    assert messages[-1].startswith("REPORT RequestId: ")


def test_since_must_be_a_duration(server: FireboxServer, talker: str) -> None:
    result = firebox(server, "logs", talker, "--since", "ten minutes")

    assert result.returncode == 2
    assert "is not a duration such as 30s, 10m, 2h or 1d" in result.stderr


def test_an_unknown_function_exits_1(server: FireboxServer) -> None:
    result = firebox(server, "logs", "no-such-function", "--since", "1d")

    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: Function not found: ")
    assert "Traceback" not in result.stderr


def test_a_function_never_invoked_has_no_logs_yet(server: FireboxServer, talker: str) -> None:
    result = firebox(server, "logs", talker)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", f"no logs for {talker} yet\n")


def test_follow_waits_for_the_group_prints_new_events_and_ends_on_ctrl_c(
    server: FireboxServer, lambda_client: Any, talker: str
) -> None:
    env = cli_environment(server)
    command = [str(FIREBOX), "logs", talker, "--follow"]
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        try:
            # The function was never invoked, so there is no log group yet: it says it waits.
            waiting = _read_until(process.stderr, b"\n", 15)
            expected = f"waiting for log group /aws/lambda/{talker} to appear (Ctrl-C to stop)\n"
            assert waiting == expected.encode()

            lambda_client.invoke(FunctionName=talker, Payload=b'{"word": "first"}')
            printed = _read_until(process.stdout, b"the handler says first", 15)
            lambda_client.invoke(FunctionName=talker, Payload=b'{"word": "second"}')
            printed = _read_until(process.stdout, b"the handler says second", 15, printed)

            process.send_signal(signal.SIGINT)
            assert process.wait(10) == 0
            assert b"Traceback" not in process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert printed.count(b"the handler says first") == 1  # each event once, though read again on every poll
