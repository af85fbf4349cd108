"""`firebox invoke`: payloads, qualifiers, the log tail, and errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import firebox
from tests.server_process import FireboxServer

APP = """
def handler(event, context):
    print("handling", sorted(event))
    if "fail" in event:
        raise ValueError(event["fail"])
    return {"event": event, "version": context.function_version}
"""


@pytest.fixture
def echo(create_function: Callable[..., dict[str, Any]], function_name: str) -> str:
    create_function({"app.py": APP})
    return function_name


def test_prints_the_response_as_json_and_the_log_tail_on_stderr(server: FireboxServer, echo: str) -> None:
    result = firebox(server, "invoke", echo, "--payload", '{"n": 1, "text": "é"}', "--log")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"event": {"n": 1, "text": "é"}, "version": "$LATEST"}
    assert result.stdout.startswith("{\n  ")  # pretty
    assert "START RequestId: " in result.stderr
    assert "handling ['n', 'text']" in result.stderr
    assert "REPORT RequestId: " in result.stderr


def test_reads_the_payload_from_a_file(server: FireboxServer, echo: str, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"from": "file"}')

    result = firebox(server, "invoke", echo, "--payload", f"@{event}")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["event"] == {"from": "file"}
    assert result.stderr == ""  # no --log, no tail


def test_invokes_the_qualified_version(server: FireboxServer, lambda_client: Any, echo: str) -> None:
    version = lambda_client.publish_version(FunctionName=echo)["Version"]

    result = firebox(server, "invoke", echo, "--qualifier", version)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"event": {}, "version": version}


def test_a_function_error_prints_the_error_and_exits_1(server: FireboxServer, echo: str) -> None:
    result = firebox(server, "invoke", echo, "--payload", '{"fail": "on purpose"}')

    assert result.returncode == 1
    error = json.loads(result.stdout)
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "on purpose")
    assert result.stderr == f"error: {echo} failed (Unhandled)\n"


def test_a_payload_that_is_not_json_is_refused_before_sending(server: FireboxServer) -> None:
    # The function does not exist: a request would have answered ResourceNotFoundException instead.
    result = firebox(server, "invoke", "no-such-function", "--payload", "{not json")

    assert result.returncode == 1
    assert result.stderr.startswith("error: --payload is not valid JSON: ")
    assert "Traceback" not in result.stderr


def test_an_unknown_function_is_a_one_line_error(server: FireboxServer) -> None:
    result = firebox(server, "invoke", "no-such-function")

    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: Function not found: arn:aws:lambda:")
    assert result.stderr.count("\n") == 1
