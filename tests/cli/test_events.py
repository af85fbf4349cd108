"""`firebox events`: what became of a function's asynchronous events, as a table or as JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tests.cli import firebox
from tests.polling import poll_until
from tests.server_process import FireboxServer


def test_shows_each_event_with_its_fate(
    server: FireboxServer,
    lambda_client: Any,
    create_function: Callable[..., dict[str, Any]],
    function_name: str,
) -> None:
    create_function()
    empty = firebox(server, "events", function_name)
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", f"no asynchronous events for {function_name}\n")
    reply = lambda_client.invoke(FunctionName=function_name, InvocationType="Event", Payload=b"{}")
    request_id = reply["ResponseMetadata"]["RequestId"]

    as_json = poll_until(
        lambda: firebox(server, "events", function_name, "--json"),
        lambda result: '"succeeded"' in result.stdout,
    )
    assert as_json.returncode == 0, as_json.stderr
    (event,) = json.loads(as_json.stdout)
    assert (event["request_id"], event["fate"], event["attempts"]) == (request_id, "succeeded", 1)
    table = firebox(server, "events", function_name)
    assert table.returncode == 0, table.stderr
    assert table.stdout.splitlines()[0].split()[:4] == ["REQUEST", "ID", "RECEIVED", "FATE"]
    row = next(line.split() for line in table.stdout.splitlines() if line.split()[:1] == [request_id])
    assert row[3:6] == ["succeeded", "1", "1"]


def test_an_unknown_function_is_an_error(server: FireboxServer) -> None:
    result = firebox(server, "events", "no-such-function-here")
    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: Function not found: ")
