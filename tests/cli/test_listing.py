"""`firebox list`: a table of every function, across pages."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.cli import firebox
from tests.conftest import ROLE
from tests.server_process import FireboxServer
from tests.zips import make_zip


def test_lists_the_function_with_its_configuration(
    server: FireboxServer, create_function: Callable[..., dict[str, Any]], function_name: str
) -> None:
    create_function(MemorySize=320, Timeout=7)

    result = firebox(server, "list")

    assert result.returncode == 0, result.stderr
    header = result.stdout.splitlines()[0].split()
    assert header[:3] == ["NAME", "RUNTIME", "HANDLER"]
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == [function_name])
    assert row.split()[1:6] == ["python3.11", "app.handler", "320", "MB", "7"]


def test_says_when_there_are_none_and_follows_every_page(start_server: Callable[..., FireboxServer]) -> None:
    own = start_server()  # a server of its own, so the count is exact
    empty = firebox(own, "list")
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "no functions\n")

    client = own.client()
    code = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
    names = [f"paged-{i:03d}" for i in range(53)]  # more than one page of ListFunctions (50)
    for name in names:
        client.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler", Code={"ZipFile": code}
        )

    result = firebox(own, "list")

    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()[1:]] == names
